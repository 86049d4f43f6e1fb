"""The notifier's delivery log, issue snapshots and digest windows in PostgreSQL (``0003_notifier.sql``).

The ``deliveries`` table is both the log and the work queue. A row is inserted once per idempotency
key (``ON CONFLICT DO NOTHING``); a worker claims pending rows with a lease before sending, and only
the claimant sends. Marking a row sent is a transition from ``pending``, so it happens once. The Kafka
messages that report a change of a row (outcome records, dead letters) are written to the outbox
(:mod:`hypercare_store.notifier_outbox`) in the same transaction, and relayed from there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from hypercare_store.notifier_outbox import OutboxMessage, write_outbox

NewStatus = Literal["pending", "digested", "skipped"]


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to record at intake."""

    key: str
    issue_id: str
    trigger_id: str
    trigger_kind: str
    step: int
    channel: str
    route: str
    kind: str | None
    status: NewStatus
    payload: str
    """The trigger as JSON text (what the worker renders from)."""
    digest_id: str | None = None
    ingested_at: float | None = None
    trace_id: str | None = None
    note: str | None = None
    """Why a skipped row was skipped (stored in ``last_error``)."""


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A pending delivery this worker now holds the lease of."""

    key: str
    issue_id: str
    trigger_id: str
    trigger_kind: str
    step: int
    channel: str
    route: str
    kind: str | None
    payload: str
    attempts: int
    digest_id: str | None
    ingested_at: float | None
    trace_id: str | None


class SnapshotChanged(Exception):  # noqa: N818 - it names what happened, as asyncpg's errors do
    """An issue snapshot was written by another instance after this one read it (two instances held the
    issue's partition during a rebalance): nothing of the batch was stored, and it is to be planned again
    on what is stored now. Not a defect: the batch is delivered again."""

    def __init__(self, issue_ids: Sequence[str]) -> None:
        super().__init__(f"snapshots changed since they were read: {', '.join(issue_ids)}")
        self.issue_ids = tuple(issue_ids)


@dataclass(frozen=True, slots=True)
class IssueSnapshotRow:
    """The stored snapshot of one issue (``issue`` is the last decision's JSON).

    ``lifecycle_action`` and ``lifecycle_at`` are the last person's acknowledge, resolve or reopen the
    notifier took in; ``cycle_at`` is when the issue last turned resolved or was reopened, by a person
    (``cycle_by_person``) or by a decision (``0011_notifier_lifecycle_order.sql``).
    ``lifecycle_partition`` and ``lifecycle_offset`` are where the last lifecycle event taken in was on its
    topic (a replay is read at or below it). ``revision`` counts the row's writes: read with the row, and,
    in a row to write, the revision it was read at (0: absent).
    """

    issue_id: str
    version: int
    issue: str | None
    acknowledged: bool
    resolved: bool
    paged_channels: tuple[str, ...]
    lifecycle_action: str | None = None
    lifecycle_at: datetime | None = None
    cycle_at: datetime | None = None
    cycle_by_person: bool = False
    revision: int = 0
    lifecycle_partition: int | None = None
    lifecycle_offset: int | None = None


@dataclass(frozen=True, slots=True)
class DigestWindow:
    """One route's storm window that folded at least one notification."""

    digest_id: str
    route: str
    window_start: datetime
    window_end: datetime


ChooseChannels = Callable[[Sequence[str]], Sequence[str]]
"""Given the channels of the folded rows, the channels the digest goes to."""


_WRITE_SNAPSHOTS = (
    "INSERT INTO notifier_issues (issue_id, version, issue, acknowledged, resolved, paged_channels,"
    " lifecycle_action, lifecycle_at, cycle_at, cycle_by_person, revision, lifecycle_partition,"
    " lifecycle_offset, updated_at)"
    " SELECT s.issue_id, s.version, s.issue::jsonb, s.acknowledged, s.resolved,"
    " ARRAY(SELECT jsonb_array_elements_text(s.paged::jsonb)), s.lifecycle_action, s.lifecycle_at,"
    " s.cycle_at, s.cycle_by_person, s.revision + 1, s.lifecycle_partition, s.lifecycle_offset, now()"
    " FROM unnest($1::text[], $2::int[], $3::text[], $4::bool[], $5::bool[], $6::text[], $7::text[],"
    " $8::timestamptz[], $9::timestamptz[], $10::bool[], $11::bigint[], $12::int[], $13::bigint[])"
    " AS s(issue_id, version, issue, acknowledged, resolved, paged, lifecycle_action, lifecycle_at,"
    " cycle_at, cycle_by_person, revision, lifecycle_partition, lifecycle_offset)"
    " ON CONFLICT (issue_id) DO UPDATE SET version = EXCLUDED.version,"
    " issue = COALESCE(EXCLUDED.issue, notifier_issues.issue),"
    " acknowledged = EXCLUDED.acknowledged, resolved = EXCLUDED.resolved,"
    " paged_channels = EXCLUDED.paged_channels, lifecycle_action = EXCLUDED.lifecycle_action,"
    " lifecycle_at = EXCLUDED.lifecycle_at, cycle_at = EXCLUDED.cycle_at,"
    " cycle_by_person = EXCLUDED.cycle_by_person, revision = EXCLUDED.revision,"
    " lifecycle_partition = EXCLUDED.lifecycle_partition, lifecycle_offset = EXCLUDED.lifecycle_offset,"
    " updated_at = now()"
    " WHERE notifier_issues.revision = EXCLUDED.revision - 1"
    " RETURNING issue_id"
)
"""Writes snapshots still at the revision they were read at (a new one: none stored), one statement."""


async def _write_snapshots(conn: PoolConnectionProxy, snapshots: Sequence[IssueSnapshotRow]) -> None:
    """Write ``snapshots`` in the caller's transaction; raises :class:`SnapshotChanged` if any was written
    by someone else since it was read (the transaction is then to be rolled back).

    Rows are written, and so locked, in issue order: two writers of overlapping snapshots (two instances
    during a rebalance) then wait for one another instead of deadlocking.
    """
    if not snapshots:
        return
    snapshots = sorted(snapshots, key=lambda s: s.issue_id)
    rows = await conn.fetch(
        _WRITE_SNAPSHOTS,
        [s.issue_id for s in snapshots],
        [s.version for s in snapshots],
        [s.issue for s in snapshots],
        [s.acknowledged for s in snapshots],
        [s.resolved for s in snapshots],
        [json.dumps(list(s.paged_channels)) for s in snapshots],
        [s.lifecycle_action for s in snapshots],
        [s.lifecycle_at for s in snapshots],
        [s.cycle_at for s in snapshots],
        [s.cycle_by_person for s in snapshots],
        [s.revision for s in snapshots],
        [s.lifecycle_partition for s in snapshots],
        [s.lifecycle_offset for s in snapshots],
    )
    written = {r["issue_id"] for r in rows}
    if len(written) != len(snapshots):
        raise SnapshotChanged(sorted(s.issue_id for s in snapshots if s.issue_id not in written))


class DeliveryStore:
    """asyncpg adapter of the notifier's tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def snapshots(self, issue_ids: Sequence[str]) -> dict[str, IssueSnapshotRow]:
        """The stored snapshots of these issues (absent ones are missing from the result)."""
        rows = await self._pool.fetch(
            "SELECT issue_id, version, issue::text AS issue, acknowledged, resolved, paged_channels,"
            " lifecycle_action, lifecycle_at, cycle_at, cycle_by_person, revision, lifecycle_partition,"
            " lifecycle_offset FROM notifier_issues WHERE issue_id = ANY($1::text[])",
            list(issue_ids),
        )
        return {
            r["issue_id"]: IssueSnapshotRow(
                r["issue_id"],
                r["version"],
                r["issue"],
                r["acknowledged"],
                r["resolved"],
                tuple(r["paged_channels"]),
                r["lifecycle_action"],
                r["lifecycle_at"],
                r["cycle_at"],
                r["cycle_by_person"],
                r["revision"],
                r["lifecycle_partition"],
                r["lifecycle_offset"],
            )
            for r in rows
        }

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """The keys among ``keys`` already in the log (whatever their status)."""
        rows = await self._pool.fetch("SELECT key FROM deliveries WHERE key = ANY($1::text[])", list(keys))
        return {r["key"] for r in rows}

    async def record_intake(
        self,
        *,
        snapshots: Sequence[IssueSnapshotRow],
        deliveries: Sequence[NewDelivery],
        windows: Sequence[DigestWindow],
        records: Mapping[str, OutboxMessage] | None = None,
    ) -> set[str]:
        """Store one consumed batch's outcome in one transaction; returns the keys inserted now.

        A snapshot is written only if it is still at the revision it was read at: the planning that
        made it started from what is stored. Otherwise (another instance wrote it meanwhile, as two can
        during a rebalance) nothing is stored and :class:`SnapshotChanged` is raised; overwriting would
        erase what the other wrote (a person's acknowledge, say), which carries no version. A delivery
        whose key exists is left as it is, which is what makes a replay harmless. ``records`` (by
        delivery key) are written to the outbox for the deliveries inserted now only, so a replay
        records nothing twice.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await _write_snapshots(conn, snapshots)
            await conn.executemany(
                "INSERT INTO digest_windows (digest_id, route, window_start, window_end)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (digest_id) DO NOTHING",
                [
                    (w.digest_id, w.route, w.window_start, w.window_end)
                    for w in sorted(windows, key=lambda w: w.digest_id)
                ],
            )
            rows = await conn.fetch(
                "INSERT INTO deliveries (key, issue_id, trigger_id, trigger_kind, step, channel, route,"
                " kind, status, payload, digest_id, ingested_at, trace_id, last_error)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],"
                " $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[],"
                " $12::float8[], $13::text[], $14::text[])"
                " ON CONFLICT (key) DO NOTHING RETURNING key",
                [d.key for d in deliveries],
                [d.issue_id for d in deliveries],
                [d.trigger_id for d in deliveries],
                [d.trigger_kind for d in deliveries],
                [d.step for d in deliveries],
                [d.channel for d in deliveries],
                [d.route for d in deliveries],
                [d.kind for d in deliveries],
                [d.status for d in deliveries],
                [d.payload for d in deliveries],
                [d.digest_id for d in deliveries],
                [d.ingested_at for d in deliveries],
                [d.trace_id for d in deliveries],
                [d.note for d in deliveries],
            )
            inserted = {r["key"] for r in rows}
            reported = records or {}
            await write_outbox(
                conn, [reported[d.key] for d in deliveries if d.key in inserted and d.key in reported]
            )
        return inserted

    async def claim(self, *, worker: str, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` pending deliveries whose lease is free or expired, oldest first.

        A delivery waits while an older pending delivery of the same issue on the same channel exists,
        so a resolve never overtakes its trigger. ``SKIP LOCKED`` lets several instances claim at once
        without ever claiming the same row.
        """
        if limit <= 0:
            return []
        rows = await self._pool.fetch(
            # A CTE with FOR UPDATE is evaluated once: an IN (subquery ... LIMIT) may be re-run by the
            # planner and claim more than ``limit`` rows.
            "WITH picked AS ("
            " SELECT d.key FROM deliveries d"
            " WHERE d.status = 'pending' AND (d.claimed_until IS NULL OR d.claimed_until < now())"
            " AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.status = 'pending'"
            "  AND e.issue_id = d.issue_id AND e.channel = d.channel AND e.seq < d.seq)"
            " ORDER BY d.seq LIMIT $3 FOR UPDATE SKIP LOCKED)"
            " UPDATE deliveries SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2)"
            " FROM picked WHERE deliveries.key = picked.key"
            " RETURNING deliveries.key, issue_id, trigger_id, trigger_kind, step, channel, route, kind,"
            " payload::text AS payload, attempts, digest_id, ingested_at, trace_id",
            worker,
            lease_seconds,
            limit,
        )
        return [
            ClaimedDelivery(
                r["key"],
                r["issue_id"],
                r["trigger_id"],
                r["trigger_kind"],
                r["step"],
                r["channel"],
                r["route"],
                r["kind"],
                r["payload"],
                r["attempts"],
                r["digest_id"],
                r["ingested_at"],
                r["trace_id"],
            )
            for r in rows
        ]

    async def extend(self, *, worker: str, keys: Sequence[str], lease_seconds: float) -> None:
        """Renew this worker's leases on deliveries still running."""
        await self._pool.execute(
            "UPDATE deliveries SET claimed_until = now() + make_interval(secs => $3)"
            " WHERE key = ANY($2::text[]) AND claimed_by = $1 AND status = 'pending'",
            worker,
            list(keys),
            lease_seconds,
        )

    async def release(self, *, worker: str, keys: Sequence[str]) -> None:
        """Give up this worker's leases (on shutdown), so another instance resumes at once."""
        await self._pool.execute(
            "UPDATE deliveries SET claimed_until = NULL"
            " WHERE key = ANY($2::text[]) AND claimed_by = $1 AND status = 'pending'",
            worker,
            list(keys),
        )

    async def record_attempt(
        self,
        key: str,
        *,
        attempts: int,
        status_code: int | None,
        error: str | None,
        outbox: Sequence[OutboxMessage] = (),
    ) -> None:
        """Note a failed attempt that will be retried, and write ``outbox`` with it (if still pending)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE deliveries SET attempts = $2, last_status_code = $3, last_error = $4"
                " WHERE key = $1 AND status = 'pending' RETURNING key",
                key,
                attempts,
                status_code,
                error,
            )
            if row is not None:
                await write_outbox(conn, outbox)

    async def finish(
        self,
        key: str,
        *,
        status: Literal["sent", "failed"],
        attempts: int,
        status_code: int | None,
        error: str | None,
        outbox: Sequence[OutboxMessage] = (),
    ) -> bool:
        """Move a pending delivery to ``sent`` or ``failed`` and write ``outbox`` (its outcome record,
        dead letter) in the same transaction; false, and nothing written, when it was no longer pending."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE deliveries SET status = $2, attempts = $3, last_status_code = $4, last_error = $5,"
                " sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE NULL END, claimed_until = NULL"
                " WHERE key = $1 AND status = 'pending' RETURNING key",
                key,
                status,
                attempts,
                status_code,
                error,
            )
            if row is None:
                return False
            await write_outbox(conn, outbox)
        return True

    async def pending_count(self) -> int:
        """Deliveries still pending (all instances)."""
        value = await self._pool.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'")
        return int(value)

    async def plan_digests(
        self, *, grace_seconds: float, choose: ChooseChannels, key: Callable[[str, str], str]
    ) -> list[tuple[DigestWindow, list[str]]]:
        """Turn every storm window that ended (plus ``grace_seconds``) into pending digest deliveries.

        Each due window gets one digest delivery per channel that ``choose`` picks from the channels of
        its folded rows, keyed by ``key(digest_id, channel)``; the window is then marked planned. One
        transaction, ``SKIP LOCKED``: instances never plan one window twice.

        Returns:
            The windows planned now, with their channels.
        """
        planned: list[tuple[DigestWindow, list[str]]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            windows = await conn.fetch(
                "SELECT digest_id, route, window_start, window_end FROM digest_windows"
                " WHERE planned_at IS NULL AND window_end + make_interval(secs => $1) <= now()"
                " ORDER BY window_end FOR UPDATE SKIP LOCKED",
                grace_seconds,
            )
            for w in windows:
                window = DigestWindow(w["digest_id"], w["route"], w["window_start"], w["window_end"])
                found = await conn.fetch(
                    "SELECT DISTINCT channel FROM deliveries WHERE digest_id = $1 AND status = 'digested'"
                    " ORDER BY channel",
                    window.digest_id,
                )
                channels = list(choose([r["channel"] for r in found]))
                payload = json.dumps(
                    {
                        "route": window.route,
                        "window_start": window.window_start.isoformat(),
                        "window_end": window.window_end.isoformat(),
                    }
                )
                await conn.executemany(
                    "INSERT INTO deliveries (key, issue_id, trigger_id, trigger_kind, step, channel, route,"
                    " kind, status, payload, digest_id)"
                    " VALUES ($1, $2, $2, 'digest', 0, $3, $4, 'digest', 'pending', $5::jsonb, NULL)"
                    " ON CONFLICT (key) DO NOTHING",
                    [
                        (key(window.digest_id, c), window.digest_id, c, window.route, payload)
                        for c in channels
                    ],
                )
                await conn.execute(
                    "UPDATE digest_windows SET planned_at = now() WHERE digest_id = $1", window.digest_id
                )
                planned.append((window, channels))
        return planned

    async def digest_members(self, digest_id: str) -> list[str]:
        """The triggers folded into a digest (one JSON text per trigger, whatever the channels)."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT ON (trigger_id) payload::text AS payload FROM deliveries"
            " WHERE digest_id = $1 AND status = 'digested' ORDER BY trigger_id",
            digest_id,
        )
        return [r["payload"] for r in rows]
