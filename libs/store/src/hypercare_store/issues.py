"""The PostgreSQL issue store of the triage service (asyncpg).

Per batch: one read statement (:data:`~hypercare_store.sql.READ_BATCH`) and one write transaction of
three round trips: ``BEGIN`` with the advisory locks, the write statement, ``COMMIT``. The write
statement rechecks, under the locks, that no candidate changed since the read and writes nothing if
one did (:class:`~hypercare_store.ports.StaleReadError`); the caller triages the batch again.

The store keeps the issue states it read or committed last (by issue id and version): the read
returns a state only when the stored version differs from the one held, so a hot issue of a hundred
kilobytes is not sent and parsed again for every batch. A version is written once (every write bumps
it and is refused unless the stored version is the one it was read at), so an id and a version name
one state. An issue's bounded lists are rows written as changes against the held version
(:mod:`hypercare_store.members`).
"""

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
from hypercare_contracts import TriagedIssue
from hypercare_domain.triage import AuditEntry, IssueState
from hypercare_domain.triage.state import report_keys

from hypercare_store import sql
from hypercare_store.members import Held, MemberChanges, head_json, held_from
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


def state_weight(state: IssueState) -> int:
    """A rough size of an issue state: its bounded collections' entries (a recent report weighs more:
    it is a model with a time, not a string)."""
    return 10 + len(state.source_refs) + len(state.open_refs) + len(state.reporters) + 5 * len(state.recent)


def audit_dedup_key(entry: AuditEntry) -> str:
    """Idempotency key of an audit row: by the event that caused it, else by issue, time and action."""
    if entry.event_id is not None:
        return f"{entry.event_id}:{entry.action}:{entry.issue_id or '-'}"
    return f"{entry.issue_id}:{entry.at.isoformat()}:{entry.action}"


def _with_json(row: dict[str, Any], name: str, json_text: str) -> str:
    """``row`` as JSON text with one more member whose value is already JSON (pydantic's, from Rust)."""
    head = json.dumps(row)
    return f'{head[:-1]}, "{name}": {json_text}}}' if row else f'{{"{name}": {json_text}}}'


def _issue_row(state: IssueState, prior_version: int) -> str:
    row = {
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
        "prior_version": prior_version,
    }
    return _with_json(row, "state", head_json(state))


def _report_columns(reports: Sequence[StoredReport]) -> dict[str, list[Any]]:
    return {
        "report_event_ids": [s.report.event_id for s in reports],
        "report_issues": [s.issue_id for s in reports],
        "report_fingerprints": [s.report.fingerprint for s in reports],
        "report_sources": [s.report.source.value for s in reports],
        "report_formats": [s.report.source_format.value for s in reports],
        "report_rules": [s.rule.value for s in reports],
        "report_occurred": [s.report.occurred_at for s in reports],
        "report_received": [s.report.received_at for s in reports],
        "report_json": [s.report.model_dump_json() for s in reports],
    }


def _audit_columns(audit: Sequence[AuditEntry]) -> dict[str, list[Any]]:
    return {
        "audit_keys": [audit_dedup_key(entry) for entry in audit],
        "audit_issues": [entry.issue_id for entry in audit],
        "audit_at": [entry.at for entry in audit],
        "audit_actions": [entry.action for entry in audit],
        "audit_actors": [entry.actor for entry in audit],
        "audit_event_ids": [entry.event_id for entry in audit],
        "audit_details": [json.dumps(entry.detail) for entry in audit],
    }


def _decision_row(item: OutgoingDecision) -> str:
    decision = item.decision
    row = {
        "decision_id": decision.decision_id,
        "issue_id": decision.issue_id,
        "event_id": decision.event_id,
        "headers": item.headers,
    }
    return _with_json(row, "payload", item.payload)


def _json_array(rows: Iterable[str]) -> str:
    return f"[{', '.join(rows)}]"


def _arrays(query: CandidateQuery) -> tuple[list[str], list[str], list[str], list[str]]:
    return (
        list(query.fingerprints),
        list(query.refs),
        [scope[0] for scope in query.scopes],
        [scope[1] for scope in query.scopes],
    )


def write_parameters(write: BatchWrite, members: MemberChanges) -> list[Any]:
    """The parameters of :data:`~hypercare_store.sql.WRITE_BATCH` for one batch whose list entries
    change as ``members`` says, in the order of :data:`~hypercare_store.sql.WRITE_PARAMETERS`."""
    refs = sorted(
        {(key, s.issue_id) for s in write.reports if s.issue_id is not None for key in report_keys(s.report)}
    )
    fingerprints, keys, components, environments = _arrays(write.recheck.full())
    values: dict[str, Any] = {
        "issues": _json_array(_issue_row(s, write.prior_versions.get(s.issue_id, 0)) for s in write.states),
        "decisions": _json_array(_decision_row(d) for d in write.decisions),
        "snapshot": write.token,
        "seen_writers": [str(writer) for writer in write.seen_writers],
        "recheck_fingerprints": fingerprints,
        "recheck_refs": keys,
        "recheck_components": components,
        "recheck_environments": environments,
        "ref_keys": [key for key, _ in refs],
        "ref_issues": [issue_id for _, issue_id in refs],
        **_report_columns(write.reports),
        **_audit_columns(write.audit),
        **members.columns(),
    }
    return [values[name] for name, _ in sql.WRITE_PARAMETERS]


class PgIssueStore:
    """:class:`~hypercare_store.ports.IssueStore` on PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool, *, cache_weight: int = 250_000) -> None:
        """Use ``pool`` (opened and closed by the service's lifespan).

        Args:
            pool: the connection pool.
            cache_weight: how much issue state is kept between batches, in entries of its bounded
                collections (see :func:`state_weight`; 250,000 is about 70 issues at the shipped
                caps, some 30 MB); the least recently used states are dropped first.
        """
        self._pool = pool
        self._cache: OrderedDict[str, Held] = OrderedDict()
        self._weights: dict[str, int] = {}
        self._weight = 0
        self._max_weight = cache_weight
        self._read: dict[str, Held] = {}
        """The states the last batch read: a batch's write diffs against them even when more candidates
        than the cache holds pushed some out."""

    def _keep(self, held: Iterable[Held]) -> None:
        cache, weights = self._cache, self._weights
        for entry in held:
            issue_id = entry.state.issue_id
            current = cache.get(issue_id)
            if current is not None and current.state.version >= entry.state.version:
                # Never older (a read that overlapped a commit), and the same version stays the same
                # object: the candidate index recognises the states it has indexed by identity.
                cache.move_to_end(issue_id)
                continue
            weight = state_weight(entry.state)
            self._weight += weight - weights.get(issue_id, 0)
            weights[issue_id] = weight
            cache[issue_id] = entry
            cache.move_to_end(issue_id)
        while self._weight > self._max_weight and cache:
            issue_id, _ = cache.popitem(last=False)
            self._weight -= weights.pop(issue_id)

    def _held(self, issue_id: str, version: int) -> Held | None:
        for entry in (self._cache.get(issue_id), self._read.get(issue_id)):
            if entry is not None and entry.state.version == version:
                return entry
        return None

    async def load_batch(self, *, query: CandidateQuery) -> Snapshot:
        """Stored event ids and candidate issues of a batch, in one statement."""
        # The states sent are the ones a NULL answer stands for, whatever the cache holds by then.
        held = dict(self._cache)
        rows = await self._pool.fetch(
            sql.READ_BATCH,
            list(query.event_ids),
            *_arrays(query),
            list(query.hinted_issue_ids),
            list(held),
            [entry.state.version for entry in held.values()],
        )
        known: set[str] = set()
        issues: dict[str, Held] = {}
        token = ""
        for kind, ident, state, seqs in rows:
            if kind == "event":
                known.add(ident)
            elif kind == "issue":
                issues[ident] = (
                    held[ident] if state is None else held_from(IssueState.model_validate_json(state), seqs)
                )
            else:
                token = ident
        self._keep(issues.values())
        self._read = issues
        return Snapshot(
            known_event_ids=frozenset(known),
            issues={issue_id: entry.state for issue_id, entry in issues.items()},
            token=token,
        )

    async def save_batch(self, *, write: BatchWrite) -> int:
        """Write the batch in one transaction and return its id, or raise :class:`StaleReadError`
        having written nothing."""
        keys = sorted({scope_lock_key(scope) for scope in write.lock_scopes})
        values = ", ".join(f"({key}::bigint)" for key in keys) or "(0::bigint)"
        members = MemberChanges()
        written = [
            members.add(self._held(s.issue_id, prior := write.prior_versions.get(s.issue_id, 0)), prior, s)
            for s in write.states
        ]
        params = write_parameters(write, members)
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
        self._keep(written)
        return int(row["writer"])

    async def load_issue(self, *, issue_id: str) -> IssueState | None:
        """One issue by id, or None."""
        row = await self._pool.fetchrow(sql.LOAD_ISSUE, issue_id)
        if row is None:
            return None
        entry = held_from(IssueState.model_validate_json(row["state"]), row["seqs"])
        self._keep((entry,))
        return entry.state

    async def suppressed_open(self) -> list[IssueState]:
        """Published, unresolved issues held back by a maintenance window or silence.

        Not kept in the cache: read on a timer, they would push a batch's hot candidates out. A release
        written from one the cache does not hold replaces the issue's list rows (once per window).
        """
        rows = await self._pool.fetch(sql.SUPPRESSED_OPEN)
        return [IssueState.model_validate_json(row["state"]) for row in rows]

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
        """Kafka confirmed these decisions: they leave the outbox."""
        if decision_ids:
            await self._pool.execute(sql.MARK_PUBLISHED, list(decision_ids))
