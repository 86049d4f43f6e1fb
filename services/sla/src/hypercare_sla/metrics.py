"""The SLA service's metrics, on an explicit registry."""

from hypercare_runtime.metrics import PipelineMetrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SERVICE = "sla"

DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
ACK_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 86400.0)


class SlaMetrics(PipelineMetrics):
    """Pipeline metrics plus SLA events, emission delay, time to acknowledge, lifecycle commands and triage
    decisions."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, service=SERVICE)
        self.sla_events = Counter(
            "hypercare_sla_events_total",
            "SLA and escalation events published, by kind and clock (target is empty for escalations).",
            ["kind", "target"],
            registry=registry,
        )
        self.emit_delay = Histogram(
            "hypercare_sla_emit_delay_seconds",
            "Time from a milestone's due instant to its publication.",
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.time_to_acknowledge = Histogram(
            "hypercare_time_to_acknowledge_seconds",
            "Real time from an issue cycle opening to its first acknowledge, by severity.",
            ["severity"],
            buckets=ACK_BUCKETS,
            registry=registry,
        )
        self.commands = Counter(
            "hypercare_lifecycle_commands_total",
            "Lifecycle commands handled, by action, channel and outcome.",
            ["action", "via", "outcome"],
            registry=registry,
        )
        self.decisions = Counter(
            "hypercare_sla_triage_decisions_total",
            "Triage decisions consumed, by outcome: applied; superseded (the last applied decision again: it"
            " changed nothing); overtaken (below the last applied version, published after a later decision or"
            " replayed: only its source's action still applies).",
            ["outcome"],
            registry=registry,
        )
        self.pending = Gauge(
            "hypercare_sla_pending_milestones",
            "Milestones planned and not yet emitted (all instances).",
            registry=registry,
        )
