"""Routing: shipped rules, first match wins, globs, labels, sources, severity floors, default."""

import pytest
from hypercare_contracts import Severity, Source
from hypercare_domain.triage import RoutesPolicy, route_for

from tests.unit.triage_factories import shipped_policies

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("component", "source", "severity", "route", "team", "escalation", "pager"),
    [
        (
            "checkout",
            Source.TICKETS,
            Severity.CRITICAL,
            "payments-urgent",
            "payments-team",
            "payments-oncall",
            "pagerduty-payments",
        ),
        ("checkout", Source.TICKETS, Severity.MEDIUM, "payments", "payments-team", "payments-oncall", None),
        (
            "payments-gateway",
            Source.ALERTS,
            Severity.HIGH,
            "payments-urgent",
            "payments-team",
            "payments-oncall",
            "pagerduty-payments",
        ),
        (
            "login",
            Source.FEEDBACK,
            Severity.HIGH,
            "identity-urgent",
            "identity-team",
            "identity-oncall",
            "pagerduty-identity",
        ),
        ("signup", Source.TICKETS, Severity.LOW, "identity", "identity-team", "identity-oncall", None),
        ("ios-app", Source.FEEDBACK, Severity.CRITICAL, "mobile", "mobile-team", "mobile-oncall", None),
        ("onboarding", Source.TICKETS, Severity.MEDIUM, "growth", "growth-team", "growth-oncall", None),
        (
            "community",
            Source.SOCIAL,
            Severity.MEDIUM,
            "social-mentions",
            "growth-team",
            "growth-oncall",
            None,
        ),
        ("checkout", Source.SOCIAL, Severity.LOW, "payments", "payments-team", "payments-oncall", None),
        ("warehouse", Source.TICKETS, Severity.CRITICAL, "support-triage", "support", "support-oncall", None),
    ],
)
def test_shipped_routes(
    component: str,
    source: Source,
    severity: Severity,
    route: str,
    team: str,
    escalation: str,
    pager: str | None,
) -> None:
    found = route_for(component, source, {}, severity, shipped_policies().routes)

    assert (found.name, found.team, found.escalation_policy) == (route, team, escalation)
    assert "console" in found.channels
    assert (pager in found.channels) if pager else not any(c.startswith("pagerduty") for c in found.channels)


CUSTOM = RoutesPolicy.model_validate(
    {
        "rules": [
            {
                "name": "data-alerts",
                "sources": ["alerts"],
                "labels": {"team": "data", "tier": "1"},
                "team": "data-team",
                "escalation_policy": "data-oncall",
                "channels": ["webhook"],
            },
            {
                "name": "anything-api",
                "components": ["api-*"],
                "team": "platform",
                "escalation_policy": "platform",
                "channels": ["console"],
            },
        ],
        "default": {"name": "fallback", "team": "support", "escalation_policy": "support-oncall"},
    }
)


@pytest.mark.parametrize(
    ("component", "source", "labels", "route"),
    [
        ("etl", Source.ALERTS, {"team": "data", "tier": "1", "extra": "x"}, "data-alerts"),
        ("etl", Source.ALERTS, {"team": "data"}, "fallback"),
        ("etl", Source.TICKETS, {"team": "data", "tier": "1"}, "fallback"),
        ("api-orders", Source.ALERTS, {"team": "data", "tier": "1"}, "data-alerts"),
        ("api-orders", Source.TICKETS, {}, "anything-api"),
        ("apiorders", Source.TICKETS, {}, "fallback"),
    ],
)
def test_custom_rules_match_in_order(
    component: str, source: Source, labels: dict[str, str], route: str
) -> None:
    assert route_for(component, source, labels, Severity.LOW, CUSTOM).name == route


def test_remembered_routes_tell_apart_only_the_labels_rules_test() -> None:
    # The routing memo keys on the tested labels alone: other labels share an answer, tested ones do not.
    for extra in ("a", "b"):
        labels = {"team": "data", "tier": "1", "host": extra}
        assert route_for("etl", Source.ALERTS, labels, Severity.LOW, CUSTOM).name == "data-alerts"
    assert (
        route_for("etl", Source.ALERTS, {"team": "data", "tier": "2"}, Severity.LOW, CUSTOM).name
        == "fallback"
    )
    assert route_for("etl", Source.ALERTS, {"tier": "1"}, Severity.LOW, CUSTOM).name == "fallback"


def test_default_route_has_no_channels_unless_configured() -> None:
    assert route_for("x", Source.TICKETS, {}, Severity.LOW, CUSTOM).channels == []


def test_duplicate_route_names_are_rejected() -> None:
    rule = {"name": "same", "team": "t", "escalation_policy": "e"}
    with pytest.raises(ValueError, match="route names must be unique"):
        RoutesPolicy.model_validate({"rules": [rule, rule], "default": rule | {"name": "d"}})
