"""``hypercare retention prune``: delete the data of issues closed long ago, and rows of no issue as old.

An issue is closed when triage resolved it before the cutoff and nothing of it was written, planned or
sent since, in any service; an open issue keeps every row. What goes from which table, and why the rest
stays, is in docs/retention.md. Run it from cron (``--dry-run`` first); two runs at once share the work,
and a run stopped anywhere is finished by the next.

A row that makes processing a message idempotent (a report's event id, a delivery's key, a lifecycle
command's id) may go only when no message that could recreate its effect can still be read again:
``--older-than`` below :data:`SAFE_MINIMUM` is refused unless ``--force``, and never allowed within the
exit policy's windows.

Exit codes: 0 done (counts printed per table); 1 refused (``--older-than`` too young: nothing deleted);
2 the exit policy or the database could not be read, or a batch failed (what was deleted before is
printed; run it again).
"""

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from hypercare_domain.exit import ExitPolicy, load_exit_policy
from hypercare_domain.policy import PolicyError
from hypercare_runtime.db import open_pool
from hypercare_runtime.settings import ServiceSettings
from hypercare_store.retention import KEPT, TABLES, prune

from hypercare_cli.arguments import age, positive_int

EXIT_DONE = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2

DEAD_LETTER_RETENTION = timedelta(days=90)
"""``retention.ms`` of ``hypercare.deadletter`` (``deploy/stack/config.py`` ``TOPIC_CONFIGS``,
``docker-compose.yml``): how long a dead letter can be redriven."""
TOPIC_RETENTION = timedelta(days=7)
"""The broker's ``log.retention.hours`` (168), which every other topic keeps
(``deploy/stack/kafka/server.properties.template``)."""
SEGMENT_ROLL = timedelta(days=7)
"""Kafka's ``log.roll.hours`` default (168): a record is deleted with its segment, once the segment's
newest record is past retention, so a record outlives its topic's retention by up to this much."""
SAFE_MINIMUM = (
    TOPIC_RETENTION + SEGMENT_ROLL + DEAD_LETTER_RETENTION + SEGMENT_ROLL + TOPIC_RETENTION + SEGMENT_ROLL
)
"""125 days: a message can be read again from its topic for up to 14 days after it was written, be
dead-lettered as late as that, be redriven for up to 97 days more, and its redriven copy, written to its
topic anew, can be read again for up to 14 days after that."""
DEFAULT_AGE = timedelta(days=130)


def exit_floor(policy: ExitPolicy) -> timedelta:
    """The youngest age that leaves every exit-readiness window whole: its longest window, plus a day for
    the hour its oldest day starts in."""
    return timedelta(days=max(policy.trend.days, policy.sla.window_days) + 1)


def refusal(older_than: timedelta, *, force: bool, floor: timedelta) -> str | None:
    """Why ``older_than`` may not be used, or ``None`` when it may."""
    if older_than < floor:
        return (
            f"--older-than {_days(older_than)} would delete what the exit report counts (its windows"
            f" need {_days(floor)}); even --force does not go below that"
        )
    if older_than < SAFE_MINIMUM and not force:
        return (
            f"--older-than {_days(older_than)} is below the safe minimum of {_days(SAFE_MINIMUM)}: a"
            f" message could still be redriven from the dead-letter topic (kept {_days(DEAD_LETTER_RETENTION)})"
            " or read again from its topic, redriven or not, and the rows that make it a duplicate would be gone."
            " Pass --force only if your topics keep messages for less time than that"
        )
    return None


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``retention prune``."""
    parser = subparsers.add_parser(
        "retention", help="delete what no part of Hypercare needs any more", description=__doc__
    )
    commands = parser.add_subparsers(dest="retention_command", required=True)
    command = commands.add_parser(
        "prune",
        help="delete closed issues' data and rows of no issue older than --older-than",
        description=__doc__,
    )
    command.add_argument(
        "--older-than",
        type=age,
        default=DEFAULT_AGE,
        help=f"age such as 130d or 20w (default {_days(DEFAULT_AGE)}, at least {_days(SAFE_MINIMUM)})",
    )
    command.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    command.add_argument(
        "--batch", type=positive_int, default=1000, help="rows per statement and transaction (default 1000)"
    )
    command.add_argument(
        "--force", action="store_true", help=f"allow --older-than below {_days(SAFE_MINIMUM)}"
    )
    command.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL of the issue store (default: HYPERCARE_DATABASE_URL)",
    )
    command.add_argument(
        "--policy-dir",
        type=Path,
        default=None,
        help="folder with exit.yaml (default: HYPERCARE_POLICY_DIR or deploy/policy)",
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check the age, prune, and print the rows deleted per table."""
    settings = ServiceSettings()
    policy_dir: Path = args.policy_dir if args.policy_dir is not None else settings.resolved_policy_dir()
    try:
        floor = exit_floor(load_exit_policy(policy_dir))
    except PolicyError as exc:
        return _fail(str(exc))
    problem = refusal(args.older_than, force=args.force, floor=floor)
    if problem is not None:
        print(f"hypercare retention prune: {problem}", file=sys.stderr)
        return EXIT_REFUSED
    cutoff = datetime.now(UTC) - args.older_than
    print(
        f"Closed issues' data and rows of no issue older than {_days(args.older_than)}"
        f" (before {cutoff:%Y-%m-%d %H:%M} UTC){' (dry run)' if args.dry_run else ''}"
    )
    counts = dict.fromkeys(TABLES, 0)
    url: str = args.database_url or settings.database_url.get_secret_value()
    failure: str | None = None
    try:
        asyncio.run(_prune(url, counts, cutoff=cutoff, batch=args.batch, dry_run=args.dry_run))
    except (OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        failure = f"cannot reach the issue store: {type(exc).__name__}: {exc}"
    except asyncpg.PostgresError as exc:
        failure = f"the issue store refused a batch ({type(exc).__name__}: {exc}); is it migrated?"
    if failure is None or any(counts.values()):
        print(render(counts, dry_run=args.dry_run))
    if failure is None:
        return EXIT_DONE
    if any(counts.values()):
        failure += (
            "; the counts above are partial" if args.dry_run else "; the rows above were deleted before it"
        )
    return _fail(failure)


async def _prune(url: str, counts: dict[str, int], *, cutoff: datetime, batch: int, dry_run: bool) -> None:
    pool = await open_pool(url, max_size=1)
    try:
        async for deleted in prune(pool, cutoff=cutoff, batch=batch, dry_run=dry_run):
            counts[deleted.table] += deleted.rows
    finally:
        await pool.close()


def render(counts: dict[str, int], *, dry_run: bool) -> str:
    """One line per table with its count, then the total."""
    width = max(len(table) for table in counts)
    lines = [f"  {table:<{width}}  {rows:>10,}" for table, rows in counts.items()]
    verb = "would delete" if dry_run else "deleted"
    lines.append(f"{verb} {sum(counts.values()):,} rows; never pruned: {', '.join(KEPT)}")
    return "\n".join(lines)


def _days(value: timedelta) -> str:
    days = value / timedelta(days=1)
    return f"{days:g}d"


def _fail(message: str) -> int:
    print(f"hypercare retention prune: {message}", file=sys.stderr)
    return EXIT_ERROR
