"""The results: a short Markdown table on stdout and ``<timestamp>-<commit>.json`` / ``.md`` files."""

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

TARGETS = {
    "pipeline_per_s": 8000.0,
    "share_of_passthrough": 0.25,
    "p99_ms_at_rate": 25.0,
    "rss_mib": 300.0,
}
_PACKAGES = ("aiokafka", "faststream", "asyncpg", "pydantic", "redis", "rapidfuzz")


def git_commit(cwd: Path) -> str:
    """``git rev-parse --short HEAD``, or ``unknown`` outside a checkout."""
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "unknown"


def environment() -> dict[str, Any]:
    """Machine and versions the numbers belong to."""
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    metric: str
    value: str
    target: str = ""
    verdict: str = ""


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def _seconds_over(by_second: list[dict[str, float]]) -> str:
    """How many seconds of the phase had a p99 over the target, and the worst three (s from the start)."""
    limit = TARGETS["p99_ms_at_rate"]
    over = [s for s in by_second if s["p99"] > limit]
    worst = sorted(by_second, key=lambda s: s["p99"], reverse=True)[:3]
    listed = ", ".join(f"+{s['second']:.0f} s p50 {s['p50']:.0f} / p99 {s['p99']:.0f} ms" for s in worst)
    medians = sorted(s["p50"] for s in by_second)
    return (
        f"{len(over)} of {len(by_second)} seconds had p99 > {limit:.0f} ms; worst: {listed};"
        f" median of the seconds' p50 {medians[len(medians) // 2]:.0f} ms"
    )


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def summary_rows(results: dict[str, Any]) -> list[Row]:
    """The headline numbers against the targets."""
    rows: list[Row] = []
    ceiling = results.get("passthrough", {}).get("per_s")
    if ceiling is not None:
        rows.append(Row("raw pass-through (ceiling)", _fmt(ceiling, " msg/s")))
    yardstick = results.get("reference", {})
    if yardstick:
        rows.append(
            Row(
                "yardstick: the domain alone in process, normalize µs/message / triage µs/report, "
                "before → after the run",
                " → ".join(
                    f"{y['normalize_us_per_message']:.0f} / {y['triage_us_per_report']:.0f}"
                    for y in (yardstick.get("before"), yardstick.get("after"))
                    if y is not None
                ),
            )
        )
    sat = results.get("saturation", {})
    normalizer_rate = sat.get("normalizer_messages_per_s")
    rows.append(Row("normalizer, raw messages consumed", _fmt(normalizer_rate, " msg/s")))
    rows.append(Row("normalizer, reports written", _fmt(sat.get("normalized_reports_per_s"), " reports/s")))
    pipeline_rate = sat.get("pipeline_reports_per_s")
    headline = pipeline_rate if results.get("with_triage") else sat.get("normalized_reports_per_s")
    label = "pipeline, reports persisted" if results.get("with_triage") else "normalizer alone (no triage)"
    rows.append(
        Row(
            label,
            _fmt(headline, " reports/s"),
            "≥ 8,000/s",
            _verdict(None if headline is None else headline >= TARGETS["pipeline_per_s"]),
        )
    )
    if ceiling and headline:
        share = headline / ceiling
        rows.append(Row("share of pass-through", f"{share:.1%}", "≥ 25 %", _verdict(share >= 0.25)))
    for key, title in (("at_rate", f"at {results.get('rate')}/s"), ("saturation", "saturation backlog")):
        lat = results.get("latency", {}).get(key, {})
        for kind, label_kind in (
            ("output", results.get("latency_output", "output")),
            ("persisted", "persisted"),
        ):
            stats = lat.get(kind)
            if not stats or not stats.get("n"):
                continue
            p99 = stats.get("p99")
            ok = None if key != "at_rate" or p99 is None else p99 <= TARGETS["p99_ms_at_rate"]
            rows.append(
                Row(
                    f"raw→{label_kind} {title} p50/p95/p99 (n={int(stats['n'])})",
                    f"{stats.get('p50')} / {stats.get('p95')} / {p99} ms",
                    "p99 ≤ 25 ms" if key == "at_rate" else "",
                    _verdict(ok),
                )
            )
    by_second = results.get("latency", {}).get("at_rate", {}).get("persisted_by_second")
    if by_second:
        rows.append(Row(f"raw→persisted at {results.get('rate')}/s, by second", _seconds_over(by_second)))
    for key, stats in results.get("latency", {}).get("at_rate", {}).get("services_view", {}).items():
        if stats.get("n"):
            bounds = " / ".join(_fmt(stats.get(f"p{p}_le"), "", 1) for p in (50, 95, 99))
            mean = f", mean {stats['mean']:.2f}" if "mean" in stats else ""
            rows.append(
                Row(f"{key} at {results.get('rate')}/s p50/p95/p99 (bucket bound)", f"≤ {bounds} ms{mean}")
            )
    drained = results.get("latency", {}).get("at_rate", {}).get("drained_s_after_last_send")
    if drained is not None:
        rows.append(
            Row(
                f"at {results.get('rate')}/s: caught up after the last send",
                f"{drained:.1f} s",
                "≈ 0 s (keeps up)",
                _verdict(drained < 2.0),
            )
        )
    settled = results.get("latency", {}).get("maintenance_before_rate")
    if settled is not None:
        waited = f"{settled['waited_s']:.0f} s for " + (", ".join(settled["due"]) or "nothing")
        if settled.get("autovacuum") == "off":
            waited = "no wait: autovacuum is off"
        if not settled["settled"]:
            waited += f"; still due at the deadline: {', '.join(settled['still_due'])}"
        rows.append(Row("before the fixed rate: waited for the PostgreSQL autovacuum runs due", waited))
    own = results.get("latency", {}).get("bench_collections_at_rate")
    if own is not None:
        rows.append(
            Row(
                f"at {results.get('rate')}/s: the bench process's own cycle collections (it sends the messages)",
                f"{own['collections']} ({own['full']} full), longest {own['longest_ms']:.0f} ms",
            )
        )
    at_rate = results.get("latency", {}).get("at_rate", {})
    if "maintenance" in at_rate:
        rows.append(
            Row(
                f"at {results.get('rate')}/s: PostgreSQL autovacuum runs that ended in the phase (s from its start)",
                ", ".join(at_rate["maintenance"]) or "none",
            )
        )
    for name, svc in results.get("services", {}).items():
        mib = svc["peak_rss_kib"] / 1024
        rows.append(
            Row(
                f"{name} peak RSS ({svc['peak_rss_at']})",
                f"{mib:.0f} MiB",
                "< 300 MB",
                _verdict(mib * 1.048576 < TARGETS["rss_mib"]),
            )
        )
        cost = svc.get("cpu_ms_per_raw_message_saturation")
        if cost is not None:
            rows.append(Row(f"{name} CPU per raw message (saturation)", f"{cost:.3f} ms"))
        for phase, cpu in svc.get("cpu_per_phase", {}).items():
            rows.append(Row(f"{name} CPU during {phase}", f"{cpu:.0%} of one core"))
        draining = svc.get("cpu_while_draining")
        if draining is not None:
            rows.append(Row(f"{name} CPU while its backlog drained (10-90 %)", f"{draining:.0%} of one core"))
    machine = results.get("machine")
    if machine is not None:
        peers = machine["peers_cpu_ms_per_raw_message_saturation"]
        for peer, cost in peers.items():
            rows.append(Row(f"{peer} CPU per raw message (saturation)", f"{cost:.3f} ms"))
        services_cost = sum(
            svc.get("cpu_ms_per_raw_message_saturation") or 0 for svc in results.get("services", {}).values()
        )
        rows.append(
            Row(
                "all of the above, CPU per raw message (saturation)",
                f"{services_cost + sum(peers.values()):.3f} ms",
            )
        )
        rows.append(Row("machine busy during saturation", f"{machine['busy_cores_saturation']:.2f} cores"))
        at_rate_cores = machine.get("cores_at_rate")
        if at_rate_cores is not None:
            rate = results.get("rate")
            for who in (*peers, "bench"):
                rows.append(
                    Row(f"{who} CPU while sending at {rate}/s", f"{at_rate_cores[who]:.0%} of one core")
                )
            rows.append(Row(f"machine busy while sending at {rate}/s", f"{at_rate_cores['busy']:.2f} cores"))
    checks = results.get("checks", [])
    failed = [c for c in checks if not c["ok"]]
    rows.append(
        Row(
            "correctness checks",
            f"{len(checks) - len(failed)}/{len(checks)} hold",
            "all",
            _verdict(not failed),
        )
    )
    rows.extend(Row(f"  ✗ {c['name']}", f"{c['actual']} (expected {c['expected']})") for c in failed)
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The Markdown report: headline table, then the settings."""
    lines = [
        f"# Benchmark {results['run']} ({results['commit']}, {results['started_at']})",
        "",
        f"{results['environment']['cpu_count']} CPUs, Python {results['environment']['python']}; "
        f"{results['workload']['messages']:,} raw messages (mean {results['workload']['mean_bytes']} B), "
        f"{results['settings']['partitions']} partitions; triage {'on' if results['with_triage'] else 'absent'}.",
        "",
        "| metric | value | target | |",
        "| --- | --- | --- | --- |",
        *(f"| {r.metric} | {r.value} | {r.target} | {r.verdict} |" for r in summary_rows(results)),
        "",
        "Settings: `" + json.dumps(results["settings"], sort_keys=True) + "`",
    ]
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``<timestamp>-<commit>.json`` and ``.md`` in ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{results['started_at'].replace(':', '').replace('-', '')}-{results['commit']}"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")
    return json_path, md_path
