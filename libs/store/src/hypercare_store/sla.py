"""PostgreSQL adapter of the SLA service: issue clocks, milestones, handled commands and the audit log.

Tables come from ``migrations/0002_sla.sql`` (``audit_log`` from ``0001``, ``sla_issues.triage_version`` from
``0010``, the timeline's lifecycle marks ``status_changed_at``, ``reopened_at``, ``waiting_changed_at``,
their highest triage versions and the triage versions that set them from ``0012``). Every change to one
issue runs in a :meth:`PgSlaStore.session`: one transaction holding a per-issue advisory lock, so concurrent
handlers of the same issue (a Kafka command, an HTTP request, a triage decision) apply one after the other.

Milestones are claimed for emission with ``FOR UPDATE SKIP LOCKED`` and a lease, so several instances share
the work and each milestone is published by one of them; ``emitted_at`` is set once it was sent.
"""

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from hypercare_contracts.common import Severity
from hypercare_contracts.sla import SlaEvent
from hypercare_contracts.triaged import IssueStatus
from hypercare_domain.sla import Pause, SlaTimeline
from pydantic import TypeAdapter

_PAUSES = TypeAdapter(tuple[Pause, ...])
_Conn = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True)
class SlaIssue:
    """What the SLA service knows of one issue: its status, owner and the facts of its current cycle.

    ``suppressed`` issues have no running clock: they were suppressed before they ever opened, and their
    cycle starts when triage releases them. ``version`` counts the writes of the row; ``triage_version`` is
    the ``TriagedIssue.version`` of the last triage decision applied (``None``: none recorded, as for the
    issues stored before migration ``0010``).
    """

    timeline: SlaTimeline
    status: IssueStatus
    team: str
    suppressed: bool = False
    version: int = 0
    triage_version: int | None = None

    @property
    def issue_id(self) -> str:
        """The issue's id."""
        return self.timeline.issue_id


@dataclass(frozen=True)
class PlannedMilestone:
    """A milestone to store: its key, when it falls due, and the event to publish then."""

    key: str
    issue_id: str
    kind: str
    target: str | None
    due_at: datetime
    event: SlaEvent


@dataclass(frozen=True)
class StoredMilestone:
    """A milestone as stored, emitted or not."""

    key: str
    issue_id: str
    kind: str
    target: str | None
    due_at: datetime
    emitted_at: datetime | None
    event: SlaEvent


@dataclass(frozen=True)
class AuditEntry:
    """One row of ``audit_log``; ``dedup_key`` makes writing it idempotent."""

    dedup_key: str
    issue_id: str
    at: datetime
    action: str
    actor: str
    event_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandRecord:
    """A lifecycle command already handled, with what it produced (``result`` is JSON-ready)."""

    command_id: str
    issue_id: str
    action: str
    outcome: str
    result: Mapping[str, Any]


@dataclass(frozen=True)
class ScheduleState:
    """What the scheduler needs to decide how long to sleep."""

    next_due: datetime | None
    """The earliest instant a pending milestone can be claimed (its due time, or its lease end)."""
    pending: int


class PgIssueSession:
    """Reads and writes of one issue inside its transaction (see :meth:`PgSlaStore.session`)."""

    def __init__(self, conn: _Conn, issue: SlaIssue | None) -> None:
        self._conn = conn
        self.issue = issue

    async def find_command(self, command_id: str) -> CommandRecord | None:
        """The earlier outcome of ``command_id``, if it was handled already."""
        row = await self._conn.fetchrow(
            "SELECT command_id, issue_id, action, outcome, result FROM lifecycle_commands WHERE command_id = $1",
            command_id,
        )
        if row is None:
            return None
        return CommandRecord(
            row["command_id"], row["issue_id"], row["action"], row["outcome"], json.loads(row["result"])
        )

    async def remember_command(self, record: CommandRecord) -> None:
        """Store a command's outcome so a replay returns it instead of acting again."""
        await self._conn.execute(
            "INSERT INTO lifecycle_commands (command_id, issue_id, action, outcome, result)"
            " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (command_id) DO NOTHING",
            record.command_id,
            record.issue_id,
            record.action,
            record.outcome,
            json.dumps(record.result),
        )

    async def save(self, issue: SlaIssue) -> SlaIssue:
        """Insert or update the issue; returns it with its new version."""
        t = issue.timeline
        version = issue.version + 1
        await self._conn.execute(
            """
            INSERT INTO sla_issues (issue_id, cycle, status, severity, route, escalation_policy, team,
                suppressed, opened_at, severity_raised_at, acknowledged_at, resolved_at, paused_intervals,
                snoozes, version, triage_version, status_changed_at, reopened_at, waiting_changed_at,
                status_version, reopened_version, waiting_version, status_set_by, reopened_set_by,
                waiting_set_by, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, $15, $16, $17,
                $18, $19, $20, $21, $22, $23, $24, $25, now())
            ON CONFLICT (issue_id) DO UPDATE SET cycle = EXCLUDED.cycle, status = EXCLUDED.status,
                severity = EXCLUDED.severity, route = EXCLUDED.route,
                escalation_policy = EXCLUDED.escalation_policy, team = EXCLUDED.team,
                suppressed = EXCLUDED.suppressed, opened_at = EXCLUDED.opened_at,
                severity_raised_at = EXCLUDED.severity_raised_at, acknowledged_at = EXCLUDED.acknowledged_at,
                resolved_at = EXCLUDED.resolved_at, paused_intervals = EXCLUDED.paused_intervals,
                snoozes = EXCLUDED.snoozes, version = EXCLUDED.version,
                triage_version = EXCLUDED.triage_version, status_changed_at = EXCLUDED.status_changed_at,
                reopened_at = EXCLUDED.reopened_at, waiting_changed_at = EXCLUDED.waiting_changed_at,
                status_version = EXCLUDED.status_version, reopened_version = EXCLUDED.reopened_version,
                waiting_version = EXCLUDED.waiting_version, status_set_by = EXCLUDED.status_set_by,
                reopened_set_by = EXCLUDED.reopened_set_by, waiting_set_by = EXCLUDED.waiting_set_by,
                updated_at = now()
            """,
            t.issue_id,
            t.cycle,
            issue.status.value,
            t.severity.value,
            t.route,
            t.escalation_policy,
            issue.team,
            issue.suppressed,
            t.opened_at,
            t.severity_raised_at,
            t.acknowledged_at,
            t.resolved_at,
            _PAUSES.dump_json(t.waiting_pauses).decode(),
            _PAUSES.dump_json(t.snoozes).decode(),
            version,
            issue.triage_version,
            t.status_changed_at,
            t.reopened_at,
            t.waiting_changed_at,
            t.status_version,
            t.reopened_version,
            t.waiting_version,
            t.status_set_by,
            t.reopened_set_by,
            t.waiting_set_by,
        )
        saved = replace(issue, version=version)
        self.issue = saved
        return saved

    async def replan(self, issue_id: str, milestones: Sequence[PlannedMilestone]) -> None:
        """Make the issue's unemitted milestones exactly ``milestones``; emitted ones are never touched."""
        keys = [m.key for m in milestones]
        await self._conn.execute(
            "DELETE FROM sla_milestones WHERE issue_id = $1 AND emitted_at IS NULL AND NOT (key = ANY($2::text[]))",
            issue_id,
            keys,
        )
        if not milestones:
            return
        await self._conn.executemany(
            """
            INSERT INTO sla_milestones (key, issue_id, kind, target, due_at, event)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb)
            ON CONFLICT (key) DO UPDATE SET due_at = EXCLUDED.due_at, event = EXCLUDED.event
            WHERE sla_milestones.emitted_at IS NULL
            """,
            [(m.key, m.issue_id, m.kind, m.target, m.due_at, m.event.model_dump_json()) for m in milestones],
        )

    async def audit(self, entry: AuditEntry) -> None:
        """Append to the audit log (a second write with the same ``dedup_key`` is ignored)."""
        await self._conn.execute(
            "INSERT INTO audit_log (dedup_key, issue_id, at, action, actor, event_id, detail)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (dedup_key) DO NOTHING",
            entry.dedup_key,
            entry.issue_id,
            entry.at,
            entry.action,
            entry.actor,
            entry.event_id,
            json.dumps(dict(entry.detail), default=str),
        )


class PgSlaStore:
    """The SLA tables behind an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def session(self, issue_id: str) -> AsyncIterator[PgIssueSession]:
        """A transaction on one issue, serialized with every other session on it; commits on success."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", issue_id)
            row = await conn.fetchrow("SELECT * FROM sla_issues WHERE issue_id = $1", issue_id)
            yield PgIssueSession(conn, _issue(row) if row is not None else None)

    async def load(self, issue_id: str) -> tuple[SlaIssue, list[StoredMilestone], list[AuditEntry]] | None:
        """The issue, its milestones (by due time) and its audit trail (oldest first); ``None`` if unknown."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM sla_issues WHERE issue_id = $1", issue_id)
            if row is None:
                return None
            milestones = await conn.fetch(
                "SELECT key, issue_id, kind, target, due_at, emitted_at, event FROM sla_milestones"
                " WHERE issue_id = $1 ORDER BY due_at, key",
                issue_id,
            )
            audit = await conn.fetch(
                "SELECT dedup_key, issue_id, at, action, actor, event_id, detail FROM audit_log"
                " WHERE issue_id = $1 ORDER BY at, audit_id",
                issue_id,
            )
        return (
            _issue(row),
            [_milestone(r) for r in milestones],
            [
                AuditEntry(
                    r["dedup_key"],
                    r["issue_id"],
                    r["at"],
                    r["action"],
                    r["actor"],
                    r["event_id"],
                    json.loads(r["detail"]),
                )
                for r in audit
            ],
        )

    async def claim_due(
        self, *, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[StoredMilestone]:
        """Claim up to ``limit`` unemitted milestones due by ``now`` that nobody holds, oldest first.

        The claim lasts ``lease``; an instance that dies holding it loses it then, and another one emits.
        """
        rows = await self._pool.fetch(
            """
            UPDATE sla_milestones SET claimed_by = $1, claimed_until = $2::timestamptz + $3::interval
            WHERE key IN (
                SELECT key FROM sla_milestones
                WHERE emitted_at IS NULL AND due_at <= $2
                  AND (claimed_until IS NULL OR claimed_until < $2)
                ORDER BY due_at
                FOR UPDATE SKIP LOCKED
                LIMIT $4
            )
            RETURNING key, issue_id, kind, target, due_at, emitted_at, event
            """,
            owner,
            now,
            lease,
            limit,
        )
        return sorted((_milestone(r) for r in rows), key=lambda m: (m.due_at, m.key))

    async def mark_emitted(self, emitted: Sequence[tuple[str, datetime]]) -> None:
        """Record that these milestones (key, emitted_at) were sent; they are never claimed again."""
        await self._pool.executemany(
            "UPDATE sla_milestones SET emitted_at = $2, claimed_by = NULL, claimed_until = NULL"
            " WHERE key = $1 AND emitted_at IS NULL",
            list(emitted),
        )

    async def release(self, *, owner: str, keys: Sequence[str]) -> None:
        """Give back claims that could not be sent, so the next attempt need not wait for the lease."""
        await self._pool.execute(
            "UPDATE sla_milestones SET claimed_by = NULL, claimed_until = NULL"
            " WHERE key = ANY($1::text[]) AND claimed_by = $2 AND emitted_at IS NULL",
            list(keys),
            owner,
        )

    async def schedule_state(self, now: datetime) -> ScheduleState:
        """When the next pending milestone can be claimed, and how many are pending."""
        row = await self._pool.fetchrow(
            """
            SELECT min(CASE WHEN claimed_until > $1 THEN greatest(due_at, claimed_until) ELSE due_at END)
                   AS next_due,
                   count(*) AS pending
            FROM sla_milestones WHERE emitted_at IS NULL
            """,
            now,
        )
        assert row is not None  # an aggregate always returns one row
        return ScheduleState(next_due=row["next_due"], pending=int(row["pending"]))

    async def ping(self) -> bool:
        """Whether the database answers."""
        return bool(await self._pool.fetchval("SELECT true"))


def _issue(row: asyncpg.Record) -> SlaIssue:
    timeline = SlaTimeline(
        issue_id=row["issue_id"],
        cycle=row["cycle"],
        opened_at=row["opened_at"],
        severity=Severity(row["severity"]),
        route=row["route"],
        escalation_policy=row["escalation_policy"],
        severity_raised_at=row["severity_raised_at"],
        acknowledged_at=row["acknowledged_at"],
        resolved_at=row["resolved_at"],
        waiting_pauses=_PAUSES.validate_json(row["paused_intervals"]),
        snoozes=_PAUSES.validate_json(row["snoozes"]),
        status_changed_at=row["status_changed_at"],
        reopened_at=row["reopened_at"],
        waiting_changed_at=row["waiting_changed_at"],
        status_version=row["status_version"],
        reopened_version=row["reopened_version"],
        waiting_version=row["waiting_version"],
        status_set_by=row["status_set_by"],
        reopened_set_by=row["reopened_set_by"],
        waiting_set_by=row["waiting_set_by"],
    )
    return SlaIssue(
        timeline,
        IssueStatus(row["status"]),
        row["team"],
        suppressed=row["suppressed"],
        version=row["version"],
        triage_version=row["triage_version"],
    )


def _milestone(row: asyncpg.Record) -> StoredMilestone:
    return StoredMilestone(
        key=row["key"],
        issue_id=row["issue_id"],
        kind=row["kind"],
        target=row["target"],
        due_at=row["due_at"],
        emitted_at=row["emitted_at"],
        event=SlaEvent.model_validate_json(row["event"]),
    )
