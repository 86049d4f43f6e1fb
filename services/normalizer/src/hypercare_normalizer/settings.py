"""Normalizer settings (``HYPERCARE_`` environment variables)."""

from hypercare_contracts import topics
from hypercare_runtime.settings import StreamSettings


class NormalizerSettings(StreamSettings):
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

    @property
    def raw_topic_roles(self) -> dict[str, str]:
        """Configured topic name -> the contract's raw topic it plays (names differ only in tests)."""
        return {
            self.raw_tickets_topic: topics.RAW_TICKETS,
            self.raw_feedback_topic: topics.RAW_FEEDBACK,
            self.raw_social_topic: topics.RAW_SOCIAL,
            self.raw_alerts_topic: topics.RAW_ALERTS,
        }
