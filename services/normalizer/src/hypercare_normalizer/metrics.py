"""The normalizer's metrics."""

from hypercare_runtime.metrics import PipelineMetrics
from prometheus_client import CollectorRegistry, Counter

SERVICE = "normalizer"


class NormalizerMetrics(PipelineMetrics):
    """Pipeline metrics plus reports by source and format."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, service=SERVICE)
        self.reports = Counter(
            "hypercare_reports_total",
            "Normalized reports produced, by source, source format and component.",
            # component comes from the policy's component map (a small fixed set plus "unknown").
            ["source", "format", "component"],
            registry=registry,
        )
