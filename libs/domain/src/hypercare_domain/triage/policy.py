"""The triage policy (``triage.yaml``) and the bundle of the three triage policy files.

Every threshold, weight and phrase the scoring and grouping rules use lives here, so a lead can change
what "critical" means without a code change. ``docs/triage-policy.md`` documents every key.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Self

from hypercare_contracts import Severity, Source
from hypercare_contracts.normalized import Tier
from pydantic import Field, model_validator

from hypercare_domain.policy import PolicyModel, load_policy_file
from hypercare_domain.triage.routing import RoutesPolicy
from hypercare_domain.triage.suppression import SuppressionPolicy


class PointsStep(PolicyModel):
    """One step of a points ladder: ``points`` once a value reaches ``at``."""

    at: float = Field(ge=0)
    points: float


def points_for(value: float, ladder: list[PointsStep]) -> PointsStep | None:
    """The highest step of ``ladder`` that ``value`` reaches, or None below the first step."""
    # A loop rather than a filtered list and max(): five ladders are read for every report. Strictly
    # higher keeps the first of equal steps, as max() does.
    best: PointsStep | None = None
    for step in ladder:
        if value >= step.at and (best is None or step.at > best.at):
            best = step
    return best


class PhraseGroup(PolicyModel):
    """Phrases that mean the same kind of trouble, and what they imply for severity."""

    description: str = ""
    phrases: list[str] = Field(min_length=1)
    failing: bool = False
    """A failing signal: counts for reach rules, enterprise and large-account rules."""
    financial: bool = False
    """Money is directly involved (double charging): adds to financial impact."""
    floor_core: Severity | None = None
    floor_other: Severity | None = None
    ceiling: Severity | None = None
    """Caps the points-based severity (cosmetic issues stay low however loud); floors still win."""
    points: float = 0


class ReachRule(PolicyModel):
    """A severity floor reached by many people at once."""

    name: str
    severity: Severity
    core_only: bool = True
    requires_groups: list[str] = Field(default_factory=list)
    min_distinct_reporters: int | None = Field(default=None, ge=1)
    window_minutes: int = Field(default=15, ge=1)
    min_users_affected: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_threshold(self) -> Self:
        if (self.min_distinct_reporters is None) == (self.min_users_affected is None):
            raise ValueError("set exactly one of min_distinct_reporters and min_users_affected")
        return self


class TierRule(PolicyModel):
    """What a reporter's customer tier adds."""

    points: float = 0
    floor_when_failing: Severity | None = None


class FollowersRule(PolicyModel):
    """Public accounts: a negative post from a large account about a core function."""

    large_account: int = Field(default=10_000, ge=1)
    floor_core_negative: Severity | None = Severity.HIGH
    points: list[PointsStep] = Field(default_factory=list)


class LadderRule(PolicyModel):
    """A signal scored by a points ladder alone."""

    points: list[PointsStep] = Field(default_factory=list)


class SentimentRule(PolicyModel):
    """Negative wording (VADER compound score, -1..1)."""

    negative_below: float = Field(default=-0.3, ge=-1, le=1)
    points: float = 10


class RatingRule(PolicyModel):
    """Low star ratings (1-5)."""

    low_at_most: int = Field(default=2, ge=1, le=5)
    points: float = 10


class AlertFloor(PolicyModel):
    """Severity floors of one alert severity, on core and on other components."""

    core: Severity
    other: Severity


class AlertRules(PolicyModel):
    """How monitoring alert severities map to triage severities."""

    aliases: dict[str, str] = Field(default_factory=dict)
    floors: dict[str, AlertFloor] = Field(default_factory=dict)

    def canonical(self, alert_severity: str) -> str:
        """The alert severity after lower-casing and alias lookup."""
        key = alert_severity.strip().lower()
        return self.aliases.get(key, key)

    def rank(self, alert_severity: str) -> int:
        """Rank of an alert severity by its floor on a core component (unknown ranks lowest)."""
        floor = self.floors.get(self.canonical(alert_severity))
        return floor.core.rank if floor else -1


class SeverityPoints(PolicyModel):
    """Points totals at which a severity is reached."""

    medium: float = 30
    high: float = 60
    critical: float = 90

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        if not self.medium < self.high < self.critical:
            raise ValueError("severity_points must increase: medium < high < critical")
        return self


class ScoringPoints(PolicyModel):
    """Points ladders of volume signals and flat points of other signals."""

    distinct_reporters: list[PointsStep] = Field(default_factory=list)
    occurrences: list[PointsStep] = Field(default_factory=list)
    users_affected: list[PointsStep] = Field(default_factory=list)
    source_priority: dict[str, float] = Field(default_factory=dict)
    verified: float = 5


class ReachImpact(PolicyModel):
    """Reach part of impact: each signal log-scaled to its maximum at ``*_full``."""

    reporters_full: int = Field(default=50, ge=1)
    reporters_max: float = Field(default=60, ge=0, le=100)
    users_full: int = Field(default=1000, ge=1)
    users_max: float = Field(default=40, ge=0, le=100)
    occurrences_full: int = Field(default=200, ge=1)
    occurrences_max: float = Field(default=20, ge=0, le=100)


class FinancialImpact(PolicyModel):
    """Financial part of impact."""

    core_component: float = Field(default=30, ge=0, le=100)
    financial_groups: float = Field(default=40, ge=0, le=100)
    enterprise: float = Field(default=20, ge=0, le=100)
    revenue_full: float = Field(default=10_000, gt=0)
    revenue_max: float = Field(default=40, ge=0, le=100)
    revenue_per_affected_user: dict[str, float] = Field(default_factory=dict)


class ReputationalImpact(PolicyModel):
    """Reputational part of impact."""

    followers_full: int = Field(default=1_000_000, ge=1)
    followers_max: float = Field(default=40, ge=0, le=100)
    engagement_full: int = Field(default=5000, ge=1)
    engagement_max: float = Field(default=20, ge=0, le=100)
    negative_sentiment: float = Field(default=20, ge=0, le=100)
    verified: float = Field(default=10, ge=0, le=100)
    low_rating: float = Field(default=15, ge=0, le=100)
    public_sources: dict[Source, float] = Field(default_factory=dict)


class ImpactWeights(PolicyModel):
    """How the three parts combine into the impact score; the weights sum to 1."""

    reach: float = Field(default=0.5, ge=0, le=1)
    financial: float = Field(default=0.3, ge=0, le=1)
    reputational: float = Field(default=0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Self:
        if abs(self.reach + self.financial + self.reputational - 1) > 1e-6:
            raise ValueError("impact weights must sum to 1")
        return self


class ImpactPolicy(PolicyModel):
    """Impact 0-100 from reach, financial and reputational parts."""

    weights: ImpactWeights = Field(default_factory=ImpactWeights)
    reach: ReachImpact = Field(default_factory=ReachImpact)
    financial: FinancialImpact = Field(default_factory=FinancialImpact)
    reputational: ReputationalImpact = Field(default_factory=ReputationalImpact)


class FlapSettings(PolicyModel):
    """Reopens within the reopen window are flaps; for these sources they stop paging."""

    sources: list[Source] = Field(default_factory=lambda: [Source.ALERTS])
    notify_reopens: int = Field(default=0, ge=0)


class GroupingSettings(PolicyModel):
    """How reports merge into issues and when an issue opens."""

    similarity_threshold: float = Field(default=80, ge=0, le=100)
    min_common_tokens: int = Field(default=2, ge=1)
    similarity_window_hours: float = Field(default=24, gt=0)
    reopen_window_minutes: float = Field(default=30, ge=0)
    open_after_reports: int = Field(default=1, ge=1)
    open_immediately_at: Severity | None = Severity.HIGH
    absorb_max_age_hours: float = Field(default=24, gt=0)
    flap: FlapSettings = Field(default_factory=FlapSettings)
    max_source_refs: int = Field(default=1000, ge=1)
    max_reporters: int = Field(default=1000, ge=1)
    max_recent: int = Field(default=500, ge=1)
    samples: int = Field(default=3, ge=1)


class UpdateSettings(PolicyModel):
    """When an UPDATED decision is worth publishing.

    Besides these, UPDATED is published when occurrences or distinct reporters reach a milestone
    (1, 2, 5, 10, 25, 50, 100, ...): reach is reported as it grows without one message per reporter.
    """

    every_new_reporter: bool = False
    impact_delta: float = Field(default=5, ge=0)


class TriagePolicy(PolicyModel):
    """The whole of ``triage.yaml``."""

    core_components: list[str] = Field(default_factory=list)
    phrase_groups: dict[str, PhraseGroup] = Field(default_factory=dict)
    reach_rules: list[ReachRule] = Field(default_factory=list)
    reporter_tiers: dict[Tier, TierRule] = Field(default_factory=dict)
    followers: FollowersRule = Field(default_factory=FollowersRule)
    engagement: LadderRule = Field(default_factory=LadderRule)
    sentiment: SentimentRule = Field(default_factory=SentimentRule)
    rating: RatingRule = Field(default_factory=RatingRule)
    alerts: AlertRules = Field(default_factory=AlertRules)
    points: ScoringPoints = Field(default_factory=ScoringPoints)
    severity_points: SeverityPoints = Field(default_factory=SeverityPoints)
    impact: ImpactPolicy = Field(default_factory=ImpactPolicy)
    grouping: GroupingSettings = Field(default_factory=GroupingSettings)
    updates: UpdateSettings = Field(default_factory=UpdateSettings)

    @model_validator(mode="after")
    def _known_groups(self) -> Self:
        for rule in self.reach_rules:
            unknown = sorted(set(rule.requires_groups) - set(self.phrase_groups))
            if unknown:
                raise ValueError(f"reach rule {rule.name} requires unknown phrase groups {unknown}")
        return self

    def is_core(self, component: str) -> bool:
        """Whether ``component`` is one of the core functions (checkout, payments, login...)."""
        return component in self.core_components


@dataclass(frozen=True)
class TriagePolicies:
    """The three policy files the triage engine reads."""

    triage: TriagePolicy
    routes: RoutesPolicy
    suppression: SuppressionPolicy


def load_triage_policies(policy_dir: Path) -> TriagePolicies:
    """Load and validate ``triage.yaml``, ``routes.yaml`` and ``suppression.yaml``.

    Args:
        policy_dir: the policy folder (``default_policy_dir()`` for the shipped one).

    Raises:
        PolicyError: a file is missing or invalid; the message names file and field.
    """
    return TriagePolicies(
        triage=load_policy_file(policy_dir, "triage.yaml", TriagePolicy),
        routes=load_policy_file(policy_dir, "routes.yaml", RoutesPolicy),
        suppression=load_policy_file(policy_dir, "suppression.yaml", SuppressionPolicy),
    )
