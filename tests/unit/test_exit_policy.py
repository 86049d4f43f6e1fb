"""The shipped ``exit.yaml`` and what a broken one says."""

import json
from pathlib import Path

import pytest
from hypercare_contracts.common import Severity, Source
from hypercare_domain.exit import load_exit_policy
from hypercare_domain.policy import PolicyError

pytestmark = pytest.mark.unit

POLICY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "policy"


def test_shipped_policy_loads_with_documented_defaults() -> None:
    policy = load_exit_policy(POLICY_DIR)
    assert policy.open_issues.severities == (Severity.CRITICAL, Severity.HIGH)
    assert policy.open_issues.max_open == 0
    assert policy.sla.max_breach_rate == 0.05
    assert policy.trend.days == 7
    assert policy.trend.test == "both"
    assert policy.negative_feedback.sources == (Source.FEEDBACK, Source.SOCIAL, Source.TICKETS)
    assert policy.negative_feedback.rating_at_most == 2
    assert "critical" in policy.alerts.critical_severities


def test_every_key_of_the_shipped_file_is_documented() -> None:
    text = (POLICY_DIR / "exit.yaml").read_text()
    for key in (
        "severities",
        "max_open",
        "window_days",
        "max_breach_rate",
        "days",
        "test",
        "quiet_max_daily",
        "sources",
        "rating_at_most",
        "sentiment_at_most",
        "min_days_with_feedback",
        "critical_severities",
        "max_firing",
    ):
        assert f"#   {key}" in text or f"#   {key}:" in text, key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sla: {max_breach_rate: 1.5}", r"sla\.max_breach_rate"),
        ("trend: {test: median}", r"trend\.test"),
        ("trend: {days: 1}", r"trend\.days"),
        ("negative_feedback: {sources: [alerts]}", "alerts are not feedback"),
        ("alerts: {critical_severities: []}", "at least one alert severity"),
        ("open_issues: {severities: [urgent]}", r"open_issues\.severities"),
        ("exit_now: true", "exit_now"),
        ("negative_feedback: {sentiment_at_most: -0.333}", "in hundredths"),
    ],
)
def test_invalid_policy_names_the_field(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "exit.yaml").write_text(text)
    with pytest.raises(PolicyError, match=message):
        load_exit_policy(tmp_path)


@pytest.mark.parametrize(
    ("threshold", "kept"),
    [
        (-0.3, -0.3),
        (-0.25, -0.25),
        (-1.0, -1.0),
        (0.07, 0.07),
        (1.0, 1.0),
        (None, None),
        (-0.300000000001, -0.3),
    ],
)
def test_a_sentiment_threshold_in_hundredths_is_accepted(
    tmp_path: Path, threshold: float | None, kept: float | None
) -> None:
    (tmp_path / "exit.yaml").write_text(f"negative_feedback: {{sentiment_at_most: {json.dumps(threshold)}}}")
    assert load_exit_policy(tmp_path).negative_feedback.sentiment_at_most == kept


def test_alert_severities_are_lower_cased(tmp_path: Path) -> None:
    (tmp_path / "exit.yaml").write_text("alerts: {critical_severities: [' Critical', P1]}")
    assert load_exit_policy(tmp_path).alerts.critical_severities == ("critical", "p1")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="missing"):
        load_exit_policy(tmp_path)
