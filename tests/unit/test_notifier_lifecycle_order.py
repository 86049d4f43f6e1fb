"""People's acknowledges and resolves read in another order than triage's decisions: the notifier's pure
planning never loses one that happened, and never lets a stale one silence a newer cycle.

The lifecycle topic and the triaged topic are read in no common order (a lagging partition, a restart).
Each scenario below feeds the planners the messages in the order the notifier reads them; the instants
say the order in which things happened, except between two lifecycle events, which the topic orders.
Triage's and the SLA service's clocks may be a few seconds apart (``Clocks.skew``, 5 s here): within
that, planning errs towards paging."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent
from hypercare_contracts.sla import SlaEvent, SlaEventKind
from hypercare_contracts.triaged import Decision, IssueStatus, TriagedIssue
from hypercare_notifier.lifecycle import lifecycle_is_replay, lifecycle_is_stale, plan_lifecycle
from hypercare_notifier.planning import (
    Clocks,
    IssueState,
    PlannedDelivery,
    SkipReason,
    TopicPosition,
    plan_decision,
    plan_sla,
)

from tests.support.receivers import (
    NOW,
    PLANNING_CHANNELS,
    PLANNING_ROUTE,
    make_decision,
    make_lifecycle_event,
    make_sla_event,
)

pytestmark = pytest.mark.unit

CHANNELS, ROUTE = PLANNING_CHANNELS, PLANNING_ROUTE


def minute(n: int, seconds: int = 0) -> datetime:
    """The instant ``n`` minutes (and ``seconds``) after the issue was created."""
    return NOW + timedelta(minutes=n, seconds=seconds)


def decision(version: int, kind: Decision, at: int | datetime, **overrides: Any) -> TriagedIssue:
    status = IssueStatus.RESOLVED if kind is Decision.RESOLVED else IssueStatus.OPEN
    fields: dict[str, Any] = {"status": status, **overrides}
    decided_at = minute(at) if isinstance(at, int) else at
    return make_decision(
        issue_id="iss-1", route=ROUTE, version=version, decision=kind, decided_at=decided_at, **fields
    )


def person(action: LifecycleAction, at: int | datetime) -> LifecycleEvent:
    instant = minute(at) if isinstance(at, int) else at
    return make_lifecycle_event(
        "iss-1", action, command_id=f"c-{action.value}-{instant.isoformat()}", at=instant
    )


CREATED = decision(1, Decision.CREATED, 0)
RESOLVED = decision(2, Decision.RESOLVED, 20)
REOPENED = decision(3, Decision.REOPENED, 30)


Message = TriagedIssue | LifecycleEvent | SlaEvent


@dataclass
class Reading:
    """What the notifier planned, message by message, in the order it read them.

    A lifecycle event is at the next offset of the lifecycle topic's partition 0 when first read, and at
    that offset whenever read again (a replay)."""

    state: IssueState = field(default_factory=lambda: IssueState("iss-1"))
    sent: list[list[tuple[str, str | None, SkipReason | None]]] = field(default_factory=list)
    keys: list[set[str]] = field(default_factory=list)
    clocks: Clocks = field(default_factory=Clocks)
    offsets: dict[str, int] = field(default_factory=dict)

    def read(self, *messages: Message) -> "Reading":
        for message in messages:
            if isinstance(message, TriagedIssue):
                plan = plan_decision(message, self.state, CHANNELS, self.clocks)
            elif isinstance(message, LifecycleEvent):
                offset = self.offsets.setdefault(message.event_id, len(self.offsets))
                position = TopicPosition(0, offset)
                plan = plan_lifecycle(message, self.state, CHANNELS, self.clocks, position=position)
            else:
                plan = plan_sla(message, self.state, CHANNELS, lambda _: ROUTE.channels)
            self.state = plan.state
            self.sent.append(summary(plan.deliveries))
            self.keys.append({d.key for d in plan.deliveries})
        return self

    @property
    def last(self) -> list[tuple[str, str | None, SkipReason | None]]:
        return self.sent[-1]


def summary(deliveries: Sequence[PlannedDelivery]) -> list[tuple[str, str | None, SkipReason | None]]:
    return [(d.channel, d.kind.value if d.kind else None, d.skip) for d in deliveries]


# --- (a) an acknowledge or resolve read before the issue's first decision ---------------------------


def test_an_acknowledge_read_before_the_first_decision_stops_its_page_and_the_escalations() -> None:
    reading = Reading().read(person(LifecycleAction.ACKNOWLEDGE, 5))
    assert reading.last == [], "nothing to render from, nothing was paged"

    reading.read(CREATED)
    assert reading.last == [("slack", None, None)], "told, but PagerDuty is not paged"
    assert reading.state.acknowledged

    reading.read(make_sla_event(SlaEventKind.ESCALATION))
    assert reading.last == [("slack", None, SkipReason.ACKNOWLEDGED), ("pd", None, SkipReason.ACKNOWLEDGED)]


def test_an_acknowledge_read_before_the_first_decision_reaches_a_pager_an_sla_event_paged() -> None:
    reading = Reading().read(make_sla_event(SlaEventKind.BREACHED), person(LifecycleAction.ACKNOWLEDGE, 5))
    assert reading.sent == [[("slack", None, None), ("pd", None, None)], []]

    reading.read(CREATED)
    assert reading.last == [("slack", None, None), ("pd", "acknowledge", None)]
    assert reading.state.paged_channels == {"pd"}, "kept for the resolve"


def test_a_resolve_read_before_the_first_decision_is_told_as_a_resolved_decision_and_pages_nobody() -> None:
    reading = Reading().read(person(LifecycleAction.RESOLVE, 5), CREATED)
    assert reading.last == [("slack", "resolve", None)]
    assert reading.state.resolved

    reading.read(
        make_sla_event(SlaEventKind.BREACHED), decision(2, Decision.UPDATED, 10, severity=Severity.CRITICAL)
    )
    assert reading.sent[-2] == [("slack", None, SkipReason.RESOLVED), ("pd", None, SkipReason.RESOLVED)]
    assert reading.last == [], "triage had not applied the resolve yet: its update sends nothing"


def test_a_silent_first_decision_after_a_persons_resolve_sends_nothing() -> None:
    reading = Reading().read(
        person(LifecycleAction.RESOLVE, 5), decision(1, Decision.CREATED, 0, notify=False)
    )
    assert reading.last == []
    assert reading.state.resolved


def test_an_issue_acknowledged_resolved_and_reopened_before_its_first_decision_pages() -> None:
    reading = Reading().read(
        person(LifecycleAction.ACKNOWLEDGE, 5),
        person(LifecycleAction.RESOLVE, 10),
        person(LifecycleAction.REOPEN, 15),
        CREATED,
    )
    assert reading.last == [("slack", None, None), ("pd", None, None)]
    assert (reading.state.acknowledged, reading.state.resolved) == (False, False)


# --- (b) an old acknowledge or resolve read after a later reopen ------------------------------------


@pytest.mark.parametrize("action", [LifecycleAction.ACKNOWLEDGE, LifecycleAction.RESOLVE])
def test_an_old_acknowledge_or_resolve_read_after_the_reopen_decision_changes_nothing(
    action: LifecycleAction,
) -> None:
    reading = Reading().read(CREATED, RESOLVED, REOPENED)
    assert reading.last == [("slack", None, None), ("pd", None, None)], "the new cycle pages"
    reopened = reading.state

    old = person(action, 10)
    assert lifecycle_is_stale(old, reopened)
    reading.read(old)
    assert reading.last == []
    assert reading.state == reopened

    reading.read(make_sla_event(SlaEventKind.ESCALATION))
    assert reading.last == [("slack", None, None), ("pd", None, None)], "the new cycle still escalates"


def test_an_old_acknowledge_read_after_triages_resolve_does_not_reopen_or_acknowledge() -> None:
    reading = Reading().read(CREATED, RESOLVED, person(LifecycleAction.ACKNOWLEDGE, 10))
    assert reading.last == []
    assert (reading.state.acknowledged, reading.state.resolved) == (False, True)

    reading.read(REOPENED)
    assert reading.last == [("slack", None, None), ("pd", None, None)]


def test_an_acknowledge_of_the_new_cycle_read_before_its_reopen_decision_stops_its_page() -> None:
    reading = Reading().read(CREATED, RESOLVED, person(LifecycleAction.ACKNOWLEDGE, 35))
    assert reading.last == []
    assert reading.state.resolved, "the reopen is not read yet"

    reading.read(REOPENED)
    assert reading.last == [("slack", None, None)], "told of the reopen, but not paged"
    assert reading.state.acknowledged


def test_a_resolve_of_the_new_cycle_read_before_its_reopen_decision_keeps_it_resolved() -> None:
    reading = Reading().read(CREATED, RESOLVED, person(LifecycleAction.RESOLVE, 35), REOPENED)
    assert reading.sent[-2:] == [[], []]
    assert reading.state.resolved


def test_an_acknowledge_after_the_reopen_decision_read_after_it_is_mirrored() -> None:
    reading = Reading().read(CREATED, RESOLVED, REOPENED, person(LifecycleAction.ACKNOWLEDGE, 35))
    assert reading.last == [("pd", "acknowledge", None)]


def test_a_decision_decided_before_a_persons_reopen_does_not_resolve_the_new_cycle() -> None:
    reading = Reading().read(
        CREATED, person(LifecycleAction.RESOLVE, 10), person(LifecycleAction.REOPEN, 25), RESOLVED
    )
    assert reading.last == [], "triage's resolve of the previous cycle is out of date"
    assert (reading.state.resolved, reading.state.version) == (False, 2)

    reading.read(make_sla_event(SlaEventKind.BREACHED))
    assert reading.last == [("slack", None, None), ("pd", None, None)]


# --- replays ------------------------------------------------------------------------------------------


def test_reading_every_message_again_sends_nothing_new_and_changes_nothing() -> None:
    messages: list[Message] = [
        CREATED,
        person(LifecycleAction.ACKNOWLEDGE, 5),
        RESOLVED,
        person(LifecycleAction.ACKNOWLEDGE, 35),
        REOPENED,
        person(LifecycleAction.RESOLVE, 40),
        person(LifecycleAction.REOPEN, 45),
        person(LifecycleAction.ACKNOWLEDGE, 50),
    ]
    reading = Reading().read(*messages)
    settled = reading.state
    assert settled.acknowledged

    # A replay (a new consumer group, a restart) reads the lifecycle topic again in its order, and the
    # decisions, in any interleaving with it. A replayed lifecycle event is at or below the position
    # of the last one taken in: it changes nothing; a replayed decision is not newer than the snapshot's.
    told = set().union(*reading.keys)
    people = [m for m in messages if isinstance(m, LifecycleEvent)]
    decisions = [m for m in messages if isinstance(m, TriagedIssue)]
    interleaved = [m for pair in zip(people, [*decisions, *decisions], strict=False) for m in pair]
    for replay in ([*people, *decisions], [*decisions, *people], interleaved):
        reading.read(*replay)
        assert set().union(*reading.keys[-len(replay) :]) <= told, "nothing but keys already stored"
        assert reading.state == settled


def test_a_replay_with_the_sla_topic_read_first_does_not_resolve_the_reopened_cycles_page() -> None:
    # Told only Slack (low severity); a person resolves and reopens; the reopened issue's escalation
    # pages PagerDuty. The replay (a new group, a big redelivered batch) reads the SLA topic first.
    created = decision(1, Decision.CREATED, 0, severity=Severity.LOW)
    resolve, reopen = person(LifecycleAction.RESOLVE, 10), person(LifecycleAction.REOPEN, 15)
    escalated = make_sla_event(SlaEventKind.ESCALATION)
    reading = Reading().read(created, resolve, reopen, escalated)
    assert reading.sent == [
        [("slack", None, None)],
        [("slack", "resolve", None)],
        [],
        [("slack", None, None), ("pd", None, None)],
    ]
    settled, told = reading.state, set().union(*reading.keys)

    reading.read(created, escalated, resolve, reopen)
    assert set().union(*reading.keys[-4:]) <= told, "no resolve of the open PagerDuty incident"
    assert reading.state == settled
    assert reading.state.paged_channels == {"pd"}

    reading.read(person(LifecycleAction.ACKNOWLEDGE, 20))
    assert reading.last == [("pd", "acknowledge", None)], "a later acknowledge still reaches PagerDuty"


def test_a_lifecycle_event_at_or_below_the_last_position_taken_in_is_a_replay() -> None:
    state = IssueState("iss-1", lifecycle_position=TopicPosition(2, 7))
    assert lifecycle_is_replay(TopicPosition(2, 7), state)
    assert lifecycle_is_replay(TopicPosition(2, 3), state)
    assert not lifecycle_is_replay(TopicPosition(2, 8), state)
    assert not lifecycle_is_replay(TopicPosition(1, 3), state), "another partition: a repartitioned topic"
    assert not lifecycle_is_replay(None, state)
    assert not lifecycle_is_replay(TopicPosition(2, 3), IssueState("iss-1"))


def test_a_replayed_acknowledge_or_resolve_is_harmless() -> None:
    acknowledged = Reading().read(CREATED, person(LifecycleAction.ACKNOWLEDGE, 10))
    assert acknowledged.last == [("pd", "acknowledge", None)]
    settled, told = acknowledged.state, set().union(*acknowledged.keys)
    acknowledged.read(person(LifecycleAction.ACKNOWLEDGE, 10))
    assert (acknowledged.last, acknowledged.state) == ([], settled)

    resolved = Reading().read(
        CREATED, person(LifecycleAction.ACKNOWLEDGE, 10), person(LifecycleAction.RESOLVE, 15)
    )
    settled, told = resolved.state, set().union(*resolved.keys)
    # Redelivered from an offset before both (a restart before the commit): read again in order.
    resolved.read(person(LifecycleAction.ACKNOWLEDGE, 10), person(LifecycleAction.RESOLVE, 15))
    assert resolved.sent[-2:] == [[], []], "an acknowledge after a person's resolve is not taken in"
    assert set().union(*resolved.keys) == told
    assert resolved.state == settled


# --- (c) lifecycle events in the topic's order, whatever their instants ----------------------------


def test_a_resolve_dated_before_a_later_acknowledge_still_resolves_pagerduty() -> None:
    # A person acknowledges at 09:40; a source's Kafka command resolves with at=09:35, and the SLA service
    # applies it (a resolve made before a later acknowledge still resolves).
    reading = Reading().read(CREATED, person(LifecycleAction.ACKNOWLEDGE, 10))
    assert reading.last == [("pd", "acknowledge", None)]

    reading.read(person(LifecycleAction.RESOLVE, 5))
    assert reading.last == [("slack", "resolve", None), ("pd", "resolve", None)]
    assert reading.state.resolved

    reading.read(make_sla_event(SlaEventKind.ESCALATION))
    assert reading.last == [("slack", None, SkipReason.RESOLVED), ("pd", None, SkipReason.RESOLVED)]


def test_a_reopen_stamped_a_second_before_the_resolve_by_another_sla_instance_pages_again() -> None:
    reading = Reading().read(
        CREATED,
        person(LifecycleAction.RESOLVE, 20),
        person(LifecycleAction.REOPEN, minute(19, 59)),
        make_sla_event(SlaEventKind.ESCALATION),
    )
    assert reading.sent[1] == [("slack", "resolve", None), ("pd", "resolve", None)]
    assert reading.last == [("slack", None, None), ("pd", None, None)], "the reopened issue pages"
    assert (reading.state.resolved, reading.state.paged_channels) == (False, frozenset({"pd"}))


# --- (d) triage's and the SLA service's clocks a few seconds apart ---------------------------------


@pytest.mark.parametrize(
    ("decided", "pages"),
    [(minute(19, 59), True), (minute(20, 4), True), (minute(19, 50), False)],
    ids=["1s-behind", "4s-ahead", "10s-behind"],
)
def test_triages_reopen_within_the_skew_of_a_persons_resolve_pages_again(
    decided: datetime, pages: bool
) -> None:
    reading = Reading().read(CREATED, person(LifecycleAction.RESOLVE, 20))
    reading.read(decision(2, Decision.REOPENED, decided))
    if pages:
        assert reading.last == [("slack", None, None), ("pd", None, None)]
        assert not reading.state.resolved
    else:
        assert reading.last == [], "clearly before the resolve: the resolve stands"
        assert reading.state.resolved


@pytest.mark.parametrize(
    ("acknowledged_at", "silences"),
    [(minute(30, 1), False), (minute(29, 58), False), (minute(30, 6), True)],
    ids=["1s-after", "2s-before", "6s-after"],
)
def test_an_acknowledge_silences_triages_reopen_only_when_clearly_after_it(
    acknowledged_at: datetime, silences: bool
) -> None:
    for order in ("reopen-first", "acknowledge-first"):
        reading = Reading().read(CREATED, RESOLVED)
        acknowledge = person(LifecycleAction.ACKNOWLEDGE, acknowledged_at)
        reading.read(*((REOPENED, acknowledge) if order == "reopen-first" else (acknowledge, REOPENED)))
        reading.read(make_sla_event(SlaEventKind.ESCALATION))
        skip = SkipReason.ACKNOWLEDGED if silences else None
        assert reading.last == [("slack", None, skip), ("pd", None, skip)], order
        assert reading.state.acknowledged is silences, order


@pytest.mark.parametrize(
    ("resolved_at", "resolves"),
    [(minute(20, 2), False), (minute(20, 10), True)],
    ids=["2s-after", "10s-after"],
)
def test_triages_resolve_silences_a_persons_reopen_only_when_clearly_after_it(
    resolved_at: datetime, resolves: bool
) -> None:
    reading = Reading().read(CREATED, person(LifecycleAction.RESOLVE, 10), person(LifecycleAction.REOPEN, 20))
    reading.read(decision(2, Decision.RESOLVED, resolved_at))
    assert reading.state.resolved is resolves
    assert reading.last == ([("slack", "resolve", None)] if resolves else [])


@pytest.mark.parametrize(
    ("reopened_at", "reopens"),
    [(minute(19, 58), True), (minute(19, 50), False)],
    ids=["2s-before", "10s-before"],
)
def test_a_persons_reopen_is_dropped_against_triages_resolve_only_when_clearly_before_it(
    reopened_at: datetime, reopens: bool
) -> None:
    reading = Reading().read(
        CREATED, decision(2, Decision.RESOLVED, 20), person(LifecycleAction.REOPEN, reopened_at)
    )
    assert reading.state.resolved is not reopens
    reading.read(make_sla_event(SlaEventKind.ESCALATION))
    skip = None if reopens else SkipReason.RESOLVED
    assert reading.last == [("slack", None, skip), ("pd", None, skip)]


def test_a_command_dated_in_the_future_holds_back_no_later_reopen() -> None:
    # A Kafka command resolves the issue with an ``at`` an hour ahead; the notifier reads it at minute 20.
    reading = Reading(clocks=Clocks(now=minute(20))).read(CREATED, person(LifecycleAction.RESOLVE, 80))
    assert reading.state.resolved
    assert reading.state.cycle_at == minute(20), "taken in at the notifier's now"

    reading.clocks = Clocks(now=minute(30))
    reading.read(decision(2, Decision.REOPENED, 30))
    assert reading.last == [("slack", None, None), ("pd", None, None)], "triage's reopen pages"
