"""Normalizer settings (``HYPERCARE_`` environment variables)."""

from hypercare_contracts import topics
from hypercare_runtime.settings import ServiceSettings


class NormalizerSettings(ServiceSettings):
    """What the normalizer reads, writes and tolerates."""

    http_port: int = 9101
    group_id: str = "hypercare-normalizer"
    raw_tickets_topic: str = topics.RAW_TICKETS
    raw_feedback_topic: str = topics.RAW_FEEDBACK
    raw_social_topic: str = topics.RAW_SOCIAL
    raw_alerts_topic: str = topics.RAW_ALERTS
    normalized_topic: str = topics.ISSUES_NORMALIZED
    deadletter_topic: str = topics.DEADLETTER
    max_message_bytes: int = 256 * 1024
    max_depth: int = 32
    batch_max_records: int = 1000
    batch_timeout_ms: int = 1
    """How long a poll waits for records. FastStream sleeps as long again after an empty poll, so this
    bounds the extra delay an idle normalizer adds to a new message (5 ms: ~11 ms p50 at 1,000/s,
    1 ms: ~7 ms); a busy one never waits."""
    commit_interval_ms: int = 50
    """At most one offset commit per interval, always after the output of the committed batches was
    acknowledged; a crash replays at most the batches of one interval (at-least-once)."""
    kafka_linger_ms: int = 0
    """Producer linger. The normalizer sends a whole batch and then waits for its acknowledgements, so a
    linger would only delay that wait."""

    @property
    def raw_topic_roles(self) -> dict[str, str]:
        """Configured topic name -> the contract's raw topic it plays (names differ only in tests)."""
        return {
            self.raw_tickets_topic: topics.RAW_TICKETS,
            self.raw_feedback_topic: topics.RAW_FEEDBACK,
            self.raw_social_topic: topics.RAW_SOCIAL,
            self.raw_alerts_topic: topics.RAW_ALERTS,
        }
