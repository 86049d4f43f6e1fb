"""The gateway's metrics, on an explicit registry."""

from hypercare_runtime.metrics import LATENCY_BUCKETS, PipelineMetrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SERVICE = "gateway"


class GatewayMetrics(PipelineMetrics):
    """Pipeline metrics plus HTTP requests by endpoint and status, their duration and those in flight."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, service=SERVICE)
        self.requests = Counter(
            "hypercare_gateway_requests_total",
            "Webhook requests answered, by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "hypercare_gateway_request_duration_seconds",
            "Time to answer a webhook request (including the Kafka acknowledgement), by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.inflight = Gauge(
            "hypercare_gateway_requests_in_flight",
            "Webhook requests being handled now.",
            registry=registry,
        )
