"""Normalizer settings (``HYPERCARE_`` environment variables)."""

from hypercare_contracts import topics
from hypercare_runtime.settings import ServiceSettings


class NormalizerSettings(ServiceSettings):
    """What the normalizer reads, writes and tolerates."""

    http_port: int = 9101
    group_id: str = "hypercare-normalizer"
    raw_topics: tuple[str, ...] = topics.RAW_TOPICS
    normalized_topic: str = topics.ISSUES_NORMALIZED
    deadletter_topic: str = topics.DEADLETTER
    max_message_bytes: int = 256 * 1024
    max_depth: int = 32
    batch_max_records: int = 1000
