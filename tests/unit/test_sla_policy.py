"""Durations in policy files, and the SLA and escalation policy files."""

from datetime import timedelta
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.sla import SlaTarget
from hypercare_domain.policy import PolicyError
from hypercare_domain.sla import DurationError, PauseReason, format_duration, load_sla_policy, parse_duration
from hypercare_domain.sla.durations import parse_target_duration
from hypercare_domain.sla.policy import EscalationFile, SlaFile, build_sla_policy
from pydantic import ValidationError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("0.000001s", timedelta(microseconds=1)),
        (" 10M ", timedelta(minutes=10)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("15", "invalid duration '15'"),
        ("15 m", "invalid duration"),
        ("15min", "invalid duration"),
        ("-5m", "invalid duration"),
        ("h", "invalid duration"),
        ("5bd", "only allowed in SLA targets"),
        ("0.0000001s", "finer than a microsecond"),
    ],
)
def test_parse_duration_explains_bad_input(text: str, message: str) -> None:
    with pytest.raises(DurationError, match=message):
        parse_duration(text)


def test_business_days_resolve_against_the_calendar_day() -> None:
    assert parse_target_duration("5bd").resolve(timedelta(hours=8)) == timedelta(hours=40)
    assert parse_target_duration("1bd4h").resolve(timedelta(hours=7)) == timedelta(hours=11)
    assert parse_target_duration("0.5bd").resolve(timedelta(hours=8)) == timedelta(hours=4)


@pytest.mark.parametrize(
    "delta", [timedelta(minutes=90), timedelta(seconds=45), timedelta(0), timedelta(days=2)]
)
def test_format_duration_round_trips(delta: timedelta) -> None:
    assert parse_duration(format_duration(delta)) == delta


def make_sla(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "calendars": {
            "business": {"timezone": "Europe/Berlin", "hours": {d: ["09:00-17:00"] for d in ("mon", "tue")}}
        },
        "targets": {
            "critical": {"calendar": "always", "response": "1h", "resolution": "4h"},
            "high": {"calendar": "always", "response": "4h", "resolution": "24h"},
            "medium": {"calendar": "business", "response": "8h", "resolution": "5bd"},
            "low": {"calendar": "business", "response": "24h", "resolution": "10bd"},
        },
    }
    data.update(overrides)
    return data


def make_escalation(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"policies": {"default": {"steps": [{"after": "5m", "notify": "primary-oncall"}]}}}
    data.update(overrides)
    return data


def test_shipped_policy_has_the_documented_defaults() -> None:
    policy = load_sla_policy()

    critical = policy.targets_for(Severity.CRITICAL, "any-route")
    medium = policy.targets_for(Severity.MEDIUM, "any-route")
    low = policy.targets_for(Severity.LOW, "any-route")
    assert (critical.calendar.name, critical.response, critical.resolution) == (
        "always",
        timedelta(hours=1),
        timedelta(hours=4),
    )
    assert (medium.calendar.name, medium.response, medium.resolution) == (
        "business",
        timedelta(hours=8),
        timedelta(hours=40),
    )
    assert (low.response, low.resolution) == (timedelta(hours=24), timedelta(hours=80))
    assert policy.at_risk_ratio == 0.75
    assert policy.pause_when[SlaTarget.RESPONSE] == {PauseReason.WAITING_ON_CUSTOMER}
    default = policy.escalation_for(None)
    assert default.renotify_every == timedelta(minutes=10)
    assert [s.notify for s in default.steps] == ["primary-oncall", "secondary-oncall", "team-lead"]


def test_route_override_replaces_only_the_given_fields() -> None:
    sla = SlaFile.model_validate(make_sla(routes={"payments": {"critical": {"response": "30m"}}}))
    policy = build_sla_policy(sla, EscalationFile.model_validate(make_escalation()))

    payments = policy.targets_for(Severity.CRITICAL, "payments")
    assert (payments.response, payments.resolution, payments.label) == (
        timedelta(minutes=30),
        timedelta(hours=4),
        "payments:critical",
    )
    assert policy.targets_for(Severity.CRITICAL, "web").response == timedelta(hours=1)


def test_snooze_can_pause_the_response_clock() -> None:
    sla = SlaFile.model_validate(
        make_sla(pause_when={"waiting_on_customer": ["resolution"], "snoozed": ["response"]})
    )
    policy = build_sla_policy(sla, EscalationFile.model_validate(make_escalation()))

    assert policy.pause_when[SlaTarget.RESPONSE] == {PauseReason.SNOOZED}
    assert policy.pause_when[SlaTarget.RESOLUTION] == {PauseReason.WAITING_ON_CUSTOMER}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"targets": {"critical": {"calendar": "always", "response": "1h", "resolution": "4h"}}}, "missing"),
        ({"calendars": {}}, "unknown calendars"),
        ({"at_risk_ratio": 1.5}, "less than 1"),
        (
            {"calendars": {"business": {"timezone": "Mars/Olympus", "hours": {"mon": ["09:00-17:00"]}}}},
            "time zone",
        ),
        ({"calendars": {"business": {"hours": {"mon": ["9-17"]}}}}, "must look like"),
        ({"calendars": {"business": {"hours": {"mon": ["09:00-13:00", "12:00-17:00"]}}}}, "overlap"),
        ({"calendars": {"business": {"hours": {}}}}, "give weekly hours"),
        ({"routes": {"web": {"high": {"response": "soon"}}}}, "invalid duration 'soon'"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_invalid_sla_policy_is_explained(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SlaFile.model_validate(make_sla(**overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"default_policy": "missing"}, "not among policies"),
        ({"policies": {"default": {"renotify_every": "0s"}}}, "longer than zero"),
        (
            {
                "policies": {
                    "default": {"steps": [{"after": "30m", "notify": "b"}, {"after": "5m", "notify": "a"}]}
                }
            },
            "in order",
        ),
        ({"policies": {"default": {"steps": [{"after": "5 minutes", "notify": "a"}]}}}, "invalid duration"),
    ],
)
def test_invalid_escalation_policy_is_explained(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EscalationFile.model_validate(make_escalation(**overrides))


def test_unknown_escalation_policy_is_an_error() -> None:
    policy = build_sla_policy(
        SlaFile.model_validate(make_sla()), EscalationFile.model_validate(make_escalation())
    )
    with pytest.raises(PolicyError, match="unknown escalation policy 'nightly'"):
        policy.escalation_for("nightly")
