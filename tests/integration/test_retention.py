"""``hypercare retention prune`` on a real, migrated PostgreSQL: exactly which rows go, and which stay."""

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypercare_cli.main import main
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_store.retention import CANDIDATES, ISSUES_PER_PAGE, TABLES, prune_counts

from tests.support.kafka import wait_for

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
CUTOFF = NOW - timedelta(days=120)
OLD = (NOW - timedelta(days=200)).replace(minute=30, second=0, microsecond=0)
"""Well before the cutoff (in the middle of an hour)."""
OLD_HOUR = OLD.replace(minute=0)
RECENT = NOW - timedelta(days=10)
"""After the cutoff."""

KEYS = {
    "issues": "issue_id",
    "issue_members": "issue_id || ':' || kind || ':' || seq",
    "issue_refs": "source_ref",
    "reports": "event_id",
    "audit_log": "dedup_key",
    "sla_issues": "issue_id",
    "sla_milestones": "key",
    "lifecycle_commands": "command_id",
    "notifier_issues": "issue_id",
    "deliveries": "key",
    "digest_windows": "digest_id",
    "triage_outbox": "decision_id",
}
"""What names a row of each table in the assertions."""


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh, migrated store."""
    pool = await open_pool(database_url, max_size=4)
    await apply_migrations(pool)
    try:
        yield pool
    finally:
        await pool.close()


@dataclass
class Store:
    """Inserts rows and remembers each one's name, and whether the prune is expected to delete it."""

    pool: asyncpg.Pool
    gone: dict[str, dict[str, bool]] = field(default_factory=lambda: defaultdict(dict))
    """Per table, each row's name and whether the prune should delete it."""
    owners: dict[str, str] = field(default_factory=dict)
    """The issue each row of an issue belongs to, by ``table/name``."""

    async def insert(self, table: str, gone: bool, **row: Any) -> None:
        columns = ", ".join(row)
        values = ", ".join(f"${i}" for i in range(1, len(row) + 1))
        name = str(
            await self.pool.fetchval(
                f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {KEYS[table]}", *row.values()
            )
        )
        self.gone[table][name] = gone
        if row.get("issue_id") is not None:
            self.owners[f"{table}/{name}"] = row["issue_id"]

    def keep(self, issue_id: str) -> None:
        """Expect every row of ``issue_id`` to stay."""
        for table, rows in self.gone.items():
            for name in rows:
                if self.owners.get(f"{table}/{name}") == issue_id:
                    rows[name] = False

    def expected(self, table: str, *, after: bool) -> set[str]:
        return {name for name, gone in self.gone[table].items() if not (after and gone)}

    def deleted(self) -> dict[str, int]:
        """The rows expected gone per table, ``report_hours`` apart."""
        counts = dict.fromkeys(TABLES, 0)
        for table, rows in self.gone.items():
            if table in TABLES:
                counts[table] = sum(rows.values())
        del counts["report_hours"]
        return counts

    async def stored(self, table: str) -> set[str]:
        return {str(r[0]) for r in await self.pool.fetch(f"SELECT {KEYS[table]} FROM {table}")}

    async def issue(
        self, issue_id: str, gone: bool, *, status: str = "resolved", at: datetime = OLD, **tweaks: Any
    ) -> None:
        """An issue with a row in every table that holds rows of an issue, all written at ``at``.

        ``tweaks`` change one fact: ``sla_status``, ``milestone_emitted`` (None: still planned),
        ``delivery_status``, ``notifier_updated``, ``report_received``, ``audit_at``, ``command_handled``,
        ``outbox`` (a decision Kafka has not confirmed).
        """
        await self.insert(
            "issues",
            gone,
            issue_id=issue_id,
            fingerprint=f"fp-{issue_id}",
            component="checkout",
            environment="production",
            title="Checkout fails",
            status=status,
            severity="high",
            impact=10.0,
            route="payments",
            team="payments",
            occurrences=2,
            distinct_reporters=1,
            version=3,
            opened=True,
            first_seen=at - timedelta(hours=2),
            last_seen=at - timedelta(hours=1),
            resolved_at=at if status == "resolved" else None,
            state="{}",
            updated_at=at,
        )
        for kind, value in ((0, f"zendesk:{issue_id}"), (2, "user-1"), (3, '{"at": "x"}')):
            await self.insert("issue_members", gone, issue_id=issue_id, kind=kind, seq=1 << 24, value=value)
        await self.insert("issue_refs", gone, source_ref=f"zendesk:{issue_id}", issue_id=issue_id)
        for n, action in enumerate(("report", "resolve")):
            received = tweaks.get("report_received", at) if n == 0 else at
            await self.report(f"{issue_id}-r{n}", gone, issue_id=issue_id, at=received, action=action)
        await self.insert(
            "audit_log",
            gone,
            dedup_key=f"{issue_id}:audit",
            issue_id=issue_id,
            at=tweaks.get("audit_at", at),
            action="issue.resolved",
            actor="triage",
        )
        await self.insert(
            "sla_issues",
            gone,
            issue_id=issue_id,
            cycle=1,
            status=tweaks.get("sla_status", status),
            severity="high",
            route="payments",
            team="payments",
            opened_at=at - timedelta(hours=2),
            resolved_at=at if status == "resolved" else None,
            version=2,
            updated_at=at,
        )
        emitted = tweaks.get("milestone_emitted", at)
        await self.insert(
            "sla_milestones",
            gone,
            key=f"{issue_id}:1:response:met",
            issue_id=issue_id,
            kind="met",
            due_at=at - timedelta(hours=1),
            emitted_at=emitted,
            event="{}",
        )
        await self.insert(
            "lifecycle_commands",
            gone,
            command_id=f"{issue_id}:resolve",
            issue_id=issue_id,
            action="resolve",
            outcome="applied",
            result="{}",
            handled_at=tweaks.get("command_handled", at),
        )
        await self.insert(
            "notifier_issues",
            gone,
            issue_id=issue_id,
            version=3,
            resolved=status == "resolved",
            updated_at=tweaks.get("notifier_updated", at),
        )
        status_of_delivery = tweaks.get("delivery_status", "sent")
        await self.delivery(
            f"{issue_id}:page", gone, issue_id=issue_id, kind="decision", status=status_of_delivery, at=at
        )
        if tweaks.get("outbox"):
            await self.insert(
                "triage_outbox",
                False,
                decision_id=f"{issue_id}:4",
                issue_id=issue_id,
                payload="{}",
                created_at=at,
            )

    async def report(
        self, event_id: str, gone: bool, *, issue_id: str | None, at: datetime, action: str
    ) -> None:
        await self.insert(
            "reports",
            gone,
            event_id=event_id,
            issue_id=issue_id,
            fingerprint="fp",
            source="tickets",
            source_format="zendesk",
            merged_by="new",
            occurred_at=at,
            received_at=at,
            report=json.dumps({"action": action, "signals": {"rating": 2}, "sentiment": -0.5}),
            stored_at=at,
        )

    async def delivery(
        self, key: str, gone: bool, *, issue_id: str, kind: str, status: str, at: datetime
    ) -> None:
        await self.insert(
            "deliveries",
            gone,
            key=key,
            issue_id=issue_id,
            trigger_id=f"{issue_id}:3",
            trigger_kind=kind,
            channel="console",
            route="payments",
            status=status,
            payload="{}",
            created_at=at,
            sent_at=at if status == "sent" else None,
        )

    async def window(self, digest_id: str, gone: bool, *, planned: datetime | None, delivery: str) -> None:
        await self.insert(
            "digest_windows",
            gone,
            digest_id=digest_id,
            route="payments",
            window_start=OLD - timedelta(minutes=5),
            window_end=OLD,
            planned_at=planned,
        )
        if planned is not None:
            await self.delivery(
                f"{digest_id}:console", gone, issue_id=digest_id, kind="digest", status=delivery, at=planned
            )


async def fill(pool: asyncpg.Pool) -> Store:
    """Old and new rows of every kind; the names say why each stays or goes."""
    store = Store(pool)
    await store.issue("closed-long-ago", True)
    await store.issue("closed-long-ago-2", True)
    await store.issue("open", False, status="open")
    await store.issue("acknowledged", False, status="acknowledged")
    await store.issue("resolved-recently", False, at=RECENT)
    await store.issue("reopened-by-a-person", False, sla_status="open")
    await store.issue("milestone-planned", False, milestone_emitted=None)
    await store.issue("milestone-emitted-recently", False, milestone_emitted=RECENT)
    await store.issue("delivery-pending", False, delivery_status="pending")
    await store.issue("snapshot-changed-recently", False, notifier_updated=RECENT)
    await store.issue("report-received-recently", False, report_received=RECENT)
    await store.issue("audited-recently", False, audit_at=RECENT)
    await store.issue("command-handled-recently", False, command_handled=RECENT)
    await store.issue("decision-unconfirmed", False, outbox=True)
    # Reports and audit rows of no issue: a source's resolve of an item no issue had.
    await store.report("unlinked-old", True, issue_id=None, at=OLD, action="resolve")
    await store.report(
        "unlinked-old-report", True, issue_id=None, at=OLD - timedelta(hours=3), action="report"
    )
    await store.report("unlinked-recent", False, issue_id=None, at=RECENT, action="resolve")
    await store.insert(
        "audit_log", True, dedup_key="unlinked-old", issue_id=None, at=OLD, action="report.ignored", actor="t"
    )
    await store.insert(
        "audit_log",
        False,
        dedup_key="unlinked-recent",
        issue_id=None,
        at=RECENT,
        action="report.ignored",
        actor="t",
    )
    # The notifier's memory of a person's acknowledge for a decision that never came: old goes, recent stays;
    # one of an issue that exists goes only with that issue.
    await store.insert("notifier_issues", True, issue_id="remembered-old", version=0, updated_at=OLD)
    await store.insert("notifier_issues", False, issue_id="remembered-recent", version=0, updated_at=RECENT)
    # Storm windows: planned and sent long ago go; one never planned, or whose digest is still to send, stays.
    await store.window("digest-sent", True, planned=OLD, delivery="sent")
    await store.window("digest-failed", True, planned=OLD, delivery="failed")
    await store.window("digest-pending", False, planned=OLD, delivery="pending")
    await store.window("digest-unplanned", False, planned=None, delivery="")
    await store.window("digest-planned-recently", False, planned=RECENT, delivery="sent")
    return store


async def hours(pool: asyncpg.Pool) -> dict[tuple[datetime, int | None], int]:
    rows = await pool.fetch("SELECT hour, rating, reports FROM report_hours")
    return {(r["hour"], r["rating"]): r["reports"] for r in rows}


async def counted_from_reports(pool: asyncpg.Pool) -> dict[tuple[datetime, int | None], int]:
    rows = await pool.fetch(
        "SELECT date_bin('1 hour', received_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour, rating,"
        " count(*) AS n FROM reports WHERE coalesce(action, 'report') = 'report' GROUP BY 1, 2"
    )
    return {(r["hour"], r["rating"]): r["n"] for r in rows}


def without_hours(counts: dict[str, int]) -> dict[str, int]:
    return {table: rows for table, rows in counts.items() if table != "report_hours"}


async def test_prune_deletes_closed_issues_and_old_rows_of_no_issue_and_nothing_else(
    pool: asyncpg.Pool,
) -> None:
    store = await fill(pool)
    before = await hours(pool)

    forecast = await prune_counts(pool, cutoff=CUTOFF, dry_run=True)

    for table in KEYS:
        assert await store.stored(table) == store.expected(table, after=False), f"the dry run deleted {table}"
    assert await hours(pool) == before

    counts = await prune_counts(pool, cutoff=CUTOFF, batch=2)

    for table in KEYS:
        assert await store.stored(table) == store.expected(table, after=True), table
    assert without_hours(counts) == store.deleted()
    after = await hours(pool)
    assert after == await counted_from_reports(pool), "the hourly counts still match the reports"
    assert after[(OLD_HOUR, 2)] == before[(OLD_HOUR, 2)] - 2, "the two closed issues' reports left that hour"
    assert set(before) - set(after) == {(OLD_HOUR - timedelta(hours=3), 2)}, "an emptied hour goes"
    assert counts["report_hours"] == 1
    assert forecast == counts, "the dry run foretold every count"

    assert await prune_counts(pool, cutoff=CUTOFF) == dict.fromkeys(TABLES, 0), "a second run finds nothing"


async def test_two_runs_at_once_share_the_work(database_url: str, pool: asyncpg.Pool) -> None:
    store = await fill(pool)
    other = await open_pool(database_url, max_size=2)
    try:
        first, second = await asyncio.gather(
            prune_counts(pool, cutoff=CUTOFF, batch=1), prune_counts(other, cutoff=CUTOFF, batch=1)
        )
    finally:
        await other.close()

    for table in KEYS:
        assert await store.stored(table) == store.expected(table, after=True), table
    together = {table: first[table] + second[table] for table in TABLES}
    assert without_hours(together) == store.deleted()
    assert together["report_hours"] == 1, "each emptied hour deleted once"
    assert await hours(pool) == await counted_from_reports(pool)


async def test_an_issue_reopened_while_the_prune_waits_for_it_keeps_every_row(pool: asyncpg.Pool) -> None:
    store = await fill(pool)
    waiting = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    async with pool.acquire() as sla:
        # What the SLA service does when a person reopens an issue: its per-issue session lock, then the clock.
        transaction = sla.transaction()
        await transaction.start()
        await sla.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "closed-long-ago")
        pruning = asyncio.create_task(prune_counts(pool, cutoff=CUTOFF))
        await wait_for(lambda: pool.fetchval(waiting), timeout=30, what="the prune waiting for the issue")
        await sla.execute(
            "UPDATE sla_issues SET status = 'open', updated_at = now() WHERE issue_id = $1", "closed-long-ago"
        )
        await transaction.commit()
        counts = await pruning

    store.keep("closed-long-ago")
    for table in KEYS:
        assert await store.stored(table) == store.expected(table, after=True), table
    assert counts["issues"] == 1, "the other closed issue went"


async def test_the_command_prints_what_it_deletes_per_table(
    pool: asyncpg.Pool, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = await fill(pool)
    argv = ["retention", "prune", "--database-url", database_url, "--batch", "3"]

    assert await asyncio.to_thread(main, [*argv, "--dry-run"]) == 0
    assert await store.stored("issues") == store.expected("issues", after=False)
    assert await asyncio.to_thread(main, argv) == 0

    dry_run, done = capsys.readouterr().out.split("Closed issues' data")[1:]
    for output, verb in ((dry_run, "would delete"), (done, "deleted")):
        lines = output.splitlines()
        assert "older than 130d" in lines[0]
        printed = dict(line.split() for line in lines[1:-1])
        assert {table: int(rows.replace(",", "")) for table, rows in printed.items()} == store.deleted() | {
            "report_hours": 1
        }
        assert lines[-1] == f"{verb} 35 rows; never pruned: triage_outbox, notifier_outbox, schema_migrations"
    assert await store.stored("issues") == store.expected("issues", after=True)


async def many_issues(pool: asyncpg.Pool, prefix: str, count: int, *, resolved_at: datetime) -> list[str]:
    """``count`` resolved issues with no other row, all resolved (and last changed) at ``resolved_at``."""
    rows = await pool.fetch(
        "INSERT INTO issues (issue_id, fingerprint, component, environment, title, status, severity, impact,"
        " route, team, occurrences, distinct_reporters, version, opened, first_seen, last_seen, resolved_at,"
        " state, updated_at)"
        " SELECT $1 || '-' || md5(n::text), 'fp', 'checkout', 'production', 'Checkout fails', 'resolved',"
        " 'high', 10, 'payments', 'payments', 1, 1, 1, true, $3, $3, $3, '{}', $3"
        " FROM generate_series(1, $2) AS n RETURNING issue_id",
        prefix,
        count,
        resolved_at,
    )
    return [r[0] for r in rows]


def rows_read(plan: dict[str, Any], table: str) -> int:
    """The rows of ``table`` an ``EXPLAIN (ANALYZE, FORMAT JSON)`` plan read, kept or filtered out."""
    read = 0
    if plan.get("Relation Name") == table:
        loops = plan["Actual Loops"]
        read += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * loops
        read += plan.get("Rows Removed by Index Recheck", 0)
    return read + sum(rows_read(child, table) for child in plan.get("Plans", []))


async def test_a_page_of_closed_issues_reads_its_own_issues_however_many_others_there_are(
    pool: asyncpg.Pool,
) -> None:
    # Most issues of a store that has run for a while were resolved within the age: none is a candidate.
    await many_issues(pool, "resolved-recently", 3000, resolved_at=RECENT)
    closed = await many_issues(pool, "closed", 10 * ISSUES_PER_PAGE, resolved_at=OLD)
    await pool.execute("ANALYZE issues")

    # The statement a prune reads each page of candidates with, from the start (before every issue).
    args = (CUTOFF, datetime.min.replace(tzinfo=UTC), "")
    explained = await pool.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {CANDIDATES}", *args)
    page = await pool.fetch(CANDIDATES, *args)

    assert rows_read(json.loads(explained)[0]["Plan"], "issues") <= ISSUES_PER_PAGE, (
        "a page reads its candidates, not every issue"
    )
    assert [r["issue_id"] for r in page] == sorted(closed)[:ISSUES_PER_PAGE]
    assert all(r["closed"] for r in page)


async def test_closed_issues_beyond_a_page_go_and_those_between_them_not_closed_stay(
    pool: asyncpg.Pool,
) -> None:
    # Many resolved at the very same instant (pages go on by issue id too), some just after, and between
    # them (by id), more than a page of old issues something touched within the age.
    closed = await many_issues(pool, "closed", ISSUES_PER_PAGE + 30, resolved_at=OLD)
    closed += await many_issues(pool, "closed-later", ISSUES_PER_PAGE, resolved_at=OLD + timedelta(hours=1))
    touched = await many_issues(pool, "touched", 2 * ISSUES_PER_PAGE + 10, resolved_at=OLD)
    await pool.executemany(
        "INSERT INTO audit_log (dedup_key, issue_id, at, action, actor) VALUES ($1, $1, $2, 'issue.noted', 't')",
        [(issue_id, RECENT) for issue_id in touched],
    )
    recent = await many_issues(pool, "resolved-recently", 20, resolved_at=RECENT)

    forecast = await prune_counts(pool, cutoff=CUTOFF, dry_run=True)
    counts = await prune_counts(pool, cutoff=CUTOFF)

    assert {r[0] for r in await pool.fetch("SELECT issue_id FROM issues")} == {*touched, *recent}
    assert counts["issues"] == forecast["issues"] == len(closed)
