"""The notifier's metrics."""

from hypercare_runtime.metrics import LATENCY_BUCKETS, PipelineMetrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SERVICE = "notifier"


class NotifierMetrics(PipelineMetrics):
    """Pipeline metrics plus delivery outcomes, delivery time, digests, skips, lifecycle input, pending backlog."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, service=SERVICE)
        self.loop_failures = Counter(
            "hypercare_notifier_loop_failures_total",
            "Failed rounds of the notifier's background loops (claim, renew, digests), each tried again after"
            " a backoff: by loop and kind (surroundings: the database or Kafka failing; defect: the code).",
            ["loop", "kind"],
            registry=registry,
        )
        self.notifications = Counter(
            "hypercare_notifications_total",
            "Notification outcomes by channel: sent, retried, failed, digested.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "hypercare_notification_delivery_seconds",
            "Time from the first attempt to the end of one delivery (all retries), by channel.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.digests = Counter(
            "hypercare_notification_digests_total",
            "Digests planned at the end of a storm window, by route.",
            ["route"],
            registry=registry,
        )
        self.skipped = Counter(
            "hypercare_notifications_skipped_total",
            "Notifications not sent on purpose (acknowledged or resolved issue), by reason.",
            ["reason"],
            registry=registry,
        )
        self.lifecycle = Counter(
            "hypercare_notifier_lifecycle_messages_total",
            "Messages read from the lifecycle topic, by what came of them: applied, unchanged, stale (older"
            " than the issue's cycle), echo (of a triage decision), unknown_issue (no decision seen yet:"
            " remembered for it), command (not an event: ignored).",
            ["outcome"],
            registry=registry,
        )
        self.pending = Gauge(
            "hypercare_notifications_pending",
            "Deliveries recorded as pending in the delivery log (the work queue), all instances.",
            registry=registry,
        )
