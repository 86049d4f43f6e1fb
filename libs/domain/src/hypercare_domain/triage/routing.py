"""Routing: which team owns an issue (``routes.yaml``), first matching rule wins."""

from typing import Self

from hypercare_contracts import Route, Severity, Source
from pydantic import Field, model_validator

from hypercare_domain.policy import PolicyModel
from hypercare_domain.triage.memo import PolicyMemo
from hypercare_domain.triage.text import name_matches


class RouteTarget(PolicyModel):
    """Where a matched issue goes, with optional grouping overrides for its issues."""

    name: str = Field(min_length=1)
    team: str = Field(min_length=1)
    escalation_policy: str = Field(min_length=1)
    channels: list[str] = Field(default_factory=list)
    open_after_reports: int | None = Field(default=None, ge=1)
    absorb_max_age_hours: float | None = Field(default=None, gt=0)

    def to_route(self) -> Route:
        """The contract's view of this target (without the overrides); the same (immutable) instance
        each time, as every report's reassessment asks for it."""
        return _routes.get(self, None, self._route)

    def _route(self) -> Route:
        return Route(
            name=self.name,
            team=self.team,
            escalation_policy=self.escalation_policy,
            channels=list(self.channels),
        )


_routes: PolicyMemo[None, Route] = PolicyMemo(size=1, policies=256)
"""The route of each target object."""


class RouteRule(RouteTarget):
    """A route with the conditions an issue must meet; empty conditions match anything."""

    components: list[str] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    min_severity: Severity | None = None

    def matches(self, component: str, source: Source, labels: dict[str, str], severity: Severity) -> bool:
        """Whether an issue with these attributes falls under this rule."""
        if self.components and not any(name_matches(component, pattern) for pattern in self.components):
            return False
        if self.sources and source not in self.sources:
            return False
        if any(labels.get(key) != value for key, value in self.labels.items()):
            return False
        return self.min_severity is None or severity.rank >= self.min_severity.rank


class RoutesPolicy(PolicyModel):
    """The whole of ``routes.yaml``: ordered rules and the default route."""

    rules: list[RouteRule] = Field(default_factory=list)
    default: RouteTarget

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"route names must be unique, repeated: {duplicates}")
        return self

    def target(self, route_name: str) -> RouteTarget:
        """The rule or default route called ``route_name`` (the default when unknown)."""
        for rule in self.rules:
            if rule.name == route_name:
                return rule
        return self.default


def match_route(
    component: str, source: Source, labels: dict[str, str], severity: Severity, policy: RoutesPolicy
) -> RouteTarget:
    """The first rule matching the issue, or the default route (with its overrides)."""
    # Asked for every report, with the same few components and severities. Issues carry labels no rule
    # looks at (hosts, trace ids): only the values of the labels some rule tests go in the key (None for
    # a missing one, which no rule's value equals either), or nearly every key would be new.
    names = _tested_labels.get(
        policy, None, lambda: tuple(sorted({n for r in policy.rules for n in r.labels}))
    )
    key = (component, source, severity, tuple(map(labels.get, names)))
    return _matched.get(policy, key, lambda: _first_match(component, source, labels, severity, policy))


_matched: PolicyMemo[tuple[object, ...], RouteTarget] = PolicyMemo()
_tested_labels: PolicyMemo[None, tuple[str, ...]] = PolicyMemo(size=1)
"""The names of the labels the rules of each policy test."""


def _first_match(
    component: str, source: Source, labels: dict[str, str], severity: Severity, policy: RoutesPolicy
) -> RouteTarget:
    for rule in policy.rules:
        if rule.matches(component, source, labels, severity):
            return rule
    return policy.default


def route_for(
    component: str, source: Source, labels: dict[str, str], severity: Severity, routes_policy: RoutesPolicy
) -> Route:
    """Which team owns an issue and how it is reached.

    Rules are tried in file order, so put narrow rules (a severity floor, a label) before broad ones.

    Args:
        component: the issue's component.
        source: the source of the issue's first report.
        labels: the issue's labels (equality match).
        severity: the issue's current severity (``min_severity`` rules).
        routes_policy: the loaded ``routes.yaml``.

    Returns:
        The matched route, or the default route when no rule matches.
    """
    return match_route(component, source, labels, severity, routes_policy).to_route()
