"""The PostgreSQL issue store of the triage service (asyncpg).

Per batch: one read statement (:data:`~hypercare_store.sql.READ_BATCH`) and one write transaction of
three round trips: ``BEGIN`` with the advisory locks, the write statement, ``COMMIT``. The write
statement rechecks, under the locks, that no candidate changed since the read and writes nothing if
one did (:class:`~hypercare_store.ports.StaleReadError`); the caller triages the batch again.
"""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import asyncpg
from hypercare_contracts import TriagedIssue
from hypercare_domain.triage import AuditEntry, IssueState
from hypercare_domain.triage.state import report_keys

from hypercare_store import sql
from hypercare_store.ports import (
    BatchWrite,
    CandidateQuery,
    OpenCount,
    OutgoingDecision,
    Scope,
    Snapshot,
    StaleReadError,
    StoredReport,
)


def scope_lock_key(scope: Scope) -> int:
    """A stable signed 64-bit advisory lock key for one component and environment."""
    digest = hashlib.blake2b(f"hypercare.triage\n{scope[0]}\n{scope[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def audit_dedup_key(entry: AuditEntry) -> str:
    """Idempotency key of an audit row: by the event that caused it, else by issue, time and action."""
    if entry.event_id is not None:
        return f"{entry.event_id}:{entry.action}:{entry.issue_id or '-'}"
    return f"{entry.issue_id}:{entry.at.isoformat()}:{entry.action}"


def _issue_row(state: IssueState, prior_version: int) -> dict[str, Any]:
    return {
        "issue_id": state.issue_id,
        "fingerprint": state.fingerprint,
        "component": state.component,
        "environment": state.environment,
        "title": state.title,
        "status": state.status.value,
        "severity": state.severity.value,
        "impact": state.impact.score,
        "route": state.route.name,
        "team": state.route.team,
        "occurrences": state.occurrences,
        "distinct_reporters": state.distinct_reporters,
        "flap_count": state.flap_count,
        "version": state.version,
        "opened": state.opened,
        "suppressed_by": state.suppressed_by,
        "first_seen": state.first_seen.isoformat(),
        "last_seen": state.last_seen.isoformat(),
        "resolved_at": state.resolved_at.isoformat() if state.resolved_at else None,
        "state": state.to_json(),
        "prior_version": prior_version,
    }


def _report_row(stored: StoredReport) -> dict[str, Any]:
    report = stored.report
    return {
        "event_id": report.event_id,
        "issue_id": stored.issue_id,
        "fingerprint": report.fingerprint,
        "source": report.source.value,
        "source_format": report.source_format.value,
        "merged_by": stored.rule.value,
        "occurred_at": report.occurred_at.isoformat(),
        "received_at": report.received_at.isoformat(),
        "report": report.model_dump(mode="json"),
    }


def _audit_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "dedup_key": audit_dedup_key(entry),
        "issue_id": entry.issue_id,
        "at": entry.at.isoformat(),
        "action": entry.action,
        "actor": entry.actor,
        "event_id": entry.event_id,
        "detail": entry.detail,
    }


def _decision_row(item: OutgoingDecision) -> dict[str, Any]:
    decision = item.decision
    return {
        "decision_id": decision.decision_id,
        "issue_id": decision.issue_id,
        "event_id": decision.event_id,
        "payload": decision.model_dump(mode="json"),
        "headers": item.headers,
    }


def _arrays(query: CandidateQuery) -> tuple[list[str], list[str], list[str], list[str]]:
    return (
        list(query.fingerprints),
        list(query.refs),
        [scope[0] for scope in query.scopes],
        [scope[1] for scope in query.scopes],
    )


def write_parameters(write: BatchWrite) -> list[Any]:
    """The parameters of :data:`~hypercare_store.sql.WRITE_BATCH` for one batch."""
    refs = sorted(
        {(key, s.issue_id) for s in write.reports if s.issue_id is not None for key in report_keys(s.report)}
    )
    recheck = write.recheck.full()
    return [
        json.dumps([_issue_row(s, write.prior_versions.get(s.issue_id, 0)) for s in write.states]),
        json.dumps([{"source_ref": key, "issue_id": issue_id} for key, issue_id in refs]),
        json.dumps([_report_row(s) for s in write.reports]),
        json.dumps([_audit_row(a) for a in write.audit]),
        json.dumps([_decision_row(d) for d in write.decisions]),
        write.token,
        *_arrays(recheck),
    ]


class PgIssueStore:
    """:class:`~hypercare_store.ports.IssueStore` on PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        """Use ``pool`` (opened and closed by the service's lifespan)."""
        self._pool = pool

    async def load_batch(self, *, query: CandidateQuery) -> Snapshot:
        """Stored event ids and candidate issues of a batch, in one statement."""
        rows = await self._pool.fetch(
            sql.READ_BATCH, list(query.event_ids), *_arrays(query), list(query.hinted_issue_ids)
        )
        known: set[str] = set()
        issues: dict[str, IssueState] = {}
        token = ""
        for kind, ident, state in rows:
            if kind == "event":
                known.add(ident)
            elif kind == "issue":
                issues[ident] = IssueState.model_validate_json(state)
            else:
                token = ident
        return Snapshot(known_event_ids=frozenset(known), issues=issues, token=token)

    async def save_batch(self, *, write: BatchWrite) -> None:
        """Write the batch in one transaction, or raise :class:`StaleReadError` having written nothing."""
        keys = sorted({scope_lock_key(scope) for scope in write.lock_scopes})
        values = ", ".join(f"({key}::bigint)" for key in keys) or "(0::bigint)"
        params = write_parameters(write)
        async with self._pool.acquire() as conn:
            await conn.execute(sql.LOCK_PREFIX.format(values=values))
            try:
                row = await conn.fetchrow(sql.WRITE_BATCH, *params)
                if row is None or not row["ok"]:
                    raise StaleReadError("a candidate issue changed since the batch was read")
                await conn.execute("COMMIT")
            except BaseException:
                if not conn.is_closed():
                    await conn.execute("ROLLBACK")
                raise

    async def load_issue(self, *, issue_id: str) -> IssueState | None:
        """One issue by id, or None."""
        state = await self._pool.fetchval(sql.LOAD_ISSUE, issue_id)
        return IssueState.model_validate_json(state) if state is not None else None

    async def suppressed_open(self) -> list[IssueState]:
        """Published, unresolved issues held back by a maintenance window or silence."""
        rows = await self._pool.fetch(sql.SUPPRESSED_OPEN)
        return [IssueState.model_validate_json(row[0]) for row in rows]

    async def open_counts(self) -> list[OpenCount]:
        """Open issues by severity and route."""
        rows = await self._pool.fetch(sql.OPEN_COUNTS)
        return [OpenCount(severity=r["severity"], route=r["route"], count=r["n"]) for r in rows]

    async def unpublished(self, *, older_than_seconds: float, limit: int) -> list[OutgoingDecision]:
        """Committed decisions Kafka has not confirmed for ``older_than_seconds``."""
        rows = await self._pool.fetch(sql.UNPUBLISHED, older_than_seconds, limit)
        return [
            OutgoingDecision(TriagedIssue.model_validate_json(payload), json.loads(headers))
            for payload, headers in rows
        ]

    async def mark_published(self, *, decision_ids: Sequence[str]) -> None:
        """Mark decisions as confirmed by Kafka."""
        if decision_ids:
            await self._pool.execute(sql.MARK_PUBLISHED, list(decision_ids))
