"""The narrow ports the SLA service uses: its store and where its events go.

``hypercare_store.sla.PgSlaStore`` is the real store; tests use hand-written in-memory fakes.
"""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol

from hypercare_contracts.lifecycle import LifecycleEvent
from hypercare_contracts.sla import SlaEvent
from hypercare_store.sla import (
    AuditEntry,
    CommandRecord,
    PlannedMilestone,
    ScheduleState,
    SlaIssue,
    StoredMilestone,
)


class IssueSession(Protocol):
    """One issue's transaction: everything written commits together, or nothing does."""

    issue: SlaIssue | None

    async def find_command(self, command_id: str) -> CommandRecord | None:
        """The earlier outcome of a command id."""
        ...

    async def remember_command(self, record: CommandRecord) -> None:
        """Store a command's outcome."""
        ...

    async def save(self, issue: SlaIssue) -> SlaIssue:
        """Insert or update the issue; returns it with its new version."""
        ...

    async def replan(self, issue_id: str, milestones: Sequence[PlannedMilestone]) -> None:
        """Make the unemitted milestones exactly these."""
        ...

    async def audit(self, entry: AuditEntry) -> None:
        """Append to the audit log, idempotently."""
        ...


class SlaStore(Protocol):
    """The SLA service's persistent state."""

    def session(self, issue_id: str) -> AbstractAsyncContextManager[IssueSession]:
        """A transaction on one issue, serialized with every other one on the same issue."""
        ...

    async def load(self, issue_id: str) -> tuple[SlaIssue, list[StoredMilestone], list[AuditEntry]] | None:
        """The issue, its milestones and audit trail."""
        ...

    async def claim_due(
        self, *, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[StoredMilestone]:
        """Claim due milestones nobody holds."""
        ...

    async def mark_emitted(self, emitted: Sequence[tuple[str, datetime]]) -> None:
        """Record milestones as sent."""
        ...

    async def release(self, *, owner: str, keys: Sequence[str]) -> None:
        """Give back claims that could not be sent."""
        ...

    async def schedule_state(self, now: datetime) -> ScheduleState:
        """The next claimable instant and the number pending."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers."""
        ...


class EventSink(Protocol):
    """Where lifecycle and SLA events are published; each call returns once the broker acknowledged."""

    async def lifecycle(self, event: LifecycleEvent) -> None:
        """Publish a lifecycle event."""
        ...

    async def sla(self, events: Sequence[SlaEvent]) -> None:
        """Publish SLA events, keyed by issue."""
        ...
