"""The notifier's planning rules: who is told, where, how urgently, and what is skipped (pure, no I/O)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, IssueStatus, Route
from hypercare_notifier.digests import digest_channels
from hypercare_notifier.planning import (
    IssueState,
    SkipReason,
    idempotency_key,
    plan_decision,
    plan_sla,
)
from hypercare_notifier.policy import StormPolicy
from hypercare_notifier.redis_state import window_of

from tests.support.receivers import NOW, PLANNING_CHANNELS, PLANNING_ROUTE, make_decision

pytestmark = pytest.mark.unit

CHANNELS, ROUTE = PLANNING_CHANNELS, PLANNING_ROUTE


def decision(**overrides: Any) -> Any:
    return make_decision(issue_id="iss-1", route=ROUTE, **overrides)


def sla(kind: SlaEventKind, **overrides: Any) -> SlaEvent:
    fields: dict[str, Any] = {
        "event_id": f"sla-{kind.value}",
        "kind": kind,
        "issue_id": "iss-1",
        "severity": Severity.CRITICAL,
        "route": "payments",
        "target": SlaTarget.RESPONSE,
        "due_at": NOW,
        "emitted_at": NOW,
        "business_elapsed_seconds": 60,
        "policy": "p",
        "escalation_step": 1,
        "escalation_target": "cto",
    }
    fields.update(overrides)
    return SlaEvent(**fields)


def summary(plan: Any) -> list[tuple[str, str | None, bool, str | None]]:
    return [
        (d.channel, d.kind.value if d.kind else None, d.limited, d.skip.value if d.skip else None)
        for d in plan.deliveries
    ]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.CRITICAL, [("slack", None, True, None), ("pd", None, True, None)]),
        (Severity.HIGH, [("slack", None, True, None), ("pd", None, True, None)]),
        (Severity.MEDIUM, [("slack", None, True, None)]),
        (Severity.LOW, [("slack", None, True, None)]),
    ],
)
def test_pagers_only_hear_of_issues_urgent_enough_to_page(severity: Severity, expected: list[Any]) -> None:
    plan = plan_decision(decision(severity=severity), IssueState("iss-1"), CHANNELS)
    assert summary(plan) == expected
    assert plan.state.paged_channels == ({"pd"} if severity.rank >= Severity.HIGH.rank else set())


def test_unknown_or_disabled_route_channels_fall_back_to_the_default_channel() -> None:
    route = Route(name="x", team="t", escalation_policy="p", channels=["slack-nowhere"])
    plan = plan_decision(make_decision(route=route), IssueState("iss-1"), CHANNELS)
    assert [d.channel for d in plan.deliveries] == ["console"]


@pytest.mark.parametrize(
    ("paged", "changes", "expected"),
    [
        ({"pd"}, {"status": IssueStatus.ACKNOWLEDGED}, [("pd", "acknowledge", False, None)]),
        (set(), {"status": IssueStatus.ACKNOWLEDGED}, []),
        (
            {"pd"},
            {"decision": Decision.RESOLVED, "status": IssueStatus.RESOLVED},
            [("pd", "resolve", False, None)],
        ),
        ({"pd"}, {"decision": Decision.UPDATED}, []),
    ],
)
def test_a_silent_decision_only_acknowledges_or_resolves_the_pagers_that_paged(
    paged: set[str], changes: dict[str, Any], expected: list[Any]
) -> None:
    state = IssueState("iss-1", version=1, paged_channels=frozenset(paged))
    plan = plan_decision(decision(version=2, notify=False, **changes), state, CHANNELS)
    assert summary(plan) == expected


def test_a_resolved_decision_resolves_everywhere_and_forgets_the_pages() -> None:
    state = IssueState("iss-1", version=1, paged_channels=frozenset({"pd"}))
    plan = plan_decision(
        decision(version=2, decision=Decision.RESOLVED, status=IssueStatus.RESOLVED), state, CHANNELS
    )
    assert summary(plan) == [("slack", "resolve", False, None), ("pd", "resolve", False, None)]
    assert plan.state.resolved
    assert plan.state.paged_channels == frozenset()


def test_an_older_version_than_the_snapshot_plans_nothing() -> None:
    state = IssueState("iss-1", version=5)
    assert plan_decision(decision(version=3), state, CHANNELS).deliveries == []


def test_an_acknowledged_issue_is_not_paged_again_by_updates() -> None:
    state = IssueState("iss-1", version=1, acknowledged=True, paged_channels=frozenset({"pd"}))
    plan = plan_decision(decision(version=2, decision=Decision.UPDATED), state, CHANNELS)
    assert summary(plan) == [("slack", None, True, None)]


@pytest.mark.parametrize(
    ("kind", "state", "skip"),
    [
        (SlaEventKind.ESCALATION, IssueState("iss-1", acknowledged=True), SkipReason.ACKNOWLEDGED),
        (SlaEventKind.RENOTIFY, IssueState("iss-1", acknowledged=True), SkipReason.ACKNOWLEDGED),
        (SlaEventKind.BREACHED, IssueState("iss-1", acknowledged=True), None),
        (SlaEventKind.ESCALATION, IssueState("iss-1"), None),
        (SlaEventKind.AT_RISK, IssueState("iss-1", resolved=True), SkipReason.RESOLVED),
    ],
)
def test_sla_events_of_acknowledged_or_resolved_issues_are_recorded_as_skipped(
    kind: SlaEventKind, state: IssueState, skip: SkipReason | None
) -> None:
    plan = plan_sla(sla(kind), state, CHANNELS, lambda _: ["slack", "pd"])
    assert {d.skip for d in plan.deliveries} == {skip}
    assert [d.channel for d in plan.deliveries] == ["slack", "pd"]


def test_met_response_sla_marks_the_issue_acknowledged_and_sends_nothing() -> None:
    plan = plan_sla(sla(SlaEventKind.MET), IssueState("iss-1"), CHANNELS, lambda _: ["slack"])
    assert plan.deliveries == []
    assert plan.state.acknowledged


def test_escalation_steps_and_channels_get_distinct_stable_keys() -> None:
    first = plan_sla(sla(SlaEventKind.ESCALATION), IssueState("iss-1"), CHANNELS, lambda _: ["slack"])
    second = plan_sla(
        sla(SlaEventKind.ESCALATION, escalation_step=2), IssueState("iss-1"), CHANNELS, lambda _: ["slack"]
    )
    assert first.deliveries[0].key == idempotency_key("iss-1", "sla-escalation", 1, "slack")
    assert first.deliveries[0].key != second.deliveries[0].key
    assert len({d.key for d in first.deliveries}) == len(first.deliveries)


def test_digests_skip_pagers_and_fall_back_to_the_default_channel() -> None:
    choose = digest_channels(CHANNELS)
    assert choose(["pd", "slack"]) == ["slack"]
    assert choose(["pd"]) == ["console"]


def test_storm_windows_are_aligned_and_routes_may_override_the_limit() -> None:
    window = window_of(datetime(2025, 3, 14, 9, 30, 41, tzinfo=UTC), 60)
    assert (window.start, window.end) == (
        datetime(2025, 3, 14, 9, 30, tzinfo=UTC),
        datetime(2025, 3, 14, 9, 31, tzinfo=UTC),
    )
    policy = StormPolicy(max_per_window=10, routes={"payments": 3})
    assert (policy.limit_for("payments"), policy.limit_for("growth")) == (3, 10)
