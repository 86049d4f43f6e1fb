"""Impact 0-100: how far an issue reaches, what it costs, and how visible it is."""

from functools import lru_cache
from math import copysign, log1p

from hypercare_contracts import Impact, ScoreItem

from hypercare_domain.triage.policy import TriagePolicy
from hypercare_domain.triage.state import IssueState


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


def _part(items: list[ScoreItem], part: str, rule: str, points: float, reason: str) -> float:
    points = round(points, 1)
    if points > 0:
        items.append(score_item(f"impact.{part}.{rule}", points, reason))
    return points


def _reach(issue: IssueState, policy: TriagePolicy, items: list[ScoreItem]) -> float:
    cfg, signals = policy.impact.reach, issue.signals
    total = _part(
        items,
        "reach",
        "distinct_reporters",
        cfg.reporters_max * _log_share(issue.distinct_reporters, cfg.reporters_full),
        f"{issue.distinct_reporters} distinct reporters (full reach at {cfg.reporters_full})",
    )
    total += _part(
        items,
        "reach",
        "users_affected",
        cfg.users_max * _log_share(signals.users_affected, cfg.users_full),
        f"{signals.users_affected} users affected per the source (full reach at {cfg.users_full})",
    )
    total += _part(
        items,
        "reach",
        "occurrences",
        cfg.occurrences_max * _log_share(issue.occurrences, cfg.occurrences_full),
        f"{issue.occurrences} occurrences (full reach at {cfg.occurrences_full})",
    )
    return min(100.0, total)


def revenue_at_risk(issue: IssueState, policy: TriagePolicy) -> float:
    """Revenue at risk: the source's own figure, or affected users times the component's revenue."""
    per_user = policy.impact.financial.revenue_per_affected_user.get(issue.component, 0.0)
    affected = max(issue.signals.users_affected, issue.distinct_reporters)
    return max(issue.signals.revenue_at_risk, per_user * affected)


def _financial(issue: IssueState, policy: TriagePolicy, items: list[ScoreItem]) -> float:
    cfg, signals = policy.impact.financial, issue.signals
    total = 0.0
    if policy.is_core(issue.component):
        total += _part(
            items, "financial", "core_component", cfg.core_component, f"{issue.component} is a core function"
        )
    money = sorted(name for name in signals.groups if policy.phrase_groups[name].financial)
    if money:
        phrases = ", ".join(f"'{signals.groups[name]}'" for name in money)
        total += _part(items, "financial", "money_moved", cfg.financial_groups, f"money involved: {phrases}")
    if "enterprise" in signals.tiers:
        total += _part(items, "financial", "enterprise", cfg.enterprise, "an enterprise customer is affected")
    revenue = revenue_at_risk(issue, policy)
    total += _part(
        items,
        "financial",
        "revenue_at_risk",
        cfg.revenue_max * min(1.0, revenue / cfg.revenue_full),
        f"about {revenue:,.0f} revenue at risk (full at {cfg.revenue_full:,.0f})",
    )
    return min(100.0, total)


def _reputational(issue: IssueState, policy: TriagePolicy, items: list[ScoreItem]) -> float:
    cfg, signals = policy.impact.reputational, issue.signals
    total = _part(
        items,
        "reputational",
        "followers",
        cfg.followers_max * _log_share(signals.followers, cfg.followers_full),
        f"largest reporting account has {signals.followers:,} followers",
    )
    total += _part(
        items,
        "reputational",
        "engagement",
        cfg.engagement_max * _log_share(signals.engagement, cfg.engagement_full),
        f"{signals.engagement:,} likes, shares or replies",
    )
    total += _part(
        items,
        "reputational",
        "negative_sentiment",
        cfg.negative_sentiment * max(0.0, -signals.sentiment_min),
        f"most negative wording scores {signals.sentiment_min:.2f} (-1 to 1)",
    )
    if signals.verified:
        total += _part(items, "reputational", "verified", cfg.verified, "a verified account reported it")
    if signals.worst_rating is not None and signals.worst_rating <= policy.rating.low_at_most:
        total += _part(
            items, "reputational", "low_rating", cfg.low_rating, f"rated {signals.worst_rating} of 5 stars"
        )
    public = [
        (cfg.public_sources[source], source) for source in issue.sources if source in cfg.public_sources
    ]
    if public:
        points, source = max(public)
        total += _part(items, "reputational", "public_source", points, f"reported in public ({source})")
    return min(100.0, total)


def assess_impact(issue: IssueState, policy: TriagePolicy) -> tuple[Impact, list[ScoreItem]]:
    """Impact of an issue and one breakdown line per contribution.

    Each part is 0-100; the score is their weighted sum (weights from the policy, summing to 1).
    """
    items: list[ScoreItem] = []
    weights = policy.impact.weights
    reach = _reach(issue, policy, items)
    financial = _financial(issue, policy, items)
    reputational = _reputational(issue, policy, items)
    score = round(
        min(
            100.0, reach * weights.reach + financial * weights.financial + reputational * weights.reputational
        ),
        1,
    )
    items.append(
        score_item(
            "impact",
            score,
            f"impact {score:g} = reach {reach:g} x {weights.reach:g} + financial {financial:g}"
            f" x {weights.financial:g} + reputational {reputational:g} x {weights.reputational:g}",
        )
    )
    impact = Impact(
        score=score, reach=round(reach, 1), financial=round(financial, 1), reputational=round(reputational, 1)
    )
    return impact, items
