"""``hypercare exit-report``: is the launch ready to leave hypercare? A checklist, or JSON.

Exit code 0 when ready, 1 when not, 2 when the report could not be made (policy or database error).
"""

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from hypercare_domain.exit import (
    Criterion,
    CriterionResult,
    ExitPolicy,
    ExitVerdict,
    evaluate_exit,
    load_exit_policy,
)
from hypercare_domain.policy import PolicyError
from hypercare_runtime.db import open_pool
from hypercare_runtime.settings import ServiceSettings
from hypercare_store.exit_facts import gather_exit_facts

from hypercare_cli.arguments import aware_datetime

EXIT_READY = 0
EXIT_NOT_READY = 1
EXIT_ERROR = 2

_RATES = {Criterion.SLA_BREACH_RATE}
_SLOPES = {Criterion.REPORT_VOLUME_TREND: "reports/day per day", Criterion.NEGATIVE_FEEDBACK_TREND: "per day"}


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``exit-report`` subcommand."""
    parser = subparsers.add_parser(
        "exit-report",
        help="check the hypercare exit criteria against the issue store",
        description=__doc__,
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL of the issue store (default: HYPERCARE_DATABASE_URL)",
    )
    parser.add_argument(
        "--policy-dir",
        type=Path,
        default=None,
        help="folder with exit.yaml (default: HYPERCARE_POLICY_DIR or deploy/policy)",
    )
    parser.add_argument(
        "--as-of",
        type=aware_datetime,
        default=None,
        help="evaluate as of this ISO 8601 instant with a time zone (default: now)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the report; the exit code says ready (0), not ready (1) or error (2)."""
    settings = ServiceSettings()
    policy_dir: Path = args.policy_dir if args.policy_dir is not None else settings.resolved_policy_dir()
    url: str = args.database_url or settings.database_url.get_secret_value()
    as_of: datetime = args.as_of if args.as_of is not None else datetime.now(UTC)
    try:
        policy = load_exit_policy(policy_dir)
        verdict = asyncio.run(_evaluate(url, policy, as_of))
    except PolicyError as exc:
        return _fail(str(exc))
    except (OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        return _fail(f"cannot reach the issue store: {type(exc).__name__}: {exc}")
    except asyncpg.PostgresError as exc:
        return _fail(f"the issue store refused the query ({type(exc).__name__}: {exc}); is it migrated?")
    print(render_json(verdict) if args.format == "json" else render_text(verdict))
    return EXIT_READY if verdict.ready else EXIT_NOT_READY


async def _evaluate(url: str, policy: ExitPolicy, as_of: datetime) -> ExitVerdict:
    pool = await open_pool(url, max_size=1)
    try:
        facts = await gather_exit_facts(pool, policy, as_of=as_of)
    finally:
        await pool.close()
    return evaluate_exit(facts, policy)


def render_text(verdict: ExitVerdict) -> str:
    """A checklist: one ✓/✗ line per criterion with its value, threshold and reason, then the verdict."""
    lines = [f"Hypercare exit readiness as of {verdict.as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC", ""]
    for result in verdict.criteria:
        mark = "✓" if result.met else "✗"
        lines.append(f"  {mark} {result.title}")
        lines.append(
            f"      value {_format(result, result.value)} (needs {result.comparison} "
            f"{_format(result, result.threshold, signed=False)}); {result.reason}"
        )
    unmet = sum(not r.met for r in verdict.criteria)
    total = len(verdict.criteria)
    lines.append("")
    lines.append(
        f"Verdict: READY ({total} of {total} criteria met)"
        if verdict.ready
        else f"Verdict: NOT READY ({unmet} of {total} criteria unmet)"
    )
    return "\n".join(lines)


def render_json(verdict: ExitVerdict) -> str:
    """The verdict as a JSON document (``ready``, ``as_of`` and every criterion's fields)."""
    document: dict[str, Any] = verdict.model_dump(mode="json")
    return json.dumps(document, indent=2, ensure_ascii=False)


def _format(result: CriterionResult, number: float, *, signed: bool = True) -> str:
    if result.criterion in _RATES:
        return f"{number:.1%}"
    if result.criterion in _SLOPES:
        return f"{number:{'+' if signed else ''}.3g} {_SLOPES[result.criterion]}"
    return f"{number:g}"


def _fail(message: str) -> int:
    print(f"hypercare exit-report: {message}", file=sys.stderr)
    return EXIT_ERROR
