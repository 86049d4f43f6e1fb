"""Exit facts read from a migrated PostgreSQL store, and ``hypercare exit-report`` against it."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypercare_cli.main import main
from hypercare_contracts.common import Severity
from hypercare_domain.exit import ExitPolicy
from hypercare_runtime.db import apply_migrations, open_pool
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
