"""Facts in, verdict out: is the launch ready to leave hypercare?"""

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from hypercare_domain.exit.facts import ExitFacts
from hypercare_domain.exit.policy import ExitPolicy
from hypercare_domain.exit.trend import trend_of


class Criterion(StrEnum):
    """The exit criteria, in the order they are shown."""

    OPEN_BLOCKING_ISSUES = "open_blocking_issues"
    SLA_BREACH_RATE = "sla_breach_rate"
    REPORT_VOLUME_TREND = "report_volume_trend"
    NEGATIVE_FEEDBACK_TREND = "negative_feedback_trend"
    FIRING_CRITICAL_ALERTS = "firing_critical_alerts"


Comparison = Literal["<=", "<"]


class CriterionResult(BaseModel):
    """One criterion: its measured value, the threshold it is compared with, and why it is (not) met."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    criterion: Criterion
    title: str
    value: float
    comparison: Comparison
    threshold: float
    met: bool
    reason: str


class ExitVerdict(BaseModel):
    """Ready when every criterion is met."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: AwareDatetime
    ready: bool
    criteria: tuple[CriterionResult, ...]

    def result(self, criterion: Criterion) -> CriterionResult:
        """The result of one criterion."""
        return next(c for c in self.criteria if c.criterion is criterion)


def evaluate_exit(facts: ExitFacts, policy: ExitPolicy) -> ExitVerdict:
    """Judge every exit criterion on ``facts`` with the thresholds of ``policy``.

    Args:
        facts: counts gathered at one instant (see :class:`ExitFacts`).
        policy: the thresholds of ``exit.yaml``.

    Returns:
        The verdict with one result per :class:`Criterion`, in enum order.
    """
    criteria = (
        _open_blocking(facts, policy),
        _sla_breach_rate(facts, policy),
        _report_volume(facts, policy),
        _negative_feedback(facts, policy),
        _firing_alerts(facts, policy),
    )
    return ExitVerdict(as_of=facts.as_of, ready=all(c.met for c in criteria), criteria=criteria)


def _open_blocking(facts: ExitFacts, policy: ExitPolicy) -> CriterionResult:
    rule = policy.open_issues
    counts = {s: facts.open_issues.get(s, 0) for s in rule.severities}
    total = sum(counts.values())
    detail = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    return CriterionResult(
        criterion=Criterion.OPEN_BLOCKING_ISSUES,
        title=f"No open {'/'.join(s.value for s in rule.severities)} issues",
        value=total,
        comparison="<=",
        threshold=rule.max_open,
        met=total <= rule.max_open,
        reason=f"open: {detail}",
    )


def _sla_breach_rate(facts: ExitFacts, policy: ExitPolicy) -> CriterionResult:
    rule = policy.sla
    outcomes = facts.sla_breached + facts.sla_met
    rate = facts.sla_breached / outcomes if outcomes else 0.0
    reason = (
        f"{facts.sla_breached} breached of {outcomes} SLA milestones in the last {rule.window_days} days"
        if outcomes
        else f"no SLA milestone was met or breached in the last {rule.window_days} days"
    )
    return CriterionResult(
        criterion=Criterion.SLA_BREACH_RATE,
        title=f"SLA breach rate at most {rule.max_breach_rate:.0%}",
        value=rate,
        comparison="<=",
        threshold=rule.max_breach_rate,
        met=rate <= rule.max_breach_rate,
        reason=reason,
    )


def _report_volume(facts: ExitFacts, policy: ExitPolicy) -> CriterionResult:
    rule = policy.trend
    series = facts.daily_reports[-rule.days :]
    title = f"Report volume falling over {rule.days} days"
    if len(series) < 2:
        return _result(
            Criterion.REPORT_VOLUME_TREND, title, 0.0, met=False, reason="fewer than 2 days of data"
        )
    trend = trend_of(series)
    if max(series) <= rule.quiet_max_daily:
        reason = f"quiet: at most {rule.quiet_max_daily} reports on every day"
        return _result(Criterion.REPORT_VOLUME_TREND, title, trend.slope, met=True, reason=reason)
    reason = f"last day {trend.last:.0f} reports vs mean {trend.mean:.1f} (test: {rule.test})"
    return _result(
        Criterion.REPORT_VOLUME_TREND, title, trend.slope, met=trend.falling(rule.test), reason=reason
    )


def _negative_feedback(facts: ExitFacts, policy: ExitPolicy) -> CriterionResult:
    rule = policy.negative_feedback
    days = policy.trend.days
    meaning = f"rating <= {rule.rating_at_most}"
    if rule.sentiment_at_most is not None:
        meaning += f" or sentiment <= {rule.sentiment_at_most:g}"
    title = f"Share of negative feedback ({meaning}) falling over {days} days"
    pairs = list(zip(facts.daily_feedback[-days:], facts.daily_negative[-days:], strict=True))
    negative = sum(n for _, n in pairs)
    if negative == 0:
        return _result(
            Criterion.NEGATIVE_FEEDBACK_TREND, title, 0.0, met=True, reason="no negative feedback in window"
        )
    positions = [day for day, (f, _) in enumerate(pairs) if f > 0]
    shares = [pairs[day][1] / pairs[day][0] for day in positions]
    if len(shares) < rule.min_days_with_feedback:
        reason = f"only {len(shares)} days with feedback; a trend needs {rule.min_days_with_feedback}"
        return _result(Criterion.NEGATIVE_FEEDBACK_TREND, title, 0.0, met=False, reason=reason)
    trend = trend_of(shares, positions)
    reason = (
        f"last day {trend.last:.0%} negative vs mean {trend.mean:.0%} "
        f"over {len(shares)} days with feedback (test: {policy.trend.test})"
    )
    return _result(
        Criterion.NEGATIVE_FEEDBACK_TREND,
        title,
        trend.slope,
        met=trend.falling(policy.trend.test),
        reason=reason,
    )


def _firing_alerts(facts: ExitFacts, policy: ExitPolicy) -> CriterionResult:
    rule = policy.alerts
    n = facts.firing_critical_alerts
    return CriterionResult(
        criterion=Criterion.FIRING_CRITICAL_ALERTS,
        title="No firing critical alerts",
        value=n,
        comparison="<=",
        threshold=rule.max_firing,
        met=n <= rule.max_firing,
        reason=f"{n} unresolved issues with a {'/'.join(rule.critical_severities)} alert",
    )


def _result(criterion: Criterion, title: str, slope: float, *, met: bool, reason: str) -> CriterionResult:
    """A trend criterion: the slope must be below zero (or the window is quiet)."""
    return CriterionResult(
        criterion=criterion,
        title=title,
        value=slope,
        comparison="<",
        threshold=0.0,
        met=met,
        reason=reason,
    )
