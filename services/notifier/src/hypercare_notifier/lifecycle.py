"""A person's acknowledge, resolve or reopen (``LifecycleEvent``), mirrored: pure planning on the issue's
snapshot, as :mod:`hypercare_notifier.planning` plans decisions and SLA events.

The lifecycle topic is keyed by issue id and holds one issue's events in the SLA service's order, which
is the order things happened in (the SLA service applies a Kafka command dated before a later change
when it undoes nothing: a resolve made before a later acknowledge still resolves). So lifecycle events
are ordered by the topic, never by their ``at`` against each other; ``at`` is only weighed against
triage's ``decided_at`` (another clock), as :class:`~hypercare_notifier.planning.Clocks` says. A replay
of the topic (a new consumer group, a redelivered batch) is told apart by the event's position on it: the
snapshot keeps the position of the last event it took in.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_domain.notify.render import NotificationKind
from hypercare_runtime.logging import get_logger

from hypercare_notifier.planning import (
    DEFAULT_CLOCKS,
    Channels,
    Clocks,
    IssueState,
    Plan,
    TopicPosition,
    Transition,
    TriggerKind,
    planned_delivery,
)

log = get_logger(__name__)

ECHO_VIAS = frozenset({Via.SOURCE, Via.TRIAGE})
"""Lifecycle events the SLA service derives from triage decisions; the notifier reads those decisions itself."""

_TAKEN_IN = frozenset({LifecycleAction.ACKNOWLEDGE, LifecycleAction.RESOLVE, LifecycleAction.REOPEN})


def lifecycle_is_replay(position: TopicPosition | None, state: IssueState) -> bool:
    """Whether a lifecycle event read at ``position`` was read before: at or below the position of the last
    one the snapshot took in, on the same partition.

    The topic holds one issue's events in the order they happened, so one at or below that position came
    before what the snapshot holds and was taken in (or dropped) then. Taken in again, an old resolve
    would resolve the incident a later cycle opened, and an old reopen would forget its pages. Another
    partition (the topic was repartitioned) or no position known is never a replay.
    """
    last = state.lifecycle_position
    if position is None or last is None or position.partition != last.partition:
        return False
    return position.offset <= last.offset


def lifecycle_is_stale(event: LifecycleEvent, state: IssueState, clocks: Clocks = DEFAULT_CLOCKS) -> bool:
    """Whether a person's acknowledge, resolve or reopen belongs to a cycle before the snapshot's.

    Only a cycle a triage decision began (its resolve or reopen, ``cycle_at``) can be newer than a
    lifecycle event read after it: a cycle a person began came earlier on the lifecycle topic. Against
    the decision, an acknowledge or resolve (it would silence the decision's cycle) is stale unless
    clearly later than it; a reopen (it would page again) only if clearly earlier. Other actions are
    never stale (nothing is taken).
    """
    if event.action not in _TAKEN_IN or state.cycle_at is None or state.cycle_by_person:
        return False
    if event.action is LifecycleAction.REOPEN:
        return clocks.clearly_before(event.at, state.cycle_at)
    return not clocks.clearly_after(event.at, state.cycle_at)


def _taken_in(
    event: LifecycleEvent, state: IssueState, clocks: Clocks
) -> tuple[IssueState, NotificationKind | None]:
    """The snapshot after a fresh acknowledge, resolve or reopen, and what to tell of it (if anything)."""
    at = clocks.taken(event.at)
    taken = Transition(event.action, at)
    if event.action is LifecycleAction.REOPEN:
        # A snapshot not resolved missed the resolve before the reopen: its pagers still have it open.
        paged = frozenset() if state.resolved else state.paged_channels
        reopened = replace(
            state,
            acknowledged=False,
            resolved=False,
            paged_channels=paged,
            lifecycle=taken,
            cycle_at=at,
            cycle_by_person=True,
        )
        return reopened, None
    if event.action is LifecycleAction.ACKNOWLEDGE:
        if state.resolved and state.cycle_by_person:
            # After a person's resolve on the topic: a replay, or of a reopen by triage not read yet,
            # which cannot be told apart without weighing the two events' instants. Its decision pages.
            return state, None
        if state.resolved:
            # Clearly after triage's resolve (else stale): of a reopen not read yet; its decision honours it.
            return replace(state, lifecycle=taken), None
        kind = None if state.acknowledged else NotificationKind.ACKNOWLEDGE
        return replace(state, acknowledged=True, lifecycle=taken), kind
    kind = None if state.resolved else NotificationKind.RESOLVE
    resolved = replace(
        state,
        resolved=True,
        acknowledged=False,
        paged_channels=frozenset(),
        lifecycle=taken,
        cycle_at=at,
        cycle_by_person=True,
    )
    return resolved, kind


def plan_lifecycle(
    event: LifecycleEvent,
    state: IssueState,
    channels: Channels,
    clocks: Clocks = DEFAULT_CLOCKS,
    *,
    position: TopicPosition | None = None,
) -> Plan:
    """Plan the mirror of a person's acknowledge, resolve or reopen (SLA API, signed link, Kafka command).

    Triage publishes no decision for these (the SLA service reacts to decisions), so the notifier closes
    what it opened itself, as :func:`plan_decision` does when a decision carries the transition: an
    acknowledge goes to the pagers that paged for the issue; a resolve to those pagers and, unless the
    issue is suppressed (never told), the route's other channels. A reopen sends nothing and clears the
    snapshot, so the issue pages again.

    The lifecycle topic and the decisions' topic are read in no common order, so the snapshot records
    the transition and its instant (``at``, never after ``clocks.now``) even when nothing can be sent:
    before the issue's first decision (there is nothing to render from or to close; that decision
    honours it), or an acknowledge clearly after triage's resolve (a reopen decision not read yet
    honours it). A later decision or SLA event carrying the transition sends nothing again, and
    re-notifications and escalations stop. Events of the lifecycle topic are taken in the order they
    are read, and the snapshot keeps the ``position`` of the last one taken in: an event read again at
    or below it (:func:`lifecycle_is_replay`) changes nothing and sends nothing, whatever was read
    between (the SLA topic read ahead of the lifecycle topic in a replay).

    Nothing is planned for an echo of a triage decision (``via`` source or triage: the decision itself
    is planned, and a late echo could close what a newer decision paged), for a replay, for an event of
    a cycle before the one a decision began (:func:`lifecycle_is_stale`), for an acknowledge after a
    person's resolve, or for other actions.

    Args:
        event: the lifecycle event.
        state: the issue's snapshot.
        channels: the usable channels.
        clocks: the skew allowed between services' clocks, and the notifier's now.
        position: where the event was on the lifecycle topic (``None``: unknown, never a replay).

    Returns:
        The new snapshot and the planned deliveries (``trigger_id`` is the lifecycle ``event_id``).
    """
    if (
        event.via in ECHO_VIAS
        or event.action not in _TAKEN_IN
        or lifecycle_is_replay(position, state)
        or lifecycle_is_stale(event, state, clocks)
    ):
        return Plan(state)
    after, kind = _taken_in(event, state, clocks)
    if position is not None:
        after = replace(after, lifecycle_position=position)
    issue = state.issue
    if kind is None or issue is None:
        return Plan(after)
    pagers = sorted(n for n in state.paged_channels if n in channels.known and channels.known[n].pager)
    told: list[str] = []
    if kind is NotificationKind.RESOLVE and issue.suppressed_by is None:
        told = [c.name for c in channels.pick(issue.route.channels) if not c.pager]
    deliveries = [
        planned_delivery(
            issue_id=event.issue_id,
            trigger_id=event.event_id,
            trigger_kind=TriggerKind.LIFECYCLE,
            step=0,
            channel=name,
            route=issue.route.name,
            kind=kind,
            limited=False,
        )
        for name in [*told, *pagers]
    ]
    return Plan(after, deliveries)


class LifecycleOutcome(StrEnum):
    """What came of one message read from the lifecycle topic."""

    APPLIED = "applied"
    """The snapshot changed (and acknowledge or resolve deliveries were planned where something was told)."""
    UNCHANGED = "unchanged"
    """The snapshot already had the transition, the action is not one the notifier mirrors, or the event
    was read before (a replay: at or below the last position taken in)."""
    ECHO = "echo"
    """The SLA service's echo of a triage decision (via source or triage): the decision is what counts."""
    STALE = "stale"
    """Of a cycle before the one a triage decision began (an acknowledge made before triage's reopen, read
    after it): see :func:`~hypercare_notifier.lifecycle.lifecycle_is_stale`."""
    UNKNOWN_ISSUE = "unknown_issue"
    """No decision of the issue was seen yet: nothing is sent, the transition is remembered for it."""
    COMMAND = "command"
    """A command (the SLA service's input), not an event: ignored."""


def lifecycle_outcome(
    event: LifecycleEvent, before: IssueState, plan: Plan, clocks: Clocks, position: TopicPosition
) -> LifecycleOutcome:
    """What came of ``event`` read at ``position``, given the snapshot ``before`` it and its ``plan`` (logged)."""
    if event.via in ECHO_VIAS:
        return LifecycleOutcome.ECHO
    if lifecycle_is_replay(position, before):
        log.debug(
            "lifecycle.replayed",
            issue_id=event.issue_id,
            event_id=event.event_id,
            partition=position.partition,
            offset=position.offset,
        )
        return LifecycleOutcome.UNCHANGED
    if lifecycle_is_stale(event, before, clocks):
        log.info(
            "lifecycle.stale", issue_id=event.issue_id, event_id=event.event_id, action=event.action.value
        )
        return LifecycleOutcome.STALE
    if before.issue is None:
        log.info(
            "lifecycle.unknown_issue",
            issue_id=event.issue_id,
            event_id=event.event_id,
            remembered=plan.state != before,
        )
        return LifecycleOutcome.UNKNOWN_ISSUE
    if replace(plan.state, lifecycle_position=before.lifecycle_position) == before:
        return LifecycleOutcome.UNCHANGED
    log.info(
        "lifecycle.mirrored",
        issue_id=event.issue_id,
        event_id=event.event_id,
        action=event.action.value,
        channels=[d.channel for d in plan.deliveries],
    )
    return LifecycleOutcome.APPLIED
