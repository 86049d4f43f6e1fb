"""Severity and impact of an issue, with a breakdown a lead can read line by line.

Severity is the highest of two things: the floors set by rules ("a double charge is at least
critical"), and the severity the summed points reach (``severity_points``), capped by any ceiling
("a typo stays low however many people mention it"). Floors always win over ceilings.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypercare_contracts import Impact, ScoreItem, Severity

from hypercare_domain.triage.impact import assess_impact, score_item
from hypercare_domain.triage.policy import PointsStep, ReachRule, TriagePolicy, points_for
from hypercare_domain.triage.state import IssueState
from hypercare_domain.triage.views import micros, recent_view


@dataclass(frozen=True)
class Assessment:
    """Severity, impact and every contribution to them."""

    severity: Severity
    impact: Impact
    breakdown: list[ScoreItem]


@dataclass
class _Tally:
    items: list[ScoreItem] = field(default_factory=list)
    floors: list[tuple[Severity, str]] = field(default_factory=list)
    ceilings: list[tuple[Severity, str]] = field(default_factory=list)
    points: float = 0.0

    def add(self, rule: str, reason: str, points: float = 0.0, floor: Severity | None = None) -> None:
        if floor is not None:
            self.floors.append((floor, rule))
            reason = f"{reason}: at least {floor}"
        self.points += points
        self.items.append(score_item(f"severity.{rule}", round(points, 1), reason))


def _where(issue: IssueState, core: bool) -> str:
    return f"core component {issue.component}" if core else f"component {issue.component}"


def _phrases(issue: IssueState, policy: TriagePolicy, core: bool, tally: _Tally) -> None:
    for name, phrase in sorted(issue.signals.groups.items()):
        group = policy.phrase_groups.get(name)
        if group is None:  # the group was removed from the policy since the report came in
            continue
        label = group.description or name
        floor = group.floor_core if core else group.floor_other
        if group.ceiling is not None:
            tally.ceilings.append((group.ceiling, f"phrase.{name}"))
        reason = f"'{phrase}' ({label}) on {_where(issue, core)}"
        if group.ceiling is not None and floor is None:
            reason = f"{reason}: points-based severity capped at {group.ceiling}"
        tally.add(f"phrase.{name}", reason, group.points, floor)


def _alert(issue: IssueState, policy: TriagePolicy, core: bool, tally: _Tally) -> None:
    alert = issue.signals.alert_severity
    floors = policy.alerts.floors.get(alert) if alert else None
    if alert and floors:
        floor = floors.core if core else floors.other
        tally.add("alert", f"{alert} alert on {_where(issue, core)}", floor=floor)


def _reach_count(issue: IssueState, rule: ReachRule, now: datetime) -> tuple[int, str]:
    if rule.min_users_affected is not None:
        return issue.signals.users_affected, f"{issue.signals.users_affected} users affected"
    since = now - timedelta(minutes=rule.window_minutes)
    view = recent_view(issue.recent)
    if view.oldest is None or view.oldest > micros(since):  # every entry is inside the window
        count = view.distinct_reporters
    else:
        count = len({r.reporter for r in issue.recent if r.reporter is not None and r.at > since})
    return count, f"{count} distinct reporters within {rule.window_minutes} min"


def _reach(issue: IssueState, policy: TriagePolicy, core: bool, now: datetime, tally: _Tally) -> None:
    for rule in policy.reach_rules:
        if rule.core_only and not core:
            continue
        hit = sorted(set(rule.requires_groups) & set(issue.signals.groups))
        if rule.requires_groups and not hit:
            continue
        count, what = _reach_count(issue, rule, now)
        needed = rule.min_users_affected or rule.min_distinct_reporters or 0
        if count >= needed:
            signal = f" with {', '.join(hit)}" if hit else ""
            tally.add(f"reach.{rule.name}", f"{what} on {_where(issue, core)}{signal}", floor=rule.severity)


def _ladder(tally: _Tally, rule: str, value: float, ladder: list[PointsStep], what: str) -> None:
    step = points_for(value, ladder)
    if step is not None and step.points:
        tally.add(rule, f"{what} (>= {step.at:g})", step.points)


def _people(issue: IssueState, policy: TriagePolicy, core: bool, tally: _Tally) -> None:
    signals = issue.signals
    for tier in signals.tiers:
        tier_rule = policy.reporter_tiers.get(tier)
        if tier_rule is None:
            continue
        failing = tier in signals.failing_tiers
        floor = tier_rule.floor_when_failing if failing else None
        reason = f"{tier} customer reported it" + (" failing" if failing else "")
        if tier_rule.points or floor is not None:
            tally.add(f"tier.{tier}", reason, tier_rule.points, floor)
    followers = policy.followers
    _ladder(tally, "followers", signals.followers, followers.points, f"{signals.followers:,} followers")
    if core and followers.floor_core_negative and signals.negative_followers >= followers.large_account:
        tally.add(
            "followers.large_negative",
            f"negative post from an account with {signals.negative_followers:,} followers about "
            f"{_where(issue, core)}",
            floor=followers.floor_core_negative,
        )
    _ladder(
        tally,
        "engagement",
        signals.engagement,
        policy.engagement.points,
        f"{signals.engagement:,} engagement",
    )
    if signals.sentiment_count and signals.sentiment_min <= policy.sentiment.negative_below:
        tally.add("sentiment", f"negative wording ({signals.sentiment_min:.2f})", policy.sentiment.points)
    if signals.worst_rating is not None and signals.worst_rating <= policy.rating.low_at_most:
        tally.add("rating", f"rated {signals.worst_rating} of 5 stars", policy.rating.points)
    if signals.verified and policy.points.verified:
        tally.add("verified", "a verified account reported it", policy.points.verified)


def _volume(issue: IssueState, policy: TriagePolicy, tally: _Tally) -> None:
    points = policy.points
    _ladder(
        tally,
        "distinct_reporters",
        issue.distinct_reporters,
        points.distinct_reporters,
        f"{issue.distinct_reporters} distinct reporters",
    )
    _ladder(tally, "occurrences", issue.occurrences, points.occurrences, f"{issue.occurrences} occurrences")
    users = issue.signals.users_affected
    _ladder(tally, "users_affected", users, points.users_affected, f"{users} users affected")
    priority = issue.signals.source_priority
    if priority and points.source_priority.get(priority):
        tally.add("source_priority", f"source priority {priority}", points.source_priority[priority])


def _points_severity(points: float, policy: TriagePolicy) -> Severity:
    thresholds = policy.severity_points
    for severity, needed in (
        (Severity.CRITICAL, thresholds.critical),
        (Severity.HIGH, thresholds.high),
        (Severity.MEDIUM, thresholds.medium),
    ):
        if points >= needed:
            return severity
    return Severity.LOW


def assess(issue: IssueState, policy: TriagePolicy, now: datetime) -> Assessment:
    """Severity and impact of ``issue`` as of ``now`` (rate rules count reports before ``now``).

    Args:
        issue: the issue with every report so far absorbed.
        policy: the loaded ``triage.yaml``.
        now: the instant of assessment; the engine passes the time of the latest report.

    Returns:
        The severity, the impact and the breakdown: one line per rule that contributed, then a
        ``severity`` line saying how the result was reached, then the impact lines.
    """
    core = policy.is_core(issue.component)
    tally = _Tally()
    _phrases(issue, policy, core, tally)
    _alert(issue, policy, core, tally)
    _reach(issue, policy, core, now, tally)
    _people(issue, policy, core, tally)
    _volume(issue, policy, tally)

    by_points = _points_severity(tally.points, policy)
    capped = by_points
    reason = f"{tally.points:g} points reach {by_points}"
    if tally.ceilings:
        ceiling, ceiling_rule = min(tally.ceilings, key=lambda item: item[0].rank)
        if ceiling.rank < by_points.rank:
            capped = ceiling
            reason = f"{reason}, capped at {ceiling} by {ceiling_rule}"
    severity = capped
    if tally.floors:
        floor, floor_rule = max(tally.floors, key=lambda item: item[0].rank)
        reason = f"{reason}; highest floor {floor} from {floor_rule}"
        if floor.rank > severity.rank:
            severity = floor
    tally.items.append(score_item("severity", round(tally.points, 1), f"{severity}: {reason}"))
    impact, impact_items = assess_impact(issue, policy)
    return Assessment(severity=severity, impact=impact, breakdown=[*tally.items, *impact_items])
