"""Exit readiness: each criterion met and unmet, the trend tests, and the overall verdict."""

from datetime import UTC, datetime
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_domain.exit import Criterion, ExitFacts, ExitPolicy, TrendRule, evaluate_exit, trend_of
from pydantic import ValidationError

pytestmark = pytest.mark.unit

AS_OF = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


def make_facts(**overrides: Any) -> ExitFacts:
    """Facts of a launch that is ready: nothing open, SLA kept, volume and negative share falling."""
    values: dict[str, Any] = {
        "as_of": AS_OF,
        "open_issues": {Severity.MEDIUM: 3, Severity.LOW: 5},
        "sla_breached": 1,
        "sla_met": 39,
        "daily_reports": (90, 70, 60, 40, 30, 25, 10),
        "daily_feedback": (50, 40, 40, 30, 20, 20, 10),
        "daily_negative": (25, 16, 12, 6, 3, 2, 1),
        "firing_critical_alerts": 0,
    }
    values.update(overrides)
    return ExitFacts(**values)


def make_policy(**overrides: Any) -> ExitPolicy:
    """The default thresholds, with top-level sections replaced."""
    return ExitPolicy(**overrides)


def test_a_calm_launch_is_ready() -> None:
    verdict = evaluate_exit(make_facts(), make_policy())
    assert verdict.ready
    assert [c.criterion for c in verdict.criteria] == list(Criterion)
    assert all(c.met for c in verdict.criteria)
    assert verdict.as_of == AS_OF


@pytest.mark.parametrize(
    ("overrides", "criterion", "value"),
    [
        ({"open_issues": {Severity.CRITICAL: 1}}, Criterion.OPEN_BLOCKING_ISSUES, 1),
        ({"open_issues": {Severity.HIGH: 2, Severity.CRITICAL: 1}}, Criterion.OPEN_BLOCKING_ISSUES, 3),
        ({"sla_breached": 3, "sla_met": 7}, Criterion.SLA_BREACH_RATE, 0.3),
        ({"daily_reports": (10, 20, 30, 40, 50, 60, 70)}, Criterion.REPORT_VOLUME_TREND, 10.0),
        (
            {"daily_negative": (1, 2, 4, 6, 8, 10, 9)},
            Criterion.NEGATIVE_FEEDBACK_TREND,
            pytest.approx(0.1371, abs=1e-4),
        ),
        ({"firing_critical_alerts": 2}, Criterion.FIRING_CRITICAL_ALERTS, 2),
    ],
)
def test_each_unmet_criterion_blocks_the_exit(
    overrides: dict[str, Any], criterion: Criterion, value: Any
) -> None:
    verdict = evaluate_exit(make_facts(**overrides), make_policy())
    result = verdict.result(criterion)
    assert not verdict.ready
    assert not result.met
    assert result.value == value
    assert [c.criterion for c in verdict.criteria if not c.met] == [criterion]


def test_open_medium_and_low_issues_do_not_block_by_default() -> None:
    result = evaluate_exit(make_facts(), make_policy()).result(Criterion.OPEN_BLOCKING_ISSUES)
    assert result.met
    assert result.value == 0
    assert result.reason == "open: 0 critical, 0 high"


def test_blocking_severities_and_allowance_come_from_policy() -> None:
    policy = make_policy(open_issues={"severities": ["critical", "high", "medium"], "max_open": 2})
    facts = make_facts(open_issues={Severity.MEDIUM: 3})
    result = evaluate_exit(facts, policy).result(Criterion.OPEN_BLOCKING_ISSUES)
    assert (result.value, result.threshold, result.met) == (3, 2, False)
    assert evaluate_exit(make_facts(open_issues={Severity.MEDIUM: 2}), policy).ready


@pytest.mark.parametrize(
    ("breached", "met", "rate", "ok"),
    [
        (0, 0, 0.0, True),
        (1, 19, 0.05, True),
        (2, 18, 0.1, False),
        (1, 0, 1.0, False),
    ],
)
def test_sla_breach_rate_is_breached_over_outcomes(breached: int, met: int, rate: float, ok: bool) -> None:
    result = evaluate_exit(make_facts(sla_breached=breached, sla_met=met), make_policy()).result(
        Criterion.SLA_BREACH_RATE
    )
    assert result.value == pytest.approx(rate)
    assert result.threshold == 0.05
    assert result.met is ok


def test_no_sla_outcomes_says_so() -> None:
    result = evaluate_exit(make_facts(sla_breached=0, sla_met=0), make_policy()).result(
        Criterion.SLA_BREACH_RATE
    )
    assert result.met
    assert "no SLA milestone" in result.reason


@pytest.mark.parametrize(
    ("series", "test", "falling"),
    [
        ((50, 40, 30, 20), "slope", True),
        ((50, 40, 30, 20), "both", True),
        # falling overall, but the last day rebounds above the mean
        ((80, 60, 40, 10, 5, 45), "slope", True),
        ((80, 60, 40, 10, 5, 45), "below_mean", False),
        ((80, 60, 40, 10, 5, 45), "both", False),
        ((80, 60, 40, 10, 5, 45), "either", True),
        # rising overall, but the last day dips below the mean
        ((10, 20, 30, 60, 70, 5), "slope", False),
        ((10, 20, 30, 60, 70, 5), "below_mean", True),
        ((10, 20, 30, 60, 70, 5), "either", True),
        ((10, 20, 30, 60, 70, 5), "both", False),
        ((20, 20, 20), "either", False),
    ],
)
def test_trend_tests(series: tuple[int, ...], test: Any, falling: bool) -> None:
    assert trend_of(series).falling(test) is falling


def test_trend_slope_is_least_squares() -> None:
    assert trend_of([1, 3, 5, 7]).slope == pytest.approx(2.0)
    assert trend_of([4, 4, 1, 1]).slope == pytest.approx(-1.2)
    assert trend_of([0.5, 0.2], [0, 3]).slope == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="at least two"):
        trend_of([1])
    with pytest.raises(ValueError, match="increasing"):
        trend_of([1, 2], [3, 3])


def test_volume_uses_the_last_days_of_the_window() -> None:
    policy = make_policy(trend=TrendRule(days=3, test="slope"))
    facts = make_facts(
        daily_reports=(5, 5, 5, 5, 30, 20, 10),
        daily_feedback=(0,) * 7,
        daily_negative=(0,) * 7,
    )
    result = evaluate_exit(facts, policy).result(Criterion.REPORT_VOLUME_TREND)
    assert result.met
    assert result.value == pytest.approx(-10.0)
    assert result.reason == "last day 10 reports vs mean 20.0 (test: slope)"


def test_a_quiet_window_counts_as_falling() -> None:
    zeros = (0,) * 7
    facts = make_facts(daily_reports=zeros, daily_feedback=zeros, daily_negative=zeros)
    verdict = evaluate_exit(facts, make_policy())
    assert verdict.result(Criterion.REPORT_VOLUME_TREND).met
    assert verdict.result(Criterion.REPORT_VOLUME_TREND).reason.startswith("quiet")
    assert verdict.result(Criterion.NEGATIVE_FEEDBACK_TREND).met
    assert verdict.ready


def test_a_few_reports_a_day_is_quiet_only_when_the_policy_says_so() -> None:
    flat = (2, 2, 2, 2, 2, 2, 2)
    facts = make_facts(daily_reports=flat)
    assert not evaluate_exit(facts, make_policy()).result(Criterion.REPORT_VOLUME_TREND).met
    policy = make_policy(trend=TrendRule(quiet_max_daily=2))
    assert evaluate_exit(facts, policy).result(Criterion.REPORT_VOLUME_TREND).met


def test_negative_share_trend_skips_days_without_feedback() -> None:
    facts = make_facts(
        daily_feedback=(10, 0, 10, 0, 10, 0, 10),
        daily_negative=(8, 0, 6, 0, 4, 0, 2),
    )
    result = evaluate_exit(facts, make_policy()).result(Criterion.NEGATIVE_FEEDBACK_TREND)
    assert result.met
    # shares 0.8, 0.6, 0.4, 0.2 on days 0, 2, 4, 6: -0.1 per day
    assert result.value == pytest.approx(-0.1)


def test_negative_feedback_needs_enough_days_with_feedback() -> None:
    facts = make_facts(
        daily_feedback=(0, 0, 0, 0, 0, 10, 10),
        daily_negative=(0, 0, 0, 0, 0, 5, 1),
    )
    result = evaluate_exit(facts, make_policy()).result(Criterion.NEGATIVE_FEEDBACK_TREND)
    assert not result.met
    assert "only 2 days with feedback" in result.reason


def test_firing_critical_alerts_threshold() -> None:
    policy = make_policy(alerts={"max_firing": 1})
    assert evaluate_exit(make_facts(firing_critical_alerts=1), policy).ready
    assert not evaluate_exit(make_facts(firing_critical_alerts=2), policy).ready


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"daily_feedback": (1, 2)}, "same length"),
        ({"daily_negative": (60, 16, 12, 6, 3, 2, 1)}, "cannot exceed"),
        ({"sla_met": -1}, "greater than or equal to 0"),
        ({"open_issues": {Severity.HIGH: -1}}, "must not be negative"),
        ({"as_of": datetime(2026, 5, 20)}, "timezone"),  # noqa: DTZ001 - the point of the case
    ],
)
def test_inconsistent_facts_are_rejected(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_facts(**overrides)
