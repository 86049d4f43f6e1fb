"""Triage settings (``HYPERCARE_`` environment variables)."""

from hypercare_contracts import topics
from hypercare_runtime.settings import StreamSettings
from pydantic import PositiveInt

from hypercare_triage.hints import PENDING_HINTS_MAX


class TriageSettings(StreamSettings):
    """What the triage service reads, writes, and how often its timer runs."""

    http_port: int = 9102
    group_id: str = "hypercare-triage"
    normalized_topic: str = topics.ISSUES_NORMALIZED
    triaged_topic: str = topics.ISSUES_TRIAGED
    lifecycle_topic: str = topics.ISSUES_LIFECYCLE
    deadletter_topic: str = topics.DEADLETTER
    batch_max_records: int = 1000
    """Reports per batch at most. A batch rewrites each issue it touches once, so under load larger
    batches write hot issues less often per report; at low rates batches stay small anyway."""
    state_cache_weight: int = 600_000
    """How much issue state the store keeps between batches, in entries of the states' bounded lists
    (a hot issue at the shipped caps weighs ~5,500: about 110 of them, ~60 MB). Every candidate issue
    that does not fit is read back from PostgreSQL, and re-indexed, on every batch."""
    overlap_from: int = 500
    """Batches of at least this many records (a backlog) are triaged while the batch before is written,
    on top of its states, and written in the background: PostgreSQL's time and triage's CPU overlap,
    for throughput. Smaller batches (a moderate rate) are written and published before the next is
    fetched, which keeps their latency lower. 0: every batch overlaps; above ``batch_max_records``: none."""
    max_attempts: int = 5
    """Times a batch is triaged again after another instance changed one of its issues."""
    release_interval: float = 5.0
    """Seconds between checks for suppressed issues whose window ended (and gauge refreshes)."""
    outbox_sweep_after: float = 10.0
    """Decisions committed but unconfirmed for this long are published again by the timer."""
    redis_prefix: str = "hypercare:triage"
    hint_ttl_seconds: int = 3600
    use_redis: bool = True
    hints_pending_max: PositiveInt = PENDING_HINTS_MAX
    """Hints of committed batches kept for the next exchange while Redis does not answer; beyond, the
    oldest are dropped (``hypercare_triage_hints_dropped_total``)."""
    exit_refresh_seconds: float = 30.0
    """Seconds between re-evaluations of the hypercare exit criteria (``hypercare_exit_*`` gauges)."""

    @property
    def lifecycle_group_id(self) -> str:
        """Consumer group of the lifecycle subscriber (separate from the reports' group)."""
        return f"{self.group_id}.lifecycle"
