"""The SQL that gathers exit-readiness facts from the issue store (``issues``, ``reports``, ``sla_milestones``).

Every count is read in one read-only, repeatable-read transaction so the facts describe one instant.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime

import asyncpg
from hypercare_contracts.common import Severity
from hypercare_domain.exit import ExitFacts, ExitPolicy

# "Open" everywhere below: the issue was opened (past its open_after_reports threshold), is not resolved
# and is not suppressed by a maintenance window or silence.
OPEN_ISSUES_SQL = """
SELECT severity, count(*)::int AS n
FROM issues
WHERE status <> 'resolved' AND opened AND suppressed_by IS NULL
GROUP BY severity
"""

# Milestones emitted in the window ($1 = as_of, $2 = window in days); planned ones have no emitted_at.
SLA_OUTCOMES_SQL = """
SELECT count(*) FILTER (WHERE kind = 'breached')::int AS breached,
       count(*) FILTER (WHERE kind = 'met')::int AS met
FROM sla_milestones
WHERE emitted_at IS NOT NULL
  AND emitted_at > $1::timestamptz - make_interval(days => $2)
  AND emitted_at <= $1::timestamptz
"""

# New problem reports per 24-hour bucket ending at $1 (age 0 = the last 24 hours), over $2 days;
# feedback = reports from the sources $3, negative = those rated at most $4 (signals.rating, 1-5) or whose
# text scored at most $5 (the normalizer's sentiment, -1..1; a NULL $5 counts ratings only).
DAILY_REPORTS_SQL = """
SELECT d.age, c.reports, c.feedback, c.negative
FROM generate_series(0, $2::int - 1) AS d(age)
CROSS JOIN LATERAL (
    SELECT count(*)::int AS reports,
           count(*) FILTER (WHERE source = ANY($3::text[]))::int AS feedback,
           count(*) FILTER (
               WHERE source = ANY($3::text[]) AND (rating <= $4 OR sentiment <= $5::float8)
           )::int AS negative
    FROM reports
    WHERE received_at > $1::timestamptz - make_interval(secs => 86400 * (d.age + 1))
      AND received_at <= $1::timestamptz - make_interval(secs => 86400 * d.age)
      AND coalesce(action, 'report') = 'report'
) AS c
"""
"""Reads the columns generated from each report's JSON (migration ``0007``), which the time index
carries: the count does not open the reports. One plain count per day over its range of the index,
rather than grouping the window by age: the planner underestimates the newest range (its statistics
end where the last ``ANALYZE`` saw the table), and then sorted 220,000 rows on disk to group them."""

# Open issues fed by monitoring alerts whose worst alert severity (kept by triage in state.signals) is
# one of $1 (lower-case).
FIRING_CRITICAL_ALERTS_SQL = """
SELECT count(*)::int
FROM issues
WHERE status <> 'resolved' AND opened AND suppressed_by IS NULL
  AND state -> 'sources' ? 'alerts'
  AND lower(state -> 'signals' ->> 'alert_severity') = ANY($1::text[])
"""


async def gather_exit_facts(pool: asyncpg.Pool, policy: ExitPolicy, *, as_of: datetime) -> ExitFacts:
    """Read the counts the exit evaluation needs, as of ``as_of``.

    Args:
        pool: a pool on the issue store (migrations 0001 and 0002 applied).
        policy: gives the windows, the feedback sources, what makes a report negative (rating, sentiment)
            and the critical alert names.
        as_of: the instant the facts describe (timezone-aware); windows end there.

    Raises:
        asyncpg.PostgresError: the database refused a query (for instance a migration is missing).
    """
    days = policy.trend.days
    sources = [s.value for s in policy.negative_feedback.sources]
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        # A gauge refreshed in the background must not take every core from the pipeline: in parallel
        # the daily count ran in three processes at once (~270 ms of CPU on 230,000 reports, against
        # ~57 ms alone), and the triage batches of that moment waited for a core.
        await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        open_rows = await conn.fetch(OPEN_ISSUES_SQL)
        sla = await conn.fetchrow(SLA_OUTCOMES_SQL, as_of, policy.sla.window_days)
        daily_rows = await conn.fetch(
            DAILY_REPORTS_SQL,
            as_of,
            days,
            sources,
            policy.negative_feedback.rating_at_most,
            policy.negative_feedback.sentiment_at_most,
        )
        firing = await conn.fetchval(FIRING_CRITICAL_ALERTS_SQL, list(policy.alerts.critical_severities))
    by_age = {row["age"]: row for row in daily_rows}
    return ExitFacts(
        as_of=as_of,
        open_issues=_by_severity(open_rows),
        sla_breached=sla["breached"] if sla is not None else 0,
        sla_met=sla["met"] if sla is not None else 0,
        daily_reports=_series(by_age, "reports", days),
        daily_feedback=_series(by_age, "feedback", days),
        daily_negative=_series(by_age, "negative", days),
        firing_critical_alerts=int(firing or 0),
    )


def _by_severity(rows: Sequence[asyncpg.Record]) -> dict[Severity, int]:
    """Counts by severity; a severity the contract does not know is an error, not silently dropped."""
    return {Severity(row["severity"]): int(row["n"]) for row in rows}


def _series(by_age: Mapping[int, asyncpg.Record], column: str, days: int) -> tuple[int, ...]:
    """One value per day, oldest first, zero for days without reports."""
    return tuple(int(by_age[age][column]) if age in by_age else 0 for age in range(days - 1, -1, -1))
