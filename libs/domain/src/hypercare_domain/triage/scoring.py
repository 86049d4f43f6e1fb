"""Severity and impact of an issue, with a breakdown a lead can read line by line.

Severity is the highest of two things: the floors set by rules ("a double charge is at least
critical"), and the severity the summed points reach (``severity_points``), capped by any ceiling
("a typo stays low however many people mention it"). Floors always win over ceilings.

:func:`measure` scores an issue without building the breakdown: :meth:`Measurement.breakdown` runs the
same rules again on the same (immutable) issue when it is asked for, recording their lines this time;
:func:`assess` does both.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypercare_contracts import Impact, ScoreItem, Severity

from hypercare_domain.triage.impact import BreakdownLine, impact_of, write_lines
from hypercare_domain.triage.policy import PointsStep, ReachRule, TriagePolicy, points_for
from hypercare_domain.triage.state import IssueState
from hypercare_domain.triage.views import micros, recent_view


@dataclass(frozen=True)
class Assessment:
    """Severity, impact and every contribution to them."""

    severity: Severity
    impact: Impact
    breakdown: list[ScoreItem]


@dataclass(frozen=True)
class Measurement:
    """Severity and impact, with what it takes to write their breakdown out later."""

    severity: Severity
    impact: Impact
    issue: IssueState
    policy: TriagePolicy
    now: datetime

    def breakdown(self) -> list[ScoreItem]:
        """The breakdown: one line per rule that contributed, the ``severity`` line, the impact lines."""
        # Every report is scored but few breakdowns are read (see :data:`~.impact.BreakdownLine`):
        # scoring again with the lines recorded gives the same numbers, since the inputs are immutable.
        lines: list[BreakdownLine] = []
        _measure(self.issue, self.policy, self.now, lines)
        return write_lines(lines)


@dataclass
class _Tally:
    lines: list[BreakdownLine] | None
    """Where the breakdown lines go; None when only the numbers are wanted."""
    floors: list[tuple[Severity, str]] = field(default_factory=list)
    ceilings: list[tuple[Severity, str]] = field(default_factory=list)
    points: float = 0.0

    def add(
        self, rule: str, points: float, template: str, *args: object, floor: Severity | None = None
    ) -> None:
        """Count ``points`` (and ``floor``) for ``rule``; ``template`` and ``args`` give the reason."""
        if floor is not None:
            self.floors.append((floor, rule))
        self.points += points
        if self.lines is not None:
            if floor is not None:
                template, args = template + ": at least {}", (*args, floor)
            self.lines.append((f"severity.{rule}", points, template, args))


def _where(issue: IssueState, core: bool) -> str:
    return f"core component {issue.component}" if core else f"component {issue.component}"


def _phrases(issue: IssueState, policy: TriagePolicy, core: bool, where: str, tally: _Tally) -> None:
    for name, phrase in sorted(issue.signals.groups.items()):
        group = policy.phrase_groups.get(name)
        if group is None:  # the group was removed from the policy since the report came in
            continue
        label = group.description or name
        floor = group.floor_core if core else group.floor_other
        if group.ceiling is not None:
            tally.ceilings.append((group.ceiling, f"phrase.{name}"))
        if group.ceiling is not None and floor is None:
            tally.add(
                f"phrase.{name}",
                group.points,
                "'{}' ({}) on {}: points-based severity capped at {}",
                phrase,
                label,
                where,
                group.ceiling,
            )
        else:
            tally.add(f"phrase.{name}", group.points, "'{}' ({}) on {}", phrase, label, where, floor=floor)


def _alert(issue: IssueState, policy: TriagePolicy, core: bool, where: str, tally: _Tally) -> None:
    alert = issue.signals.alert_severity
    floors = policy.alerts.floors.get(alert) if alert else None
    if alert and floors:
        floor = floors.core if core else floors.other
        tally.add("alert", 0.0, "{} alert on {}", alert, where, floor=floor)


def _reach_count(issue: IssueState, rule: ReachRule, now: datetime) -> int:
    if rule.min_users_affected is not None:
        return issue.signals.users_affected
    since = now - timedelta(minutes=rule.window_minutes)
    view = recent_view(issue.recent)
    if view.all_after(micros(since)):  # every entry is inside the window
        return view.distinct_reporters
    return len({r.reporter for r in issue.recent if r.reporter is not None and r.at > since})


def _reach(
    issue: IssueState, policy: TriagePolicy, now: datetime, tally: _Tally, *, core: bool, where: str
) -> None:
    for rule in policy.reach_rules:
        if rule.core_only and not core:
            continue
        hit = sorted(set(rule.requires_groups) & set(issue.signals.groups))
        if rule.requires_groups and not hit:
            continue
        count = _reach_count(issue, rule, now)
        needed = rule.min_users_affected or rule.min_distinct_reporters or 0
        if count < needed:
            continue
        args: tuple[object, ...]
        if rule.min_users_affected is not None:
            template, args = "{} users affected on {}", (count, where)
        else:
            template, args = "{} distinct reporters within {} min on {}", (count, rule.window_minutes, where)
        if hit:
            template, args = template + " with {}", (*args, ", ".join(hit))
        tally.add(f"reach.{rule.name}", 0.0, template, *args, floor=rule.severity)


def _ladder(
    tally: _Tally, rule: str, value: float, ladder: list[PointsStep], what: str, *args: object
) -> None:
    """Points of the ``ladder`` step ``value`` reaches; ``what`` and ``args`` describe the value."""
    step = points_for(value, ladder)
    if step is not None and step.points:
        tally.add(rule, step.points, what + " (>= {:g})", *args, step.at)


def _people(issue: IssueState, policy: TriagePolicy, core: bool, where: str, tally: _Tally) -> None:
    signals = issue.signals
    for tier in signals.tiers:
        tier_rule = policy.reporter_tiers.get(tier)
        if tier_rule is None:
            continue
        failing = tier in signals.failing_tiers
        floor = tier_rule.floor_when_failing if failing else None
        if tier_rule.points or floor is not None:
            reason = "{} customer reported it failing" if failing else "{} customer reported it"
            tally.add(f"tier.{tier}", tier_rule.points, reason, tier, floor=floor)
    followers = policy.followers
    _ladder(tally, "followers", signals.followers, followers.points, "{:,} followers", signals.followers)
    if core and followers.floor_core_negative and signals.negative_followers >= followers.large_account:
        tally.add(
            "followers.large_negative",
            0.0,
            "negative post from an account with {:,} followers about {}",
            signals.negative_followers,
            where,
            floor=followers.floor_core_negative,
        )
    _ladder(
        tally,
        "engagement",
        signals.engagement,
        policy.engagement.points,
        "{:,} engagement",
        signals.engagement,
    )
    if signals.sentiment_count and signals.sentiment_min <= policy.sentiment.negative_below:
        tally.add("sentiment", policy.sentiment.points, "negative wording ({:.2f})", signals.sentiment_min)
    if signals.worst_rating is not None and signals.worst_rating <= policy.rating.low_at_most:
        tally.add("rating", policy.rating.points, "rated {} of 5 stars", signals.worst_rating)
    if signals.verified and policy.points.verified:
        tally.add("verified", policy.points.verified, "a verified account reported it")


def _volume(issue: IssueState, policy: TriagePolicy, tally: _Tally) -> None:
    points = policy.points
    _ladder(
        tally,
        "distinct_reporters",
        issue.distinct_reporters,
        points.distinct_reporters,
        "{} distinct reporters",
        issue.distinct_reporters,
    )
    _ladder(tally, "occurrences", issue.occurrences, points.occurrences, "{} occurrences", issue.occurrences)
    users = issue.signals.users_affected
    _ladder(tally, "users_affected", users, points.users_affected, "{} users affected", users)
    priority = issue.signals.source_priority
    if priority and points.source_priority.get(priority):
        tally.add("source_priority", points.source_priority[priority], "source priority {}", priority)


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


def measure(issue: IssueState, policy: TriagePolicy, now: datetime) -> Measurement:
    """Severity and impact of ``issue`` as of ``now``, the breakdown left for later (see :func:`assess`)."""
    severity, impact = _measure(issue, policy, now, None)
    return Measurement(severity=severity, impact=impact, issue=issue, policy=policy, now=now)


def _measure(
    issue: IssueState, policy: TriagePolicy, now: datetime, lines: list[BreakdownLine] | None
) -> tuple[Severity, Impact]:
    """Severity and impact; the breakdown lines appended to ``lines`` when given."""
    core = policy.is_core(issue.component)
    # ``where`` is only ever an argument of a reason.
    where = _where(issue, core) if lines is not None else ""
    tally = _Tally(lines)
    _phrases(issue, policy, core, where, tally)
    _alert(issue, policy, core, where, tally)
    _reach(issue, policy, now, tally, core=core, where=where)
    _people(issue, policy, core, where, tally)
    _volume(issue, policy, tally)

    by_points = _points_severity(tally.points, policy)
    severity = by_points
    if lines is None:  # the same severity as below, without the reason
        if tally.ceilings:
            ceiling = min(tally.ceilings, key=lambda item: item[0].rank)[0]
            if ceiling.rank < severity.rank:
                severity = ceiling
        if tally.floors:
            floor = max(tally.floors, key=lambda item: item[0].rank)[0]
            if floor.rank > severity.rank:
                severity = floor
        return severity, impact_of(issue, policy)
    # The reason of the ``severity`` line, after the severity it names.
    reason, args = "{:g} points reach {}", [tally.points, by_points]
    if tally.ceilings:
        ceiling, ceiling_rule = min(tally.ceilings, key=lambda item: item[0].rank)
        if ceiling.rank < by_points.rank:
            severity = ceiling
            reason += ", capped at {} by {}"
            args += (ceiling, ceiling_rule)
    if tally.floors:
        floor, floor_rule = max(tally.floors, key=lambda item: item[0].rank)
        reason += "; highest floor {} from {}"
        args += (floor, floor_rule)
        if floor.rank > severity.rank:
            severity = floor
    lines.append(("severity", tally.points, "{}: " + reason, (severity, *args)))
    return severity, impact_of(issue, policy, lines)


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
    measured = measure(issue, policy, now)
    return Assessment(severity=measured.severity, impact=measured.impact, breakdown=measured.breakdown())
