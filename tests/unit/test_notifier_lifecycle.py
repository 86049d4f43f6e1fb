"""Mirroring a person's acknowledge, resolve and reopen: the notifier's pure lifecycle planning."""

from dataclasses import replace
from typing import Any

import pytest
from hypercare_contracts.lifecycle import LifecycleAction, Via
from hypercare_contracts.sla import SlaEventKind
from hypercare_contracts.triaged import Decision, IssueStatus, Route, TriagedIssue
from hypercare_notifier.lifecycle import plan_lifecycle
from hypercare_notifier.planning import (
    ChannelInfo,
    Channels,
    IssueState,
    Plan,
    SkipReason,
    Transition,
    TriggerKind,
    idempotency_key,
    plan_decision,
    plan_sla,
)

from tests.support.receivers import NOW, make_decision, make_lifecycle_event, make_sla_event

pytestmark = pytest.mark.unit

CHANNELS = Channels(
    known={
        "console": ChannelInfo("console", pager=False),
        "slack": ChannelInfo("slack", pager=False),
        "pd": ChannelInfo("pd", pager=True),
        "pd-backup": ChannelInfo("pd-backup", pager=True),
    },
    default="console",
)
ROUTE = Route(name="payments", team="t", escalation_policy="p", channels=["slack", "pd", "pd-backup"])
ACK = make_lifecycle_event("iss-1", LifecycleAction.ACKNOWLEDGE, command_id="c-ack")
RESOLVE = make_lifecycle_event("iss-1", LifecycleAction.RESOLVE, command_id="c-res")
REOPEN = make_lifecycle_event("iss-1", LifecycleAction.REOPEN, command_id="c-reopen")


def decision(**overrides: Any) -> TriagedIssue:
    return make_decision(issue_id="iss-1", route=ROUTE, **overrides)


def paged(*channels: str, **changes: Any) -> IssueState:
    """The snapshot after a critical ``created`` decision paged ``channels``."""
    state = IssueState("iss-1", issue=decision(), version=1, paged_channels=frozenset(channels))
    return replace(state, **changes)


def summary(plan: Plan) -> list[tuple[str, str | None]]:
    return [(d.channel, d.kind.value if d.kind else None) for d in plan.deliveries]


def test_an_acknowledge_goes_to_the_pagers_that_paged_and_nowhere_else() -> None:
    plan = plan_lifecycle(ACK, paged("pd"), CHANNELS)

    assert summary(plan) == [("pd", "acknowledge")]
    (delivery,) = plan.deliveries
    assert (delivery.trigger_kind, delivery.trigger_id, delivery.step) == (
        TriggerKind.LIFECYCLE,
        ACK.event_id,
        0,
    )
    assert delivery.key == idempotency_key("iss-1", ACK.event_id, 0, "pd")
    assert (delivery.route, delivery.limited, delivery.skip) == ("payments", False, None)
    assert plan.state.acknowledged
    assert plan.state.paged_channels == {"pd"}, "kept for the resolve"


def test_an_acknowledge_of_an_issue_that_never_paged_sends_nothing_but_is_remembered() -> None:
    plan = plan_lifecycle(ACK, paged(), CHANNELS)
    assert plan.deliveries == []
    assert plan.state.acknowledged


def test_a_resolve_goes_to_the_told_channels_and_the_pagers_that_paged() -> None:
    plan = plan_lifecycle(RESOLVE, paged("pd", acknowledged=True), CHANNELS)

    assert summary(plan) == [("slack", "resolve"), ("pd", "resolve")]
    assert {d.trigger_id for d in plan.deliveries} == {RESOLVE.event_id}
    assert not any(d.limited for d in plan.deliveries), "a resolve is never folded into a digest"
    assert plan.state.resolved
    assert not plan.state.acknowledged
    assert plan.state.paged_channels == frozenset()


def test_a_resolve_of_a_suppressed_issue_tells_only_the_pagers_that_paged() -> None:
    suppressed = decision(decision=Decision.SUPPRESSED, notify=False, suppressed_by="maintenance")
    plan = plan_lifecycle(RESOLVE, paged("pd", issue=suppressed), CHANNELS)
    assert summary(plan) == [("pd", "resolve")]


def test_acknowledges_by_link_and_by_kafka_command_are_mirrored_too() -> None:
    for via in (Via.LINK, Via.KAFKA):
        event = make_lifecycle_event("iss-1", LifecycleAction.ACKNOWLEDGE, via=via)
        assert summary(plan_lifecycle(event, paged("pd"), CHANNELS)) == [("pd", "acknowledge")]


def test_pagers_no_longer_configured_are_left_out() -> None:
    plan = plan_lifecycle(ACK, paged("pd", "pd-retired"), CHANNELS)
    assert summary(plan) == [("pd", "acknowledge")]


@pytest.mark.parametrize(
    ("event", "state"),
    [
        (ACK, paged("pd", acknowledged=True, lifecycle=Transition(LifecycleAction.ACKNOWLEDGE, NOW))),
        (RESOLVE, paged(resolved=True, lifecycle=Transition(LifecycleAction.RESOLVE, NOW), cycle_at=NOW)),
        (ACK, paged(resolved=True, lifecycle=Transition(LifecycleAction.RESOLVE, NOW), cycle_at=NOW)),
        (make_lifecycle_event("iss-1", LifecycleAction.SNOOZE, snooze_until=NOW), paged("pd")),
        (make_lifecycle_event("iss-1", LifecycleAction.COMMENT, comment="on it"), paged("pd")),
        (make_lifecycle_event("iss-1", LifecycleAction.RESOLVE, via=Via.TRIAGE, actor="triage"), paged("pd")),
        (
            make_lifecycle_event("iss-1", LifecycleAction.ACKNOWLEDGE, via=Via.SOURCE, actor="source"),
            paged("pd"),
        ),
    ],
    ids=[
        "ack-replayed",
        "resolve-replayed",
        "ack-at-the-resolve-instant",
        "snooze",
        "comment",
        "echo-of-a-resolved-decision",
        "echo-of-a-source-acknowledge",
    ],
)
def test_an_event_the_snapshot_already_reflects_or_that_is_not_mirrored_plans_nothing(
    event: Any, state: IssueState
) -> None:
    plan = plan_lifecycle(event, state, CHANNELS)
    assert plan == Plan(state)


@pytest.mark.parametrize(
    ("event", "state"),
    [
        (ACK, paged("pd", acknowledged=True)),
        (ACK, paged(resolved=True)),
        (RESOLVE, paged(resolved=True)),
        (REOPEN, paged("pd")),
    ],
    ids=["ack-acked-by-a-decision", "ack-resolved", "resolve-resolved", "reopen-open"],
)
def test_a_transition_that_sends_nothing_is_still_remembered_with_its_instant(
    event: Any, state: IssueState
) -> None:
    plan = plan_lifecycle(event, state, CHANNELS)
    assert plan.deliveries == []
    assert plan.state.lifecycle == Transition(event.action, event.at)
    assert (plan.state.acknowledged, plan.state.resolved) == (
        state.acknowledged and event.action is not LifecycleAction.REOPEN,
        state.resolved and event.action is not LifecycleAction.REOPEN,
    )


@pytest.mark.parametrize(
    "state",
    [IssueState("iss-1"), IssueState("iss-1", paged_channels=frozenset({"pd"}))],
    ids=["never-seen", "sla-events-only"],
)
@pytest.mark.parametrize("event", [ACK, RESOLVE, REOPEN], ids=["ack", "resolve", "reopen"])
def test_an_issue_without_a_decision_in_the_snapshot_sends_nothing_but_remembers_the_transition(
    event: Any, state: IssueState
) -> None:
    plan = plan_lifecycle(event, state, CHANNELS)
    assert plan.deliveries == []
    assert plan.state.lifecycle == Transition(event.action, event.at)
    assert plan.state.acknowledged is (event.action is LifecycleAction.ACKNOWLEDGE)
    assert plan.state.resolved is (event.action is LifecycleAction.RESOLVE)


@pytest.mark.parametrize(
    "changes",
    [
        {"status": IssueStatus.ACKNOWLEDGED, "notify": False},
        {"status": IssueStatus.ACKNOWLEDGED, "decision": Decision.RAISED, "notify": True},
    ],
    ids=["silent", "notifying"],
)
def test_a_later_decision_carrying_the_acknowledge_does_not_send_it_again(changes: dict[str, Any]) -> None:
    acked = plan_lifecycle(ACK, paged("pd"), CHANNELS).state
    plan = plan_decision(decision(version=2, decision_id="iss-1:v2", **changes), acked, CHANNELS)
    assert [c for c, _ in summary(plan) if CHANNELS.known[c].pager] == []


def test_a_later_resolved_decision_does_not_resolve_again() -> None:
    resolved = plan_lifecycle(RESOLVE, paged("pd"), CHANNELS).state
    later = decision(version=2, decision=Decision.RESOLVED, status=IssueStatus.RESOLVED, decision_id="v2")
    assert plan_decision(later, resolved, CHANNELS).deliveries == []


def test_the_lifecycle_event_after_the_decision_that_carried_it_sends_nothing_again() -> None:
    by_decision = plan_decision(
        decision(version=2, status=IssueStatus.ACKNOWLEDGED, notify=False), paged("pd"), CHANNELS
    )
    assert summary(by_decision) == [("pd", "acknowledge")]
    assert plan_lifecycle(ACK, by_decision.state, CHANNELS).deliveries == []


def test_a_replayed_decision_does_not_undo_a_persons_acknowledge_or_resolve() -> None:
    created = decision()
    first = plan_decision(created, IssueState("iss-1"), CHANNELS)
    assert summary(first) == [("slack", None), ("pd", None), ("pd-backup", None)]
    for event in (ACK, RESOLVE):
        after = plan_lifecycle(event, first.state, CHANNELS).state
        assert plan_decision(created, after, CHANNELS) == Plan(after)


def test_an_acknowledge_stops_escalations_and_a_resolve_stops_every_sla_notification() -> None:
    acked = plan_lifecycle(ACK, paged("pd"), CHANNELS).state
    resolved = plan_lifecycle(RESOLVE, paged("pd"), CHANNELS).state
    escalation = plan_sla(make_sla_event(SlaEventKind.ESCALATION), acked, CHANNELS, lambda _: ["pd"])
    at_risk = plan_sla(make_sla_event(SlaEventKind.AT_RISK), resolved, CHANNELS, lambda _: ["pd"])
    assert {d.skip for d in escalation.deliveries} == {SkipReason.ACKNOWLEDGED}
    assert {d.skip for d in at_risk.deliveries} == {SkipReason.RESOLVED}


def test_a_reopen_clears_the_snapshot_so_the_issue_pages_again() -> None:
    resolved = plan_lifecycle(RESOLVE, paged("pd"), CHANNELS).state
    reopened = plan_lifecycle(REOPEN, resolved, CHANNELS)
    assert reopened.deliveries == []
    assert (reopened.state.resolved, reopened.state.acknowledged) == (False, False)
    breached = plan_sla(make_sla_event(SlaEventKind.BREACHED), reopened.state, CHANNELS, lambda _: ["pd"])
    assert [(d.channel, d.skip) for d in breached.deliveries] == [
        ("slack", None),
        ("pd", None),
        ("pd-backup", None),
    ]
    assert breached.state.paged_channels == {"pd", "pd-backup"}
