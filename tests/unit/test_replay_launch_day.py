"""``hypercare triage replay`` on the launch-day file: exact output, and the facts a lead would check."""

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypercare_cli.main import main
from hypercare_cli.replay import parse_envelope
from hypercare_contracts import ErrorClass, NormalizedReport
from hypercare_domain.normalize import Rejected
from hypercare_domain.triage import Step, decide
from hypercare_domain.triage import batch as batch_module

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data" / "replay"
LAUNCH_DAY = DATA / "launch_day.jsonl"
EXPECTED = DATA / "launch_day.expected.jsonl"
ACCEPTED = sum('"outcome": "accepted"' in line for line in EXPECTED.read_text().splitlines())


def _replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str, str]:
    code = main(["triage", "replay", *args])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    return code, rows, captured.out, captured.err


@pytest.fixture
def launch_day(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], str, str]:
    code, rows, out, err = _replay(capsys, str(LAUNCH_DAY))
    assert code == 0
    return rows, out, err


def _input(line: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LAUNCH_DAY.read_text().splitlines()[line - 1])
    return data


def test_output_matches_the_expected_file_exactly(launch_day: tuple[list[dict[str, Any]], str, str]) -> None:
    _, out, _ = launch_day
    assert out == EXPECTED.read_text()


def test_every_input_line_is_accounted_for(launch_day: tuple[list[dict[str, Any]], str, str]) -> None:
    rows, _, _ = launch_day
    lines = len(LAUNCH_DAY.read_text().splitlines())
    assert {row["input_line"] for row in rows} == set(range(1, lines + 1))


def test_the_checkout_incident_is_one_critical_issue(
    launch_day: tuple[list[dict[str, Any]], str, str],
) -> None:
    rows, _, _ = launch_day
    checkout = [r for r in rows if r["outcome"] == "accepted" and r["route"]["name"].startswith("payments")]
    human_and_alerts = [r for r in checkout if r["input_line"] <= 8]
    issue_ids = {r["issue_id"] for r in human_and_alerts}
    assert len(human_and_alerts) == 8
    assert len(issue_ids) == 1, "alerts, tickets, feedback and social about checkout are one issue"
    final = [r for r in rows if r.get("issue_id") in issue_ids][-1]
    assert final["severity"] == "critical"
    assert {r["merged_by"] for r in human_and_alerts} == {"new", "fingerprint", "similarity"}
    assert [r["decision"] for r in human_and_alerts if r["notify"]] == ["created", "raised", "raised"]


def test_the_flapping_alert_is_one_quiet_issue(launch_day: tuple[list[dict[str, Any]], str, str]) -> None:
    rows, _, err = launch_day
    flapping = [r for r in rows if r["input_line"] in range(10, 18)]
    assert len({r["issue_id"] for r in flapping}) == 1
    assert [r["decision"] for r in flapping] == ["created", "resolved"] + ["reopened", "resolved"] * 3
    assert [r["notify"] for r in flapping] == [True, True] + [False] * 6, "flaps stop paging"
    assert "8 reports, flap_count 3  Search index lag" in err


@pytest.mark.parametrize(
    ("line", "error_class"), [(21, ErrorClass.INVALID_JSON), (22, ErrorClass.UNKNOWN_TOPIC)]
)
def test_bad_lines_are_dead_letters_with_reasons(
    launch_day: tuple[list[dict[str, Any]], str, str], line: int, error_class: ErrorClass
) -> None:
    rows, _, err = launch_day
    (row,) = [r for r in rows if r["input_line"] == line]
    assert row["outcome"] == "deadletter"
    assert row["error_class"] == error_class.value
    assert row["reason"]
    assert "dead letters by reason: invalid_json 1, unknown_topic 1" in err


def test_praise_ideas_and_questions_are_low(launch_day: tuple[list[dict[str, Any]], str, str]) -> None:
    rows, _, _ = launch_day
    by_line = {r["input_line"]: r for r in rows}
    assert [by_line[n]["severity"] for n in (18, 19, 20)] == ["low", "low", "low"]
    assert by_line[20]["decision"] is None, "the question waits for more reports before it opens"


def test_the_kcat_line_and_the_multi_alert_message_are_read(
    launch_day: tuple[list[dict[str, Any]], str, str],
) -> None:
    rows, _, _ = launch_day
    assert "payload" in _input(23)
    assert _input(23)["topic"] == "hypercare.raw.tickets"
    kcat = [r for r in rows if r["input_line"] == 23]
    multi = [r for r in rows if r["input_line"] == 25]
    assert [r["outcome"] for r in kcat] == ["accepted"]
    assert kcat[0]["merged_by"] == "fingerprint"
    assert len(multi) == 2
    assert len({r["issue_id"] for r in multi}) == 2


def test_the_summary_counts_issues_and_notifications(
    launch_day: tuple[list[dict[str, Any]], str, str],
) -> None:
    rows, _, err = launch_day
    notified = sum(1 for r in rows if r.get("notify"))
    assert f"notifications that would be sent: {notified}" in err
    severities = Counter(
        r["severity"] for r in {r["issue_id"]: r for r in rows if r.get("issue_id")}.values()
    )
    assert "issues by severity: critical 2," in err
    assert severities["critical"] == 2


def test_a_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, rows, _, err = _replay(capsys, str(tmp_path / "missing.jsonl"))
    assert code == 2
    assert rows == []
    assert "no such file" in err


def test_an_invalid_policy_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policy_dir: str
) -> None:
    broken = tmp_path / "policy"
    shutil.copytree(policy_dir, broken)
    (broken / "triage.yaml").write_text("severity_points: {medium: 90, high: 60, critical: 30}\n")
    code, rows, _, err = _replay(capsys, str(LAUNCH_DAY), "--policy-dir", str(broken))
    assert code == 2
    assert rows == []
    assert "invalid policy" in err
    assert "triage.yaml" in err


@pytest.mark.parametrize(
    ("line", "error_class"),
    [
        ("{not json", ErrorClass.INVALID_JSON),
        ("[1, 2]", ErrorClass.NOT_AN_OBJECT),
        ('{"topic": "hypercare.raw.alerts", "value": {}}', ErrorClass.SCHEMA_VIOLATION),
        (
            '{"topic": "hypercare.raw.alerts", "value": {}, "timestamp": "yesterday"}',
            ErrorClass.SCHEMA_VIOLATION,
        ),
        (
            '{"topic": "hypercare.raw.alerts", "value": {}, "timestamp": "2024-05-08T10:00:00"}',
            ErrorClass.SCHEMA_VIOLATION,
        ),
        ('{"topic": "orders", "value": {}, "timestamp": "2024-05-08T10:00:00Z"}', ErrorClass.UNKNOWN_TOPIC),
    ],
)
def test_envelopes_that_are_refused(line: str, error_class: ErrorClass) -> None:
    with pytest.raises(Rejected) as refused:
        parse_envelope(line)
    assert refused.value.error_class is error_class


def test_a_kcat_envelope_keeps_its_payload_and_time() -> None:
    envelope = parse_envelope(
        json.dumps(
            {
                "topic": "hypercare.raw.social",
                "partition": 2,
                "offset": 7,
                "ts": 1715162460000,
                "key": None,
                "payload": '{"id": "1"}',
            }
        )
    )
    assert envelope.body == b'{"id": "1"}'
    assert envelope.received_at.isoformat() == "2024-05-08T10:01:00+00:00"


def test_a_report_triage_fails_on_is_a_dead_letter_and_the_replay_goes_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in the service: a defect that raises on one report leaves that report out, named, and no other.
    def failing_on_line_3(report: NormalizedReport, *args: Any, **kwargs: Any) -> Step:
        if report.trace_id == "replay-line-3":
            raise ZeroDivisionError("a defect")
        return decide(report, *args, **kwargs)

    monkeypatch.setattr(batch_module, "decide", failing_on_line_3)
    code, rows, _, err = _replay(capsys, str(LAUNCH_DAY))

    assert code == 0
    (row,) = [r for r in rows if r["input_line"] == 3]
    assert (row["outcome"], row["error_class"]) == ("deadletter", "processing_error")
    assert "ZeroDivisionError: a defect" in row["reason"]
    assert "processing_error 1" in err
    assert sum(r["outcome"] == "accepted" for r in rows) == ACCEPTED - 1
