"""The SLA service: issue lifecycle (HTTP API, Kafka commands, source actions), SLA clocks and escalation."""
