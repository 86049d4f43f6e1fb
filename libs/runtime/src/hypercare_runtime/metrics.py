"""Metrics every pipeline stage exports, on an explicit registry per service.

Names follow Prometheus conventions: base units, ``_total`` counters, small fixed label sets (topic,
stage, reason, source, format); never an issue or user id as a label.
"""

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class PipelineMetrics:
    """Consumed/produced messages, stage latency, end-to-end latency, dead letters and consumer lag."""

    def __init__(self, registry: CollectorRegistry, *, service: str) -> None:
        self.service = service
        self.registry = registry
        self.consumed = Counter(
            "hypercare_messages_consumed_total",
            "Messages consumed, by topic.",
            ["service", "topic"],
            registry=registry,
        )
        self.produced = Counter(
            "hypercare_messages_produced_total",
            "Messages produced, by topic.",
            ["service", "topic"],
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "hypercare_stage_duration_seconds",
            "Time to process one batch, by stage.",
            ["service", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.end_to_end_seconds = Histogram(
            "hypercare_end_to_end_latency_seconds",
            "Time from a raw message entering Kafka to this stage's output, by stage.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.dead_letters = Counter(
            "hypercare_dead_letters_total",
            "Messages sent to the dead-letter topic, by reason.",
            ["service", "reason"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "hypercare_consumer_lag_messages",
            "Messages behind the end of the topic, summed over the partitions this instance owns.",
            ["service", "topic"],
            registry=registry,
        )

    def count_consumed(self, topics: Iterable[str]) -> None:
        """Count one consumed message per topic occurrence."""
        for topic in topics:
            self.consumed.labels(self.service, topic).inc()

    def count_produced(self, topic: str, n: int = 1) -> None:
        """Count produced messages on one topic."""
        if n:
            self.produced.labels(self.service, topic).inc(n)

    def observe_end_to_end(self, stage: str, ingested_at: Iterable[float], now: float | None = None) -> None:
        """Observe raw→stage latency for each output derived from a raw message ingested at those times."""
        at = time.time() if now is None else now
        histogram = self.end_to_end_seconds.labels(stage)
        for t in ingested_at:
            histogram.observe(max(0.0, at - t))
