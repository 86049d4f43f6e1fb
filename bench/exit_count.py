"""Exit readiness on a large store: what one refresh of the exit facts costs as reports accumulate.

``uv run python -m bench.exit_count [--reports N] [--repeat N] [--keep]`` creates a database of its own,
applies the migrations, writes ``--reports`` reports spread evenly over the exit policy's trend window
(ending now), vacuums and analyzes, then calls :func:`gather_exit_facts` ``--repeat`` times. It prints the
wall time and the CPU the PostgreSQL backend spent per refresh (from ``/proc``: the server must run on this
machine), and the facts' daily series, so two versions of the count can be compared on the same data.

The reports are small (the count reads only the time index and its included columns, never the JSON):
the four sources in turn; feedback rated 1-5 or unrated; every human report scored with one of 20,001
sentiments (-1..1 in steps of 0.0001), which is the most varied a store can be.
"""

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from hypercare_domain.exit import load_exit_policy
from hypercare_domain.policy import default_policy_dir
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_runtime.settings import ServiceSettings
from hypercare_store.exit_facts import gather_exit_facts

from bench.processes import cpu_seconds, create_database, drop_database

_CHUNK = 500_000

# $1 first number, $2 last number, $3 the newest received_at, $4 seconds between two reports.
_FILL_SQL = """
INSERT INTO reports (event_id, issue_id, fingerprint, source, source_format, merged_by, occurred_at,
                     received_at, report)
SELECT 'bench-' || g, NULL, 'fp-' || (g % 1000), s.source, s.source, 'new', t.at, t.at,
       jsonb_build_object(
           'action', 'report',
           'signals', CASE WHEN s.source = 'feedback' AND g % 6 <> 0
                           THEN jsonb_build_object('rating', 1 + g % 5) ELSE '{}'::jsonb END,
           'sentiment', CASE WHEN s.source <> 'alerts'
                             THEN round(((g * 7919) % 20001 - 10000) / 10000.0, 4) END)
FROM generate_series($1::bigint, $2::bigint) AS g
CROSS JOIN LATERAL (SELECT (ARRAY['tickets', 'feedback', 'social', 'alerts'])[1 + g % 4] AS source) AS s
CROSS JOIN LATERAL (SELECT $3::timestamptz - make_interval(secs => $4::float8 * g) AS at) AS t
"""


async def _fill(pool: asyncpg.Pool, reports: int, window: timedelta, newest: datetime) -> float:
    """Write ``reports`` reports, newest first, evenly over ``window``; returns the seconds it took."""
    started = time.monotonic()
    step = window.total_seconds() / reports
    for first in range(1, reports + 1, _CHUNK):
        last = min(first + _CHUNK - 1, reports)
        await pool.execute(_FILL_SQL, first, last, newest, step)
        print(f"  written {last:,} of {reports:,}", flush=True)
    async with pool.acquire() as conn:
        await conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


async def run(args: argparse.Namespace) -> None:
    """Create the store, fill it, time the refreshes and print what they cost."""
    policy = load_exit_policy(default_policy_dir())
    name = f"hypercare_bench_exit_{uuid.uuid4().hex[:8]}"
    url = await create_database(args.database_url, name)
    print(f"database {name}")
    try:
        pool = await open_pool(url, max_size=2)
        try:
            await apply_migrations(pool)
            as_of = datetime.now(UTC)
            window = timedelta(days=max(policy.trend.days, policy.sla.window_days))
            filled = await _fill(pool, args.reports, window, as_of - timedelta(seconds=1))
            print(f"filled in {filled:.0f} s")
            # One connection for every refresh, so the backend whose CPU is read is the one that counts.
            single = await open_pool(url, max_size=1)
            try:
                backend = int(await single.fetchval("SELECT pg_backend_pid()"))
                walls: list[float] = []
                cpus: list[float] = []
                facts = None
                for index in range(args.repeat + 1):
                    cpu_before = cpu_seconds(backend) or 0.0
                    started = time.perf_counter()
                    facts = await gather_exit_facts(single, policy, as_of=as_of + timedelta(seconds=index))
                    wall = time.perf_counter() - started
                    if index:  # the first refresh warms the caches and the connection
                        walls.append(wall * 1000)
                        cpus.append(((cpu_seconds(backend) or 0.0) - cpu_before) * 1000)
            finally:
                await single.close()
        finally:
            await pool.close()
        assert facts is not None
        print(f"reports: {args.reports:,} over {window.days} days; refreshes: {args.repeat}")
        print(
            f"wall ms min / median / max: {min(walls):.1f} / {statistics.median(walls):.1f} / {max(walls):.1f}"
        )
        print(f"server CPU ms per refresh, median: {statistics.median(cpus):.0f} (clock tick resolution)")
        print(f"daily reports:  {facts.daily_reports}")
        print(f"daily feedback: {facts.daily_feedback}")
        print(f"daily negative: {facts.daily_negative}")
    finally:
        if not args.keep:
            await drop_database(args.database_url, name)


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.exit_count", description=__doc__)
    parser.add_argument("--reports", type=int, default=2_000_000, help="reports to write (default 2,000,000)")
    parser.add_argument("--repeat", type=int, default=10, help="refreshes timed (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--database-url",
        default=ServiceSettings().database_url.get_secret_value(),
        help="a role that may create databases (default: HYPERCARE_DATABASE_URL, as the services read it)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
