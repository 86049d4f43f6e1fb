"""Notifier settings (``HYPERCARE_`` environment variables)."""

from hypercare_contracts import topics
from hypercare_runtime.settings import ServiceSettings
from pydantic import Field


class NotifierSettings(ServiceSettings):
    """What the notifier reads and writes, and how its delivery worker behaves."""

    http_port: int = 9104
    group_id: str = "hypercare-notifier"
    triaged_topic: str = topics.ISSUES_TRIAGED
    sla_topic: str = topics.SLA_EVENTS
    lifecycle_topic: str = topics.ISSUES_LIFECYCLE
    """People's acknowledges and resolves (only messages marked ``hypercare-message: event`` are read)."""
    notifications_topic: str = topics.NOTIFICATIONS
    deadletter_topic: str = topics.DEADLETTER
    batch_max_records: int = Field(default=500, ge=1)

    redis_prefix: str = "hypercare:notifier"
    """Namespace of the notifier's Redis keys (sent markers, storm counters)."""
    sent_marker_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    """How long the Redis "already sent" fast path remembers a key; PostgreSQL stays the truth."""

    concurrency: int = Field(default=64, ge=1, le=1024)
    """Deliveries in flight at once in this instance."""
    claim_seconds: float = Field(default=30.0, gt=0)
    """Lease on a claimed delivery; renewed while it runs, so a killed instance's work resumes after it."""
    poll_seconds: float = Field(default=0.5, gt=0)
    """How often the worker looks for pending deliveries when not woken by the consumer."""
    digest_poll_seconds: float = Field(default=1.0, gt=0)
    """How often ended storm windows are turned into digests."""
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    """On shutdown, how long running deliveries may finish before they are cancelled and released."""
    clock_skew_seconds: float = Field(default=5.0, ge=0, le=3600)
    """How far apart triage's and the SLA service's clocks may be (``HYPERCARE_CLOCK_SKEW_SECONDS``): a
    decision and a person's lifecycle event closer than this are taken in the order that pages (see
    ``docs/notifier.md``, "Out of order")."""
    only_channels: str | None = None
    """Comma-separated channel names to use, all others off (``console`` for a quiet local run)."""
    instance_id: str | None = None
    """Name of this instance in ``claimed_by``; default host, pid and a random suffix."""
