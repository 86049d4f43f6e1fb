"""The SQL that gathers exit-readiness facts from the issue store (``issues``, ``reports``, ``sla_milestones``).

Every count is read in one read-only, repeatable-read transaction so the facts describe one instant.
"""

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from hypercare_contracts.common import Severity
from hypercare_domain.exit import ExitFacts, ExitPolicy

from hypercare_store.report_days import Counts, DayPlan

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

# The days' new problem reports come from two reads (see :mod:`hypercare_store.report_days`). Feedback =
# reports from the sources $3; negative = those rated at most $4 (signals.rating, 1-5) or whose text scored
# at most the threshold $5, in hundredths (the normalizer's sentiment, -1..1, rounded up to hundredths as
# migration 0008 counts it; NULL counts ratings only). Both reads round the same way, so a report counts
# alike whichever read sees it; for the normalizer's scores (four decimals) and a threshold in hundredths,
# that is exactly "sentiment <= threshold".
#
# The counts by hour in [$1, $2] (migration 0008).
HOURLY_REPORTS_SQL = """
SELECT hour,
       sum(reports)::bigint AS reports,
       coalesce(sum(reports) FILTER (WHERE source = ANY($3::text[])), 0)::bigint AS feedback,
       coalesce(sum(reports) FILTER (
           WHERE source = ANY($3::text[]) AND (rating <= $4 OR sentiment_ceil <= $5::int)
       ), 0)::bigint AS negative
FROM report_hours
WHERE hour >= $1::timestamptz AND hour <= $2::timestamptz
GROUP BY hour
"""

# The reports themselves in each range [$1[i], $2[i]) (one per edge between two days), from the time index
# that carries the columns read (migration 0007).
EDGE_REPORTS_SQL = """
SELECT c.reports, c.feedback, c.negative
FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS s(start, finish, i)
CROSS JOIN LATERAL (
    SELECT count(*)::bigint AS reports,
           count(*) FILTER (WHERE source = ANY($3::text[]))::bigint AS feedback,
           count(*) FILTER (
               WHERE source = ANY($3::text[])
                 AND (rating <= $4 OR ceil(sentiment::numeric * 100)::int <= $5::int)
           )::bigint AS negative
    FROM reports
    WHERE received_at >= s.start AND received_at < s.finish AND coalesce(action, 'report') = 'report'
) AS c
ORDER BY s.i
"""

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
        pool: a pool on the issue store (migrations up to ``0008`` applied).
        policy: gives the windows, the feedback sources, what makes a report negative (rating, sentiment)
            and the critical alert names.
        as_of: the instant the facts describe (timezone-aware); windows end there.

    Raises:
        asyncpg.PostgresError: the database refused a query (for instance a migration is missing).
    """
    days = policy.trend.days
    plan = DayPlan.ending(as_of, days)
    negative = policy.negative_feedback
    sources = [s.value for s in negative.sources]
    rating, sentiment = negative.rating_at_most, negative.sentiment_at_most
    hundredths = None if sentiment is None else round(sentiment * 100)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        # A gauge refreshed in the background must not take every core from the pipeline: in parallel
        # a count over the reports ran in three processes at once (~270 ms of CPU on 230,000 reports,
        # against ~57 ms alone), and the triage batches of that moment waited for a core.
        await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        open_rows = await conn.fetch(OPEN_ISSUES_SQL)
        sla = await conn.fetchrow(SLA_OUTCOMES_SQL, as_of, policy.sla.window_days)
        hour_rows = await conn.fetch(
            HOURLY_REPORTS_SQL, plan.first_hour, plan.last_hour, sources, rating, hundredths
        )
        edge_rows = await conn.fetch(EDGE_REPORTS_SQL, *plan.spans, sources, rating, hundredths)
        firing = await conn.fetchval(FIRING_CRITICAL_ALERTS_SQL, list(policy.alerts.critical_severities))
    daily = plan.days({row["hour"]: _counts(row) for row in hour_rows}, [_counts(row) for row in edge_rows])[
        ::-1
    ]
    return ExitFacts(
        as_of=as_of,
        open_issues=_by_severity(open_rows),
        sla_breached=sla["breached"] if sla is not None else 0,
        sla_met=sla["met"] if sla is not None else 0,
        daily_reports=tuple(day.reports for day in daily),
        daily_feedback=tuple(day.feedback for day in daily),
        daily_negative=tuple(day.negative for day in daily),
        firing_critical_alerts=int(firing or 0),
    )


def _by_severity(rows: Sequence[asyncpg.Record]) -> dict[Severity, int]:
    """Counts by severity; a severity the contract does not know is an error, not silently dropped."""
    return {Severity(row["severity"]): int(row["n"]) for row in rows}


def _counts(row: asyncpg.Record) -> Counts:
    return Counts(reports=int(row["reports"]), feedback=int(row["feedback"]), negative=int(row["negative"]))
