"""Impact 0-100: how far an issue reaches, what it costs, and how visible it is."""

from collections.abc import Iterable
from functools import lru_cache
from math import copysign, log1p

from hypercare_contracts import Impact, ScoreItem

from hypercare_domain.triage.policy import TriagePolicy
from hypercare_domain.triage.state import IssueState

BreakdownLine = tuple[str, float, str, tuple[object, ...]]
"""One line of a breakdown before it is written out: the rule, its contribution (rounded to 0.1 when
written) and the reason as a :meth:`str.format` template with its arguments.

Severity and impact are scored for every report, but only the decisions published and the states saved
show the breakdown: keeping the reasons as templates until then (:func:`write_lines`) spares formatting
two dozen lines per report that the next report of the same issue replaces.
"""


def write_lines(lines: Iterable[BreakdownLine]) -> list[ScoreItem]:
    """The breakdown ``lines`` written out as score items."""
    return [
        score_item(rule, round(contribution, 1), template.format(*args))
        for rule, contribution, template, args in lines
    ]


def score_item(rule: str, contribution: float, reason: str) -> ScoreItem:
    """``ScoreItem(rule=rule, contribution=contribution, reason=reason)``, shared when repeated.

    Most lines of a hot issue's breakdown ("checkout is a core function", an alert floor) are the
    same for report after report; the items are immutable, so one instance serves them all.
    """
    # The sign is part of the key: -0.0 == 0.0, but they are written differently.
    return _score_item(rule, contribution, copysign(1.0, contribution), reason)


@lru_cache(maxsize=4096)
def _score_item(rule: str, contribution: float, sign: float, reason: str) -> ScoreItem:
    return ScoreItem(rule=rule, contribution=contribution, reason=reason)


def _log_share(value: float, full: float) -> float:
    """0 at 0, 1 at ``full`` and above, logarithmic between (the tenth report matters less)."""
    if value <= 0:
        return 0.0
    return min(1.0, log1p(value) / log1p(full))


_Lines = list[BreakdownLine] | None
"""Where the parts append their breakdown lines; None when only the numbers are wanted."""


def _part(lines: _Lines, rule: str, points: float, template: str, *args: object) -> float:
    """``points`` rounded to 0.1, with a breakdown line when positive and ``lines`` is given (``rule`` is
    the line's full name)."""
    points = round(points, 1)
    if points > 0 and lines is not None:
        # Rounded once more when written: rounding to 0.1 again gives the same number.
        lines.append((rule, points, template, args))
    return points


def _reach(issue: IssueState, policy: TriagePolicy, lines: _Lines) -> float:
    cfg, signals = policy.impact.reach, issue.signals
    total = _part(
        lines,
        "impact.reach.distinct_reporters",
        cfg.reporters_max * _log_share(issue.distinct_reporters, cfg.reporters_full),
        "{} distinct reporters (full reach at {})",
        issue.distinct_reporters,
        cfg.reporters_full,
    )
    total += _part(
        lines,
        "impact.reach.users_affected",
        cfg.users_max * _log_share(signals.users_affected, cfg.users_full),
        "{} users affected per the source (full reach at {})",
        signals.users_affected,
        cfg.users_full,
    )
    total += _part(
        lines,
        "impact.reach.occurrences",
        cfg.occurrences_max * _log_share(issue.occurrences, cfg.occurrences_full),
        "{} occurrences (full reach at {})",
        issue.occurrences,
        cfg.occurrences_full,
    )
    return min(100.0, total)


def revenue_at_risk(issue: IssueState, policy: TriagePolicy) -> float:
    """Revenue at risk: the source's own figure, or affected users times the component's revenue."""
    per_user = policy.impact.financial.revenue_per_affected_user.get(issue.component, 0.0)
    affected = max(issue.signals.users_affected, issue.distinct_reporters)
    return max(issue.signals.revenue_at_risk, per_user * affected)


def _financial(issue: IssueState, policy: TriagePolicy, lines: _Lines) -> float:
    cfg, signals = policy.impact.financial, issue.signals
    total = 0.0
    if policy.is_core(issue.component):
        total += _part(
            lines,
            "impact.financial.core_component",
            cfg.core_component,
            "{} is a core function",
            issue.component,
        )
    money = sorted(name for name in signals.groups if policy.phrase_groups[name].financial)
    if money:
        # The phrases are only named in the line.
        phrases = ", ".join(f"'{signals.groups[name]}'" for name in money) if lines is not None else ""
        total += _part(
            lines, "impact.financial.money_moved", cfg.financial_groups, "money involved: {}", phrases
        )
    if "enterprise" in signals.tiers:
        total += _part(
            lines, "impact.financial.enterprise", cfg.enterprise, "an enterprise customer is affected"
        )
    revenue = revenue_at_risk(issue, policy)
    total += _part(
        lines,
        "impact.financial.revenue_at_risk",
        cfg.revenue_max * min(1.0, revenue / cfg.revenue_full),
        "about {:,.0f} revenue at risk (full at {:,.0f})",
        revenue,
        cfg.revenue_full,
    )
    return min(100.0, total)


def _reputational(issue: IssueState, policy: TriagePolicy, lines: _Lines) -> float:
    cfg, signals = policy.impact.reputational, issue.signals
    total = _part(
        lines,
        "impact.reputational.followers",
        cfg.followers_max * _log_share(signals.followers, cfg.followers_full),
        "largest reporting account has {:,} followers",
        signals.followers,
    )
    total += _part(
        lines,
        "impact.reputational.engagement",
        cfg.engagement_max * _log_share(signals.engagement, cfg.engagement_full),
        "{:,} likes, shares or replies",
        signals.engagement,
    )
    total += _part(
        lines,
        "impact.reputational.negative_sentiment",
        cfg.negative_sentiment * max(0.0, -signals.sentiment_min),
        "most negative wording scores {:.2f} (-1 to 1)",
        signals.sentiment_min,
    )
    if signals.verified:
        total += _part(lines, "impact.reputational.verified", cfg.verified, "a verified account reported it")
    if signals.worst_rating is not None and signals.worst_rating <= policy.rating.low_at_most:
        total += _part(
            lines,
            "impact.reputational.low_rating",
            cfg.low_rating,
            "rated {} of 5 stars",
            signals.worst_rating,
        )
    public = [
        (cfg.public_sources[source], source) for source in issue.sources if source in cfg.public_sources
    ]
    if public:
        points, source = max(public)
        total += _part(lines, "impact.reputational.public_source", points, "reported in public ({})", source)
    return min(100.0, total)


def impact_of(issue: IssueState, policy: TriagePolicy, lines: _Lines = None) -> Impact:
    """Impact of an issue; one breakdown line per contribution appended to ``lines`` if given (not yet
    written out: see :func:`write_lines`).

    Each part is 0-100; the score is their weighted sum (weights from the policy, summing to 1).
    """
    weights = policy.impact.weights
    reach = _reach(issue, policy, lines)
    financial = _financial(issue, policy, lines)
    reputational = _reputational(issue, policy, lines)
    score = round(
        min(
            100.0, reach * weights.reach + financial * weights.financial + reputational * weights.reputational
        ),
        1,
    )
    if lines is not None:
        lines.append(
            (
                "impact",
                score,
                "impact {:g} = reach {:g} x {:g} + financial {:g} x {:g} + reputational {:g} x {:g}",
                (
                    score,
                    reach,
                    weights.reach,
                    financial,
                    weights.financial,
                    reputational,
                    weights.reputational,
                ),
            )
        )
    return Impact(
        score=score, reach=round(reach, 1), financial=round(financial, 1), reputational=round(reputational, 1)
    )
