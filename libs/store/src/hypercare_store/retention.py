"""Data retention: what the issue store may forget once it is old, deleted in short batches.

The unit is a *closed issue*: resolved in triage before the cutoff, and quiet since then in every service
(:data:`CLOSED`). All of its rows go, from every table that holds rows of an issue, the issue itself
last. Rows that belong to no issue go by their own age: the reports and audit rows of source actions on
items no issue had, and planned storm windows with their digest deliveries. The hourly report counts that
deleting reports brought down to zero go last. ``triage_outbox`` and ``notifier_outbox`` (what Kafka has
not acknowledged yet: they must still publish it) and ``schema_migrations`` are never touched.
``docs/retention.md`` gives the reason for every table.

Choosing the cutoff is the caller's part: every row here is past its last use once no message that could
recreate its effect can still be read from Kafka or redriven from the dead-letter topic
(``hypercare retention prune`` refuses a younger cutoff).

Closed issues are found a page at a time, oldest resolved first, each page read from where the last one
ended (:data:`CANDIDATES`), so a run reads each candidate once however large ``issues`` is. Every
transaction deletes at most ``batch`` rows of one table for at most :data:`ISSUES_PER_PAGE` issues.
It first takes the SLA service's advisory lock of each of those issues, then, in its next statement,
checks that they are still closed: a person who reopens one meanwhile (the SLA service changes an issue
only under that lock) keeps it whole. Rows are picked ``FOR UPDATE SKIP LOCKED`` and deleted by ``ctid``,
so two runs at once share the work without waiting on each other's rows, and a run stopped anywhere
leaves issues the next run finishes.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import asyncpg

ISSUE_TABLES: Final = (
    "reports",
    "audit_log",
    "deliveries",
    "sla_milestones",
    "lifecycle_commands",
    "issue_refs",
    "issue_members",
    "sla_issues",
    "notifier_issues",
    "issues",
)
"""The tables holding rows of an issue (by ``issue_id``), in the order its rows are deleted: what records
its history first, its heads last, so that an issue stays findable until nothing of it is left."""

TABLES: Final = (
    "issues",
    "issue_members",
    "issue_refs",
    "reports",
    "report_hours",
    "audit_log",
    "sla_issues",
    "sla_milestones",
    "lifecycle_commands",
    "notifier_issues",
    "deliveries",
    "digest_windows",
)
"""Every table retention deletes from, in the order they are reported (by service)."""

KEPT: Final = ("triage_outbox", "notifier_outbox", "schema_migrations")
"""The tables retention never deletes from (the outboxes hold what Kafka has not acknowledged yet)."""

ISSUES_PER_PAGE: Final = 100
"""Issues a transaction deletes rows of; each is one advisory lock held until it commits."""

CLOSED: Final = """
i.status = 'resolved' AND i.resolved_at < $1 AND i.last_seen < $1 AND i.updated_at < $1
AND NOT EXISTS (SELECT 1 FROM triage_outbox o WHERE o.issue_id = i.issue_id)
AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.issue_id = i.issue_id
                AND (r.received_at >= $1 OR r.stored_at >= $1))
AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.issue_id = i.issue_id AND a.at >= $1)
AND NOT EXISTS (SELECT 1 FROM sla_issues s WHERE s.issue_id = i.issue_id
                AND (s.status <> 'resolved' OR s.updated_at >= $1))
AND NOT EXISTS (SELECT 1 FROM sla_milestones m WHERE m.issue_id = i.issue_id
                AND (m.emitted_at IS NULL OR m.emitted_at >= $1 OR m.due_at >= $1))
AND NOT EXISTS (SELECT 1 FROM lifecycle_commands c WHERE c.issue_id = i.issue_id AND c.handled_at >= $1)
AND NOT EXISTS (SELECT 1 FROM notifier_issues n WHERE n.issue_id = i.issue_id AND n.updated_at >= $1)
AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.issue_id = i.issue_id
                AND (d.status = 'pending' OR d.created_at >= $1 OR d.sent_at >= $1))
"""
"""Whether the issue ``i`` is closed as of the cutoff ``$1``: resolved, and nothing of it written, planned,
waiting or still to be sent since, in triage, the SLA service or the notifier."""

CANDIDATES: Final = f"""
SELECT i.resolved_at, i.issue_id, ({CLOSED}) AS closed FROM (
    SELECT issue_id, status, resolved_at, last_seen, updated_at FROM issues
    WHERE status = 'resolved' AND resolved_at < $1 AND (resolved_at, issue_id) > ($2, $3)
    ORDER BY resolved_at, issue_id LIMIT {ISSUES_PER_PAGE}
) i
ORDER BY i.resolved_at, i.issue_id
"""  # noqa: S608 - assembled from constants; values are bound parameters
"""The next :data:`ISSUES_PER_PAGE` issues resolved before the cutoff ``$1`` after the position
(``resolved_at``, ``issue_id``) ``($2, $3)``, each with whether it is closed. The index of migration
``0013`` holds them in that order, so a page reads its own 100 issues, not every issue (a sequential scan
of ``issues`` per page: 1.4 to 3.3 s on 1.27M issues). The limit is written in, not bound: with a bound
limit, the generic plan of the prepared statement guesses a tenth of the candidates and reads all of them
for each page (a bitmap scan and a sort)."""

_FIRST: Final = (datetime.min.replace(tzinfo=UTC), "")
"""A position before every issue."""

_SLA_LOCKS: Final = "SELECT pg_advisory_xact_lock(hashtextextended(id, 0)) FROM unnest($1::text[]) AS id"
"""The SLA service's per-issue session lock (``hypercare_store.sla.PgSlaStore.session``), in the order
given (sorted, so two runs never wait on each other in opposite orders)."""


def _issue_rows(table: str) -> str:
    """Delete up to ``$3`` rows of ``table`` of the issues among ``$2`` still closed as of ``$1``."""
    return f"""
WITH closed AS (SELECT i.issue_id FROM issues i WHERE i.issue_id = ANY($2::text[]) AND {CLOSED}),
gone AS (
    DELETE FROM {table} WHERE ctid = ANY(ARRAY(
        SELECT t.ctid FROM {table} t WHERE t.issue_id IN (SELECT issue_id FROM closed)
        LIMIT $3 FOR UPDATE OF t SKIP LOCKED))
    RETURNING 1
)
SELECT count(*) FROM gone
"""  # noqa: S608 - assembled from constants; values are bound parameters


_UNLINKED: Final = {
    "reports": "issue_id IS NULL AND received_at < $1 AND stored_at < $1",
    "audit_log": "issue_id IS NULL AND at < $1",
    "notifier_issues": (
        "issue IS NULL AND updated_at < $1"
        " AND NOT EXISTS (SELECT 1 FROM issues i WHERE i.issue_id = notifier_issues.issue_id)"
    ),
}
"""Rows of no issue, by age: a source's resolve or acknowledge of an item no issue had; a person's
acknowledge or resolve the notifier remembered for a decision that never came."""

_EMPTY_HOURS: Final = "hour < $1 AND reports = 0"
"""Hourly counts that deleting reports brought down to zero (a report of that hour coming later would
only add the row back)."""

_DONE_WINDOWS: Final = """
w.planned_at < $1 AND w.window_end < $1
AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.issue_id = w.digest_id
                AND (d.status = 'pending' OR d.created_at >= $1))
"""
"""Storm windows whose digest was planned, and whose digest deliveries (keyed by the window's
``digest_id`` as their issue id) are done, before the cutoff."""


def _rows_by_age(table: str, where: str) -> str:
    return f"""
WITH gone AS (
    DELETE FROM {table} WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM {table} WHERE {where} LIMIT $2 FOR UPDATE SKIP LOCKED))
    RETURNING 1
)
SELECT count(*) FROM gone
"""  # noqa: S608 - assembled from constants; values are bound parameters


_DIGESTS: Final = f"""
WITH windows AS (
    SELECT w.digest_id FROM digest_windows w WHERE {_DONE_WINDOWS}
    ORDER BY w.window_end LIMIT $2 FOR UPDATE SKIP LOCKED
), sent AS (
    DELETE FROM deliveries d USING windows w
    WHERE d.issue_id = w.digest_id AND d.trigger_kind = 'digest'
    RETURNING 1
), gone AS (
    DELETE FROM digest_windows x USING windows w WHERE x.digest_id = w.digest_id RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS windows, (SELECT count(*) FROM sent) AS deliveries
"""  # noqa: S608 - assembled from constants; values are bound parameters

_COUNT_DIGESTS: Final = f"""
SELECT count(*) AS windows,
       (SELECT count(*) FROM deliveries d JOIN digest_windows w ON d.issue_id = w.digest_id
        WHERE d.trigger_kind = 'digest' AND {_DONE_WINDOWS}) AS deliveries
FROM digest_windows w WHERE {_DONE_WINDOWS}
"""  # noqa: S608 - assembled from constants; values are bound parameters

_COUNT_EMPTIED_HOURS: Final = f"""
WITH closed AS (SELECT i.issue_id FROM issues i WHERE {CLOSED}),
gone AS (
    SELECT date_bin('1 hour', received_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour, source, rating,
           ceil(sentiment::numeric * 100)::smallint AS sentiment_ceil, count(*) AS n
    FROM reports r
    WHERE coalesce(r.action, 'report') = 'report'
      AND (r.issue_id IN (SELECT issue_id FROM closed) OR ({_UNLINKED["reports"]}))
    GROUP BY 1, 2, 3, 4
)
SELECT count(*) FROM report_hours h
LEFT JOIN gone g ON g.hour = h.hour AND g.source = h.source
    AND g.rating IS NOT DISTINCT FROM h.rating AND g.sentiment_ceil IS NOT DISTINCT FROM h.sentiment_ceil
WHERE h.hour < $1 AND h.reports = coalesce(g.n, 0)
"""  # noqa: S608 - assembled from constants; values are bound parameters
"""The hourly counts the deletions would bring to zero (``migrations/0008`` counts the reports alike)."""


@dataclass(frozen=True)
class Deleted:
    """Rows of one table deleted by one batch (or that would be, in a dry run)."""

    table: str
    rows: int


async def prune(
    pool: asyncpg.Pool, *, cutoff: datetime, batch: int = 1000, dry_run: bool = False
) -> AsyncIterator[Deleted]:
    """Delete closed issues' rows and rows of no issue older than ``cutoff``, batch by batch.

    Args:
        pool: a pool on the migrated issue store.
        cutoff: nothing written, planned or sent at or after this instant is deleted, nor anything of an
            issue that has such a row (timezone-aware).
        batch: at most this many rows per statement and transaction (at least 1).
        dry_run: count what would be deleted instead, batch by batch as well, deleting nothing.

    Yields:
        What each batch deleted (or would), as it goes: a caller that stops iterating, or a failure,
        leaves the store consistent, and a later run finishes the work.

    Raises:
        ValueError: ``batch`` below 1 or ``cutoff`` without a time zone.
        asyncpg.PostgresError: the database refused a statement (for instance, not migrated).
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be timezone-aware")
    async for page in _closed_pages(pool, cutoff):
        for table in ISSUE_TABLES:
            if dry_run:
                count = f"SELECT count(*) FROM {table} WHERE issue_id = ANY($1::text[])"  # noqa: S608
                yield Deleted(table, int(await pool.fetchval(count, page)))
                continue
            async for deleted in _issue_batches(pool, table, page, cutoff, batch):
                yield deleted
    for table, where in _UNLINKED.items():
        async for deleted in _by_age(pool, table, where, cutoff=cutoff, batch=batch, dry_run=dry_run):
            yield deleted
    async for deleted in _digests(pool, cutoff, batch, dry_run):
        yield deleted
    if dry_run:
        yield Deleted("report_hours", int(await pool.fetchval(_COUNT_EMPTIED_HOURS, cutoff)))
    else:
        async for deleted in _by_age(
            pool, "report_hours", _EMPTY_HOURS, cutoff=cutoff, batch=batch, dry_run=False
        ):
            yield deleted


async def prune_counts(
    pool: asyncpg.Pool, *, cutoff: datetime, batch: int = 1000, dry_run: bool = False
) -> dict[str, int]:
    """:func:`prune` run to its end: the rows deleted (or that would be) per table of :data:`TABLES`."""
    counts = dict.fromkeys(TABLES, 0)
    async for deleted in prune(pool, cutoff=cutoff, batch=batch, dry_run=dry_run):
        counts[deleted.table] += deleted.rows
    return counts


async def _closed_pages(pool: asyncpg.Pool, cutoff: datetime) -> AsyncIterator[list[str]]:
    """The closed issues, a page of candidates at a time (a page may hold none: it is skipped)."""
    after = _FIRST
    while candidates := await pool.fetch(CANDIDATES, cutoff, *after):
        after = (candidates[-1]["resolved_at"], candidates[-1]["issue_id"])
        if page := [r["issue_id"] for r in candidates if r["closed"]]:
            yield page
        if len(candidates) < ISSUES_PER_PAGE:
            return


async def _issue_batches(
    pool: asyncpg.Pool, table: str, page: Sequence[str], cutoff: datetime, batch: int
) -> AsyncIterator[Deleted]:
    statement = _issue_rows(table)
    while True:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_SLA_LOCKS, sorted(page))
            rows = int(await conn.fetchval(statement, cutoff, list(page), batch))
        if rows:
            yield Deleted(table, rows)
        if rows < batch:
            return


async def _by_age(
    pool: asyncpg.Pool, table: str, where: str, *, cutoff: datetime, batch: int, dry_run: bool
) -> AsyncIterator[Deleted]:
    if dry_run:
        count = f"SELECT count(*) FROM {table} WHERE {where}"  # noqa: S608 - constants
        yield Deleted(table, int(await pool.fetchval(count, cutoff)))
        return
    statement = _rows_by_age(table, where)
    while (rows := int(await pool.fetchval(statement, cutoff, batch))) > 0:
        yield Deleted(table, rows)
        if rows < batch:
            return


async def _digests(pool: asyncpg.Pool, cutoff: datetime, batch: int, dry_run: bool) -> AsyncIterator[Deleted]:
    if dry_run:
        row = await pool.fetchrow(_COUNT_DIGESTS, cutoff)
        assert row is not None  # an aggregate always returns one row
        yield Deleted("digest_windows", int(row["windows"]))
        yield Deleted("deliveries", int(row["deliveries"]))
        return
    while True:
        row = await pool.fetchrow(_DIGESTS, cutoff, batch)
        assert row is not None  # an aggregate always returns one row
        windows, deliveries = int(row["windows"]), int(row["deliveries"])
        if windows:
            yield Deleted("digest_windows", windows)
            yield Deleted("deliveries", deliveries)
        if windows < batch:
            return
