"""Factories and an in-memory store for the SLA service tests (no tests in this module).

Shared by ``tests/service/test_sla_*.py`` and ``tests/integration/test_sla_*.py``.
"""

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypercare_contracts.common import Severity, Source
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand, Via
from hypercare_contracts.triaged import Decision, Impact, IssueStatus, MergeRule, Route, TriagedIssue
from hypercare_store.sla import (
    AuditEntry,
    CommandRecord,
    PlannedMilestone,
    ScheduleState,
    SlaIssue,
    StoredMilestone,
)

FAST_POLICY = Path(__file__).resolve().parents[1] / "data" / "policy-fast"
"""Targets of seconds: critical response 6s (at risk 4.5s), resolution 20s; escalation at 1.5s, 3s, 5s."""


def make_triaged(**overrides: Any) -> TriagedIssue:
    """A CREATED critical decision for a fresh issue, decided now."""
    now = datetime.now(UTC)
    issue_id = overrides.pop("issue_id", f"iss_{uuid.uuid4().hex[:12]}")
    fields: dict[str, Any] = {
        "decision_id": f"dec_{uuid.uuid4().hex[:12]}",
        "decision": Decision.CREATED,
        "issue_id": issue_id,
        "version": 1,
        "title": "Checkout fails for card payments",
        "component": "checkout",
        "environment": "production",
        "status": IssueStatus.OPEN,
        "severity": Severity.CRITICAL,
        "impact": Impact(score=80, reach=70, financial=90, reputational=40),
        "breakdown": [],
        "route": Route(
            name="payments", team="payments-team", escalation_policy="default", channels=["console"]
        ),
        "occurrences": 3,
        "distinct_reporters": 2,
        "merged_by": MergeRule.NEW,
        "sources": [Source.ALERTS],
        "first_seen": now - timedelta(seconds=1),
        "last_seen": now,
        "decided_at": now,
        "notify": True,
    }
    fields.update(overrides)
    return TriagedIssue(**fields)


def make_command(
    issue_id: str, action: LifecycleAction = LifecycleAction.ACKNOWLEDGE, **overrides: Any
) -> LifecycleCommand:
    """A lifecycle command as another system would put it on Kafka."""
    fields: dict[str, Any] = {
        "command_id": f"cmd_{uuid.uuid4().hex[:12]}",
        "issue_id": issue_id,
        "action": action,
        "actor": "alice",
        "via": Via.KAFKA,
    }
    fields.update(overrides)
    return LifecycleCommand(**fields)


@dataclass
class _State:
    issues: dict[str, SlaIssue] = field(default_factory=dict)
    milestones: dict[str, dict[str, Any]] = field(default_factory=dict)
    commands: dict[str, CommandRecord] = field(default_factory=dict)
    audit: dict[str, AuditEntry] = field(default_factory=dict)


class FakeSession:
    """Writes go to a copy of the state that replaces the original only when the session ends cleanly."""

    def __init__(self, state: _State, issue: SlaIssue | None) -> None:
        self._state = state
        self.issue = issue

    async def find_command(self, command_id: str) -> CommandRecord | None:
        return self._state.commands.get(command_id)

    async def remember_command(self, record: CommandRecord) -> None:
        self._state.commands.setdefault(record.command_id, record)

    async def save(self, issue: SlaIssue) -> SlaIssue:
        saved = SlaIssue(issue.timeline, issue.status, issue.team, issue.suppressed, issue.version + 1)
        self._state.issues[issue.issue_id] = saved
        self.issue = saved
        return saved

    async def replan(self, issue_id: str, milestones: Sequence[PlannedMilestone]) -> None:
        keys = {m.key for m in milestones}
        for key, row in list(self._state.milestones.items()):
            if row["issue_id"] == issue_id and row["emitted_at"] is None and key not in keys:
                del self._state.milestones[key]
        for m in milestones:
            existing = self._state.milestones.get(m.key)
            if existing is None:
                self._state.milestones[m.key] = {
                    "planned": m,
                    "issue_id": issue_id,
                    "emitted_at": None,
                    "claimed_until": None,
                }
            elif existing["emitted_at"] is None:
                existing["planned"] = m

    async def audit(self, entry: AuditEntry) -> None:
        self._state.audit.setdefault(entry.dedup_key, entry)


class FakeStore:
    """An in-memory :class:`hypercare_sla.ports.SlaStore` with transactional sessions."""

    def __init__(self) -> None:
        self.state = _State()
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def session(self, issue_id: str) -> AsyncIterator[FakeSession]:
        async with self._lock:
            draft = copy.deepcopy(self.state)
            yield FakeSession(draft, draft.issues.get(issue_id))
            self.state = draft

    async def load(self, issue_id: str) -> tuple[SlaIssue, list[StoredMilestone], list[AuditEntry]] | None:
        issue = self.state.issues.get(issue_id)
        if issue is None:
            return None
        rows = [_stored(r) for r in self.state.milestones.values() if r["issue_id"] == issue_id]
        audit = sorted((a for a in self.state.audit.values() if a.issue_id == issue_id), key=lambda a: a.at)
        return issue, sorted(rows, key=lambda m: (m.due_at, m.key)), audit

    async def claim_due(
        self, *, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[StoredMilestone]:
        due = [
            r
            for r in self.state.milestones.values()
            if r["emitted_at"] is None
            and r["planned"].due_at <= now
            and (r["claimed_until"] is None or r["claimed_until"] < now)
        ]
        due.sort(key=lambda r: r["planned"].due_at)
        for row in due[:limit]:
            row["claimed_until"] = now + lease
        return [_stored(r) for r in due[:limit]]

    async def mark_emitted(self, emitted: Sequence[tuple[str, datetime]]) -> None:
        for key, at in emitted:
            row = self.state.milestones.get(key)
            if row is not None and row["emitted_at"] is None:
                row["emitted_at"] = at

    async def release(self, *, owner: str, keys: Sequence[str]) -> None:
        for key in keys:
            if key in self.state.milestones:
                self.state.milestones[key]["claimed_until"] = None

    async def schedule_state(self, now: datetime) -> ScheduleState:
        pending = [r["planned"].due_at for r in self.state.milestones.values() if r["emitted_at"] is None]
        return ScheduleState(next_due=min(pending, default=None), pending=len(pending))

    async def ping(self) -> bool:
        return True

    def milestone_keys(self, issue_id: str) -> set[str]:
        """The keys of the issue's stored milestones."""
        return {k for k, r in self.state.milestones.items() if r["issue_id"] == issue_id}


def _stored(row: dict[str, Any]) -> StoredMilestone:
    m: PlannedMilestone = row["planned"]
    return StoredMilestone(m.key, m.issue_id, m.kind, m.target, m.due_at, row["emitted_at"], m.event)
