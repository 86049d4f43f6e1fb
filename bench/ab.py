"""Alternating runs of two versions of the code, to tell a change from this machine's drift.

``uv run python -m bench.ab BASE [--head REV] [--pairs N] [--domain] [-- ARGS...]`` checks both revisions out
into temporary worktrees and runs them in turn, A B B A A B ..., each run as ``python -m bench ARGS`` (the
pipeline against the local stack: run ``make stack-up`` first) or, with ``--domain``, ``python -m
bench.domain ARGS`` (the domain alone, in process). It prints, per measure, every run's value and the
change from A to B: the mean of the pairs' differences and whether every pair moved the same way.

Why: this machine's speed drifts by 15 % within an hour. Single runs of two versions an hour apart
compared the hours, not the code; runs in turn, close together, compare the code (the A B B A order keeps a
steady drift from favouring either side).

When both revisions have the same ``uv.lock``, each side runs on this environment's interpreter with the
worktree's sources first on ``PYTHONPATH`` (the services the pipeline starts inherit it); otherwise each
worktree gets its own environment (``uv sync --frozen``, which takes a minute).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

Measures = dict[str, float]


def order(pairs: int) -> list[str]:
    """The sides of ``pairs`` pairs of runs in turn: A B, B A, A B, ... (each pair mirrors the one before)."""
    return [side for n in range(pairs) for side in (("A", "B") if n % 2 == 0 else ("B", "A"))]


_DOMAIN_LINE = re.compile(r"^(normalize|triage): ([\d,.]+) µs", re.MULTILINE)


def domain_measures(output: str) -> Measures:
    """The µs per message and per report ``python -m bench.domain`` printed."""
    found = {f"{step} µs": float(value.replace(",", "")) for step, value in _DOMAIN_LINE.findall(output)}
    if not found:
        raise ValueError(f"no measures in the output of bench.domain: {output[-500:]!r}")
    return found


def pipeline_measures(result: Mapping[str, Any]) -> Measures:
    """The measures of one ``python -m bench`` result (its JSON) that a change is judged by."""
    measures: Measures = {"reports/s": result["saturation"]["pipeline_reports_per_s"]}
    at_rate = result.get("latency", {}).get("at_rate", {}).get("persisted")
    if at_rate:
        measures.update({f"{p} ms at rate": at_rate[p] for p in ("p50", "p95", "p99")})
    services = result.get("services", {})
    for name, service in services.items():
        if service.get("cpu_ms_per_raw_message_saturation") is not None:
            measures[f"{name} CPU ms/message"] = service["cpu_ms_per_raw_message_saturation"]
    peers = result.get("machine", {}).get("peers_cpu_ms_per_raw_message_saturation", {})
    if peers:
        measures["all processes CPU ms/message"] = sum(peers.values()) + sum(
            s.get("cpu_ms_per_raw_message_saturation") or 0 for s in services.values()
        )
    busy = result.get("machine", {}).get("cores_at_rate", {}).get("busy")
    if busy is not None:
        measures["cores busy at rate"] = busy
    reference = result.get("reference", {}).get("before")
    if reference:
        measures["yardstick triage µs"] = reference["triage_us_per_report"]
    return measures


@dataclass
class Comparison:
    """Every run's measures, by side."""

    runs: dict[str, list[Measures]] = field(default_factory=lambda: {"A": [], "B": []})

    def add(self, side: str, measures: Measures) -> None:
        """One run's measures."""
        self.runs[side].append(measures)

    def rows(self) -> list[dict[str, Any]]:
        """Per measure: A's and B's values, the mean of the pairs' differences (B - A), as a share of A's
        mean, and whether every pair moved the same way (None for a single pair: it always does)."""
        names = [
            name
            for name in self.runs["A"][0]
            if all(name in run for side in self.runs.values() for run in side)
        ]
        rows = []
        for name in names:
            a = [run[name] for run in self.runs["A"]]
            b = [run[name] for run in self.runs["B"]]
            differences = [y - x for x, y in zip(a, b, strict=False)]
            change = statistics.fmean(differences)
            rows.append(
                {
                    "measure": name,
                    "A": a,
                    "B": b,
                    "change": change,
                    "relative": change / statistics.fmean(a) if statistics.fmean(a) else None,
                    "every_pair": (all(d > 0 for d in differences) or all(d < 0 for d in differences))
                    if len(differences) > 1
                    else None,
                }
            )
        return rows


def markdown(rows: Sequence[Mapping[str, Any]], base: str, head: str) -> str:
    """The comparison as a Markdown table."""
    lines = [
        f"| measure | A ({base}) | B ({head}) | B - A, mean of pairs | every pair the same way |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        relative = f" ({row['relative']:+.1%})" if row["relative"] is not None else ""
        lines.append(
            f"| {row['measure']} | {' / '.join(f'{v:,.4g}' for v in row['A'])} | "
            f"{' / '.join(f'{v:,.4g}' for v in row['B'])} | {row['change']:+,.4g}{relative} | "
            f"{ {True: 'yes', False: 'no', None: '-'}[row['every_pair']] } |"
        )
    return "\n".join(lines)


@contextmanager
def worktree(revision: str, into: Path) -> Iterator[Path]:
    """``revision`` checked out (detached) at ``into``, removed afterwards."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), revision], check=True)
    try:
        yield into
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(into)], check=False)


def runner(tree: Path, same_lock: bool) -> tuple[list[str], dict[str, str]]:
    """The interpreter and environment that run ``tree``'s code."""
    if not same_lock:
        subprocess.run(["uv", "sync", "--frozen", "--project", str(tree)], check=True)
        return [str(tree / ".venv" / "bin" / "python")], dict(os.environ)
    sources = [
        str(tree),
        *(str(p) for p in sorted(tree.glob("libs/*/src"))),
        *(str(p) for p in sorted(tree.glob("services/*/src"))),
    ]
    path = os.pathsep.join([*sources, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return [sys.executable], {**os.environ, "PYTHONPATH": path}


def run_once(
    command: list[str],
    env: Mapping[str, str],
    tree: Path,
    measure: Callable[[str, Path], Measures],
    out: Path,
) -> Measures:
    """One run of ``command`` in ``tree``; its measures."""
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, cwd=tree, env=dict(env), capture_output=True, text=True, check=False)
    (out / "output.txt").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} in {tree} exited {done.returncode}; see {out / 'output.txt'}"
        )
    return measure(done.stdout, out)


def _pipeline_from(_: str, out: Path) -> Measures:
    (result,) = out.glob("*.json")
    return pipeline_measures(json.loads(result.read_text()))


def main(argv: list[str] | None = None) -> int:
    """Run the two revisions in turn and print the comparison."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="revision A (a commit, tag or branch)")
    parser.add_argument("--head", default="HEAD", help="revision B (default HEAD: commit what you measure)")
    parser.add_argument("--pairs", type=int, default=2, help="pairs of runs (default 2)")
    parser.add_argument("--domain", action="store_true", help="run bench.domain instead of the pipeline")
    parser.add_argument("--out", type=Path, help="write the comparison as JSON here")
    given = sys.argv[1:] if argv is None else argv
    split = given.index("--") if "--" in given else len(given)
    args, extra = parser.parse_args(given[:split]), given[split + 1 :]  # after --: each run's arguments
    module = "bench.domain" if args.domain else "bench"
    same_lock = (
        subprocess.run(
            ["git", "-C", str(ROOT), "diff", "--quiet", args.base, args.head, "--", "uv.lock"], check=False
        ).returncode
        == 0
    )
    comparison = Comparison()
    with tempfile.TemporaryDirectory(prefix="hypercare-ab-") as scratch:
        base = Path(scratch)
        with worktree(args.base, base / "A") as tree_a, worktree(args.head, base / "B") as tree_b:
            trees = {"A": tree_a, "B": tree_b}
            runners = {side: runner(tree, same_lock) for side, tree in trees.items()}
            for n, side in enumerate(order(args.pairs)):
                python, env = runners[side]
                out = base / "runs" / f"{n:02d}-{side}"
                command = [*python, "-m", module, *extra]
                if args.domain:
                    measures = run_once(command, env, trees[side], lambda text, _: domain_measures(text), out)
                else:
                    measures = run_once([*command, "--out", str(out)], env, trees[side], _pipeline_from, out)
                comparison.add(side, measures)
                print(
                    f"{time.strftime('%H:%M:%S')} run {n + 1} ({side}): {measures}",
                    file=sys.stderr,
                    flush=True,
                )
    rows = comparison.rows()
    print(markdown(rows, args.base, args.head))
    if args.out is not None:
        args.out.write_text(
            json.dumps(
                {"base": args.base, "head": args.head, "module": module, "args": extra, "rows": rows},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
