"""Exit facts read from a migrated PostgreSQL store, and ``hypercare exit-report`` against it."""

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypercare_cli.main import main
from hypercare_contracts.common import Severity
from hypercare_domain.exit import ExitFacts, ExitPolicy
from hypercare_runtime.db import apply_migrations, load_migrations, open_pool
from hypercare_store.exit_facts import gather_exit_facts
from hypercare_store.exit_metrics import ExitReadinessCollector, refresh_exit_metrics
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh, migrated store."""
    pool = await open_pool(database_url, max_size=2)
    await apply_migrations(pool)
    try:
        yield pool
    finally:
        await pool.close()


async def add_issue(pool: asyncpg.Pool, issue_id: str, **overrides: Any) -> None:
    """Insert an open, medium issue from tickets; overrides replace columns, ``state`` merges."""
    state: dict[str, Any] = {"sources": ["tickets"], "signals": {}}
    state.update(overrides.pop("state", {}))
    row: dict[str, Any] = {
        "issue_id": issue_id,
        "fingerprint": f"fp-{issue_id}",
        "component": "checkout",
        "environment": "production",
        "title": "Checkout fails",
        "status": "open",
        "severity": "medium",
        "impact": 10.0,
        "route": "payments",
        "team": "payments",
        "occurrences": 1,
        "distinct_reporters": 1,
        "version": 1,
        "opened": True,
        "suppressed_by": None,
        "first_seen": AS_OF - timedelta(days=3),
        "last_seen": AS_OF - timedelta(days=1),
        "state": json.dumps(state),
    }
    row.update(overrides)
    columns = ", ".join(row)
    values = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    await pool.execute(f"INSERT INTO issues ({columns}) VALUES ({values})", *row.values())


async def add_report(
    pool: asyncpg.Pool, event_id: str, *, age: timedelta, source: str = "feedback", **report: Any
) -> None:
    """Insert a report received ``age`` before AS_OF; ``report`` fields go into the JSONB document."""
    document: dict[str, Any] = {"action": "report", "signals": {}}
    document.update(report)
    await pool.execute(
        "INSERT INTO reports (event_id, issue_id, fingerprint, source, source_format, merged_by, occurred_at,"
        " received_at, report) VALUES ($1, NULL, 'fp', $2, $2, 'new', $3, $3, $4)",
        event_id,
        source,
        AS_OF - age,
        json.dumps(document),
    )


async def add_milestone(pool: asyncpg.Pool, key: str, kind: str, emitted_at: datetime | None) -> None:
    """Insert an SLA milestone (emitted or still planned)."""
    await pool.execute(
        "INSERT INTO sla_milestones (key, issue_id, kind, target, due_at, emitted_at, event)"
        " VALUES ($1, 'i', $2, 'response', $3, $4, '{}'::jsonb)",
        key,
        kind,
        emitted_at or AS_OF,
        emitted_at,
    )


async def test_facts_count_what_the_store_holds(pool: asyncpg.Pool) -> None:
    await add_issue(pool, "crit", severity="critical")
    await add_issue(pool, "high", severity="high")
    await add_issue(pool, "high-resolved", severity="high", status="resolved")
    await add_issue(pool, "high-suppressed", severity="high", suppressed_by="maintenance")
    await add_issue(pool, "high-pending", severity="high", opened=False)
    await add_issue(pool, "medium-acked", status="acknowledged")
    await add_issue(
        pool,
        "alert",
        severity="high",
        state={"sources": ["alerts"], "signals": {"alert_severity": "Critical"}},
    )
    await add_issue(pool, "warning", state={"sources": ["alerts"], "signals": {"alert_severity": "warning"}})
    for i, (kind, days_ago) in enumerate(
        [("breached", 1), ("met", 2), ("met", 3), ("met", 9), ("at_risk", 1)]
    ):
        await add_milestone(pool, f"m{i}", kind, AS_OF - timedelta(days=days_ago))
    await add_milestone(pool, "planned", "breached", None)
    # last 24 hours: 2 feedback (one rated 1), 1 alert; 3 days ago: 1 ticket rated 2; 8 days ago: outside
    await add_report(pool, "r1", age=timedelta(hours=1), signals={"rating": 1})
    await add_report(pool, "r2", age=timedelta(hours=23), signals={"rating": 4})
    await add_report(pool, "r3", age=timedelta(hours=2), source="alerts")
    await add_report(pool, "r4", age=timedelta(days=3, hours=1), source="tickets", signals={"rating": 2})
    await add_report(pool, "r5", age=timedelta(days=8))
    await add_report(pool, "r6", age=timedelta(hours=3), action="resolve", signals={"rating": 1})
    await add_report(pool, "r7", age=-timedelta(hours=1))
    # 5 days ago: an unrated post whose wording is negative, and a positive one
    await add_report(pool, "r8", age=timedelta(days=5, hours=2), source="social", sentiment=-0.62)
    await add_report(pool, "r9", age=timedelta(days=5, hours=3), source="social", sentiment=0.4)

    facts = await gather_exit_facts(pool, ExitPolicy(), as_of=AS_OF)

    assert facts.open_issues == {Severity.CRITICAL: 1, Severity.HIGH: 2, Severity.MEDIUM: 2}
    assert (facts.sla_breached, facts.sla_met) == (1, 2)
    assert facts.daily_reports == (0, 2, 0, 1, 0, 0, 3)
    assert facts.daily_feedback == (0, 2, 0, 1, 0, 0, 2)
    assert facts.daily_negative == (0, 1, 0, 1, 0, 0, 1)
    assert facts.firing_critical_alerts == 1


async def test_a_day_is_the_24_hours_before_its_end(pool: asyncpg.Pool) -> None:
    """Each day of the series ends where the next begins: a report exactly 24 hours old is the day
    before's, one exactly at the evaluation instant is today's, and one exactly ``days`` old is out."""
    await add_report(pool, "now", age=timedelta(0))
    await add_report(pool, "almost-a-day", age=timedelta(days=1) - timedelta(microseconds=1))
    await add_report(pool, "a-day", age=timedelta(days=1))
    await add_report(pool, "six-days", age=timedelta(days=6, hours=23, minutes=59))
    await add_report(pool, "seven-days", age=timedelta(days=7))

    facts = await gather_exit_facts(pool, ExitPolicy(), as_of=AS_OF)

    assert facts.daily_reports == (1, 0, 0, 0, 0, 1, 2)


async def test_refresh_exports_the_verdict(pool: asyncpg.Pool) -> None:
    registry = CollectorRegistry()
    collector = ExitReadinessCollector(registry)
    await add_issue(pool, "crit", severity="critical")

    verdict = await refresh_exit_metrics(pool, collector, ExitPolicy(), now=AS_OF)

    assert not verdict.ready
    assert registry.get_sample_value("hypercare_exit_ready") == 0
    assert (
        registry.get_sample_value("hypercare_exit_criterion_value", {"criterion": "open_blocking_issues"})
        == 1
    )


async def test_exit_report_command_on_a_calm_store(
    pool: asyncpg.Pool, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # the command runs its own event loop (asyncio.run), so the tests call it from a worker thread
    for day, count in enumerate((5, 4, 3, 2, 1, 1, 0)):
        for n in range(count):
            await add_report(pool, f"d{day}-{n}", age=timedelta(days=6 - day, hours=1), signals={"rating": 5})
    await add_milestone(pool, "met", "met", AS_OF - timedelta(days=1))

    argv = ["exit-report", "--database-url", database_url, "--as-of", AS_OF.isoformat()]
    assert await asyncio.to_thread(main, [*argv, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ready"] is True

    await add_issue(pool, "high", severity="high")
    assert await asyncio.to_thread(main, argv) == 1
    out = capsys.readouterr().out
    assert "✗ No open critical/high issues" in out
    assert out.rstrip().endswith("Verdict: NOT READY (1 of 5 criteria unmet)")


async def test_exit_report_on_an_unmigrated_store_exits_2(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(main, ["exit-report", "--database-url", database_url]) == 2
    assert "is it migrated?" in capsys.readouterr().err


@dataclass(frozen=True)
class StoredReport:
    """A report as the daily counts see it."""

    event_id: str
    received_at: datetime
    source: str
    action: str | None
    rating: int | None
    sentiment: float | None


def workload(seed: int, as_ofs: list[datetime]) -> list[StoredReport]:
    """Reports of every kind over the last four and a half days, and three at each edge of each ``as_ofs``'s
    days: a microsecond before, at, and a microsecond after."""
    rng = random.Random(seed)
    instants = [AS_OF - timedelta(seconds=rng.uniform(-3_600, 4.5 * 86_400)) for _ in range(300)]
    instants += [
        as_of - timedelta(days=age) + timedelta(microseconds=tick)
        for as_of in as_ofs
        for age in range(5)
        for tick in (-1, 0, 1)
    ]
    return [
        StoredReport(
            event_id=f"e{index}",
            received_at=instant,
            source=rng.choice(["tickets", "feedback", "social", "alerts"]),
            action=rng.choice(["report", "report", "report", None, "resolve"]),
            rating=rng.choice([None, 1, 2, 3, 4, 5]),
            # Around the default threshold (-0.3), and two scores no normalizer makes (it keeps four
            # decimals): a hair above and a hair below it.
            sentiment=rng.choice(
                [
                    None,
                    -0.9,
                    -0.31,
                    -0.3001,
                    -0.3,
                    -0.2999,
                    -0.29,
                    0.0,
                    0.6,
                    -0.29999999999999993,
                    -0.3000000000000001,
                ]
            ),
        )
        for index, instant in enumerate(instants)
    ]


async def store(pool: asyncpg.Pool, reports: list[StoredReport]) -> None:
    """Write ``reports`` in one statement, as triage does (a report already stored is skipped)."""
    documents = []
    for report in reports:
        document: dict[str, Any] = {"signals": {} if report.rating is None else {"rating": report.rating}}
        if report.action is not None:
            document["action"] = report.action
        if report.sentiment is not None:
            document["sentiment"] = report.sentiment
        documents.append(json.dumps(document))
    await pool.execute(
        "INSERT INTO reports (event_id, issue_id, fingerprint, source, source_format, merged_by, occurred_at,"
        " received_at, report)"
        " SELECT e, NULL, 'fp', s, s, 'new', t, t, d::jsonb"
        " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS r(e, s, t, d)"
        " ON CONFLICT (event_id) DO NOTHING",
        [r.event_id for r in reports],
        [r.source for r in reports],
        [r.received_at for r in reports],
        documents,
    )


def hundredths_up(sentiment: float) -> int:
    """A stored sentiment as the store compares it: PostgreSQL's float8 to numeric (15 significant
    digits), rounded up to hundredths. For the normalizer's four-decimal scores and a threshold in
    hundredths this is the exact comparison."""
    return math.ceil(Decimal(format(sentiment, ".15g")) * 100)


def expected_days(reports: list[StoredReport], policy: ExitPolicy, as_of: datetime) -> list[tuple[int, ...]]:
    """The daily series counted report by report: reports, feedback, negative (oldest day first)."""
    rule = policy.negative_feedback
    sentiment_at_most = rule.sentiment_at_most
    days = policy.trend.days
    series = [[0] * days for _ in range(3)]
    for report in reports:
        if (report.action or "report") != "report":
            continue
        age = next(
            (
                a
                for a in range(days)
                if as_of - timedelta(days=a + 1) < report.received_at <= as_of - timedelta(days=a)
            ),
            None,
        )
        if age is None:
            continue
        feedback = report.source in {source.value for source in rule.sources}
        negative = feedback and (
            (report.rating is not None and report.rating <= rule.rating_at_most)
            or (
                report.sentiment is not None
                and sentiment_at_most is not None
                and hundredths_up(report.sentiment) <= round(sentiment_at_most * 100)
            )
        )
        for index, counted in enumerate((True, feedback, negative)):
            series[index][days - 1 - age] += int(counted)
    return [tuple(values) for values in series]


def daily(facts: ExitFacts) -> list[tuple[int, ...]]:
    return [facts.daily_reports, facts.daily_feedback, facts.daily_negative]


# On the hour, around its half, just before the next and somewhere in between.
EDGE_CASES = [
    AS_OF,
    AS_OF + timedelta(minutes=29, seconds=59, microseconds=999_999),
    AS_OF + timedelta(minutes=30),
    AS_OF + timedelta(minutes=59, seconds=59, microseconds=999_999),
    AS_OF + timedelta(minutes=17, seconds=13, microseconds=123_456),
]
FOUR_DAYS = ExitPolicy.model_validate({"trend": {"days": 4}})


async def test_the_days_counted_by_the_hour_match_the_reports_counted_one_by_one(pool: asyncpg.Pool) -> None:
    """Wherever the evaluation instant falls in its hour, the days (read from the hourly counts and the
    reports at their edges) hold what counting every report against the day's bounds gives."""
    reports = workload(7, EDGE_CASES)
    await store(pool, reports[::2])
    await store(pool, reports)  # every other report a second time: counted once
    for as_of in EDGE_CASES:
        facts = await gather_exit_facts(pool, FOUR_DAYS, as_of=as_of)
        assert daily(facts) == expected_days(reports, FOUR_DAYS, as_of), as_of
    assert sum(daily(await gather_exit_facts(pool, FOUR_DAYS, as_of=AS_OF))[0]) > 100


async def test_the_hourly_counts_follow_deletes_updates_and_truncation(pool: asyncpg.Pool) -> None:
    reports = workload(11, EDGE_CASES[:2])
    await store(pool, reports)
    gone = [r.event_id for r in reports[:40]]
    await pool.execute("DELETE FROM reports WHERE event_id = ANY($1::text[])", gone)
    await pool.execute(
        "UPDATE reports SET received_at = received_at - interval '1 day' WHERE event_id = ANY($1::text[])",
        [r.event_id for r in reports[40:80]],
    )
    kept = reports[80:] + [replace(r, received_at=r.received_at - timedelta(days=1)) for r in reports[40:80]]
    for as_of in EDGE_CASES[:2]:
        facts = await gather_exit_facts(pool, FOUR_DAYS, as_of=as_of)
        assert daily(facts) == expected_days(kept, FOUR_DAYS, as_of), as_of

    await pool.execute("TRUNCATE reports")
    assert await pool.fetchval("SELECT count(*) FROM report_hours") == 0


async def test_the_migration_counts_the_reports_already_stored(database_url: str) -> None:
    pool = await open_pool(database_url, max_size=2)
    try:
        await apply_migrations(pool, [m for m in load_migrations() if m.version < 8])
        reports = workload(13, EDGE_CASES[:1])
        await store(pool, reports)
        assert await apply_migrations(pool, [m for m in load_migrations() if m.version <= 8]) == [8]

        facts = await gather_exit_facts(pool, FOUR_DAYS, as_of=AS_OF)

        assert daily(facts) == expected_days(reports, FOUR_DAYS, AS_OF)
    finally:
        await pool.close()
