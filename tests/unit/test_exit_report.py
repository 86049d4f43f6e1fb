"""``hypercare exit-report`` output and exit codes, and the exit gauges, from verdicts built in memory."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypercare_cli.exit_report import render_json, render_text
from hypercare_cli.main import build_parser, main
from hypercare_contracts.common import Severity
from hypercare_domain.exit import Criterion, ExitFacts, ExitPolicy, ExitVerdict, evaluate_exit
from hypercare_store.exit_metrics import ExitReadinessCollector
from prometheus_client import CollectorRegistry, generate_latest

pytestmark = pytest.mark.unit

AS_OF = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


def make_verdict(**overrides: Any) -> ExitVerdict:
    """The verdict on a ready launch, with fact overrides."""
    facts: dict[str, Any] = {
        "as_of": AS_OF,
        "open_issues": {},
        "sla_breached": 0,
        "sla_met": 10,
        "daily_reports": (9, 8, 7, 6, 5, 4, 3),
        "daily_feedback": (5, 5, 5, 5, 5, 5, 5),
        "daily_negative": (4, 3, 3, 2, 2, 1, 0),
        "firing_critical_alerts": 0,
    }
    facts.update(overrides)
    return evaluate_exit(ExitFacts(**facts), ExitPolicy())


def test_text_report_is_a_checklist_with_values_thresholds_and_verdict() -> None:
    text = render_text(make_verdict(open_issues={Severity.CRITICAL: 2}, sla_breached=1, sla_met=3))
    lines = text.splitlines()
    assert lines[0] == "Hypercare exit readiness as of 2026-05-20 12:00 UTC"
    assert "  ✗ No open critical/high issues" in lines
    assert "  ✗ SLA breach rate at most 5%" in lines
    assert "  ✓ No firing critical alerts" in lines
    assert "value 2 (needs <= 0); open: 2 critical, 0 high" in text
    assert "value 25.0% (needs <= 5.0%); 1 breached of 4 SLA milestones in the last 7 days" in text
    assert "value -1 reports/day per day (needs < 0 reports/day per day)" in text
    assert lines[-1] == "Verdict: NOT READY (2 of 5 criteria unmet)"


def test_text_report_of_a_ready_launch() -> None:
    text = render_text(make_verdict())
    assert text.count("✓") == 5
    assert "✗" not in text
    assert text.splitlines()[-1] == "Verdict: READY (5 of 5 criteria met)"


def test_json_report_has_every_criterion() -> None:
    document = json.loads(render_json(make_verdict(firing_critical_alerts=1)))
    assert document["ready"] is False
    assert document["as_of"] == "2026-05-20T12:00:00Z"
    by_name = {c["criterion"]: c for c in document["criteria"]}
    assert list(by_name) == [c.value for c in Criterion]
    assert by_name["firing_critical_alerts"] == {
        "criterion": "firing_critical_alerts",
        "title": "No firing critical alerts",
        "value": 1.0,
        "comparison": "<=",
        "threshold": 0.0,
        "met": False,
        "reason": "1 unresolved issues with a critical/page/p1/fatal alert",
    }


def test_exit_report_is_a_subcommand_with_its_options() -> None:
    args = build_parser().parse_args(
        ["exit-report", "--format", "json", "--database-url", "postgresql://x/y", "--policy-dir", "/p"]
    )
    assert (args.format, args.database_url, args.policy_dir) == ("json", "postgresql://x/y", Path("/p"))
    assert callable(args.run)


def test_naive_as_of_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["exit-report", "--as-of", "2026-05-20T12:00"])
    assert exc.value.code == 2
    assert "no time zone" in capsys.readouterr().err


def test_broken_policy_exits_2_before_touching_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "exit.yaml").write_text("sla: {max_breach_rate: 7}")
    code = main(["exit-report", "--policy-dir", str(tmp_path), "--database-url", "postgresql://unused/x"])
    assert code == 2
    assert "sla.max_breach_rate" in capsys.readouterr().err


def _samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("criterion", "")): s.value for m in registry.collect() for s in m.samples}


def test_exit_gauges_export_nothing_before_the_first_verdict() -> None:
    registry = CollectorRegistry()
    ExitReadinessCollector(registry)
    assert _samples(registry) == {}
    assert b"hypercare_exit" not in generate_latest(registry)


def test_exit_gauges_follow_the_latest_verdict() -> None:
    registry = CollectorRegistry()
    collector = ExitReadinessCollector(registry)
    collector.update(make_verdict(sla_breached=5, sla_met=5))
    samples = _samples(registry)
    assert samples[("hypercare_exit_ready", "")] == 0
    assert samples[("hypercare_exit_criterion_met", "sla_breach_rate")] == 0
    assert samples[("hypercare_exit_criterion_value", "sla_breach_rate")] == 0.5
    assert samples[("hypercare_exit_criterion_threshold", "sla_breach_rate")] == 0.05
    assert samples[("hypercare_exit_criterion_met", "open_blocking_issues")] == 1
    assert {c for name, c in samples if name == "hypercare_exit_criterion_met"} == {
        c.value for c in Criterion
    }

    collector.update(make_verdict())
    assert _samples(registry)[("hypercare_exit_ready", "")] == 1
    assert collector.verdict is not None
    assert collector.verdict.ready
