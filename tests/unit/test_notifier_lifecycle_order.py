"""People's acknowledges and resolves read in another order than triage's decisions: the notifier's pure
planning never loses one that happened, and never lets a stale one silence a newer cycle.

The lifecycle topic and the triaged topic are read in no common order (a lagging partition, a restart).
Each scenario below feeds the planners the messages in the order the notifier reads them; the instants
say the order in which things happened."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, IssueStatus, Route, TriagedIssue
from hypercare_notifier.lifecycle import lifecycle_is_stale, plan_lifecycle
from hypercare_notifier.planning import (
    ChannelInfo,
    Channels,
    IssueState,
    PlannedDelivery,
    SkipReason,
    plan_decision,
    plan_sla,
)

from tests.support.receivers import NOW, make_decision, make_lifecycle_event

pytestmark = pytest.mark.unit

CHANNELS = Channels(
    known={
        "console": ChannelInfo("console", pager=False),
        "slack": ChannelInfo("slack", pager=False),
        "pd": ChannelInfo("pd", pager=True),
    },
    default="console",
)
ROUTE = Route(name="payments", team="t", escalation_policy="p", channels=["slack", "pd"])


def minute(n: int) -> Any:
    """The instant ``n`` minutes after the issue was created."""
    return NOW + timedelta(minutes=n)


def decision(version: int, kind: Decision, at: int, **overrides: Any) -> TriagedIssue:
    status = IssueStatus.RESOLVED if kind is Decision.RESOLVED else IssueStatus.OPEN
    fields: dict[str, Any] = {"status": status, **overrides}
    return make_decision(
        issue_id="iss-1", route=ROUTE, version=version, decision=kind, decided_at=minute(at), **fields
    )


def person(action: LifecycleAction, at: int) -> LifecycleEvent:
    return make_lifecycle_event("iss-1", action, command_id=f"c-{action.value}-{at}", at=minute(at))


CREATED = decision(1, Decision.CREATED, 0)
RESOLVED = decision(2, Decision.RESOLVED, 20)
REOPENED = decision(3, Decision.REOPENED, 30)


def sla(kind: SlaEventKind, step: int = 1) -> SlaEvent:
    return SlaEvent(
        event_id=f"sla-{kind.value}-{step}",
        kind=kind,
        issue_id="iss-1",
        severity=Severity.CRITICAL,
        route="payments",
        target=SlaTarget.RESPONSE,
        due_at=NOW,
        emitted_at=NOW,
        business_elapsed_seconds=60,
        policy="p",
        escalation_step=step,
        escalation_target="cto",
    )


Message = TriagedIssue | LifecycleEvent | SlaEvent


@dataclass
class Reading:
    """What the notifier planned, message by message, in the order it read them."""

    state: IssueState = field(default_factory=lambda: IssueState("iss-1"))
    sent: list[list[tuple[str, str | None, SkipReason | None]]] = field(default_factory=list)

    def read(self, *messages: Message) -> "Reading":
        for message in messages:
            if isinstance(message, TriagedIssue):
                plan = plan_decision(message, self.state, CHANNELS)
            elif isinstance(message, LifecycleEvent):
                plan = plan_lifecycle(message, self.state, CHANNELS)
            else:
                plan = plan_sla(message, self.state, CHANNELS, lambda _: ROUTE.channels)
            self.state = plan.state
            self.sent.append(summary(plan.deliveries))
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

    reading.read(sla(SlaEventKind.ESCALATION))
    assert reading.last == [("slack", None, SkipReason.ACKNOWLEDGED), ("pd", None, SkipReason.ACKNOWLEDGED)]


def test_an_acknowledge_read_before_the_first_decision_reaches_a_pager_an_sla_event_paged() -> None:
    reading = Reading().read(sla(SlaEventKind.BREACHED), person(LifecycleAction.ACKNOWLEDGE, 5))
    assert reading.sent == [[("slack", None, None), ("pd", None, None)], []]

    reading.read(CREATED)
    assert reading.last == [("slack", None, None), ("pd", "acknowledge", None)]
    assert reading.state.paged_channels == {"pd"}, "kept for the resolve"


def test_a_resolve_read_before_the_first_decision_is_told_as_a_resolved_decision_and_pages_nobody() -> None:
    reading = Reading().read(person(LifecycleAction.RESOLVE, 5), CREATED)
    assert reading.last == [("slack", "resolve", None)]
    assert reading.state.resolved

    reading.read(sla(SlaEventKind.BREACHED), decision(2, Decision.UPDATED, 10, severity=Severity.CRITICAL))
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

    reading.read(sla(SlaEventKind.ESCALATION))
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

    reading.read(sla(SlaEventKind.BREACHED))
    assert reading.last == [("slack", None, None), ("pd", None, None)]


# --- replays ------------------------------------------------------------------------------------------


def test_reading_every_message_again_sends_nothing_and_changes_nothing() -> None:
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
    # decisions, in any interleaving with it.
    reading.read(*messages[1::2], *messages[0::2])
    assert all(sent == [] for sent in reading.sent[len(messages) :])
    assert reading.state == settled
