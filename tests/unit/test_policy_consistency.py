"""The shipped policy files agree with each other: what one names, another defines."""

from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "policy"


def _load(name: str) -> Any:
    return yaml.safe_load((POLICY / name).read_text())


def _routes() -> list[dict[str, Any]]:
    routes = _load("routes.yaml")
    return [*routes["rules"], routes["default"]]


@pytest.mark.parametrize("route", _routes(), ids=lambda r: r["name"])
def test_every_route_names_a_defined_escalation_policy(route: dict[str, Any]) -> None:
    assert route["escalation_policy"] in _load("escalation.yaml")["policies"]


@pytest.mark.parametrize("route", _routes(), ids=lambda r: r["name"])
def test_every_route_names_defined_channels(route: dict[str, Any]) -> None:
    defined = set(_load("channels.yaml")["channels"])
    assert set(route["channels"]) <= defined, set(route["channels"]) - defined


def test_route_components_exist_in_the_component_map() -> None:
    components = set(_load("components.yaml")["components"])
    named = {c for route in _routes() for c in route.get("components", []) if "*" not in c}
    # Routes may name components a deployment adds to its own map; the shipped core ones must exist.
    assert {"checkout", "payments", "login"} <= components
    assert {"checkout", "payments", "login"} <= named
