"""The benchmark harness: raw Kafka ceiling, pipeline throughput, latency, memory and correctness."""
