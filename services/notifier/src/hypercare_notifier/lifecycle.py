"""A person's acknowledge, resolve or reopen (``LifecycleEvent``), mirrored: pure planning on the issue's
snapshot, as :mod:`hypercare_notifier.planning` plans decisions and SLA events.
"""

from __future__ import annotations

from dataclasses import replace

from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_domain.notify.render import NotificationKind

from hypercare_notifier.planning import Channels, IssueState, Plan, Transition, TriggerKind, planned_delivery

ECHO_VIAS = frozenset({Via.SOURCE, Via.TRIAGE})
"""Lifecycle events the SLA service derives from triage decisions; the notifier reads those decisions itself."""

_TAKEN_IN = frozenset({LifecycleAction.ACKNOWLEDGE, LifecycleAction.RESOLVE, LifecycleAction.REOPEN})


def lifecycle_is_stale(event: LifecycleEvent, state: IssueState) -> bool:
    """Whether a person's acknowledge, resolve or reopen is older than what the snapshot already took in.

    It is when it happened before the snapshot's last resolve or reopen (``cycle_at``: a later cycle has
    begun, e.g. triage's reopen decision was read first) or before the last person's change it took in
    (a replay: the lifecycle topic is read in order). Other actions are never stale (nothing is taken).
    """
    if event.action not in _TAKEN_IN:
        return False
    if state.lifecycle is not None and event.at < state.lifecycle.at:
        return True
    return state.cycle_at is not None and event.at < state.cycle_at


def _of_resolved_cycle(event: LifecycleEvent, state: IssueState) -> bool:
    """An acknowledge or resolve of a resolved snapshot that happened when, or before, it turned resolved."""
    return state.resolved and state.cycle_at is not None and event.at <= state.cycle_at


def _taken_in(event: LifecycleEvent, state: IssueState) -> tuple[IssueState, NotificationKind | None]:
    """The snapshot after a fresh acknowledge, resolve or reopen, and what to tell of it (if anything)."""
    taken = Transition(event.action, event.at)
    if event.action is LifecycleAction.REOPEN:
        # A snapshot not resolved missed the resolve before the reopen: its pagers still have it open.
        paged = frozenset() if state.resolved else state.paged_channels
        reopened = replace(
            state,
            acknowledged=False,
            resolved=False,
            paged_channels=paged,
            lifecycle=taken,
            cycle_at=event.at,
        )
        return reopened, None
    if _of_resolved_cycle(event, state):
        return state, None
    if event.action is LifecycleAction.ACKNOWLEDGE:
        if state.resolved:
            # Acknowledged after the resolve: a reopen not read yet; its decision honours this.
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
        cycle_at=event.at,
    )
    return resolved, kind


def plan_lifecycle(event: LifecycleEvent, state: IssueState, channels: Channels) -> Plan:
    """Plan the mirror of a person's acknowledge, resolve or reopen (SLA API, signed link, Kafka command).

    Triage publishes no decision for these (the SLA service reacts to decisions), so the notifier closes
    what it opened itself, as :func:`plan_decision` does when a decision carries the transition: an
    acknowledge goes to the pagers that paged for the issue; a resolve to those pagers and, unless the
    issue is suppressed (never told), the route's other channels. A reopen sends nothing and clears the
    snapshot, so the issue pages again.

    The lifecycle topic and the decisions' topic are read in no common order, so the snapshot records
    the transition and its instant (``at``) even when nothing can be sent: before the issue's first
    decision (there is nothing to render from or to close; that decision honours it), or an acknowledge
    after the snapshot's resolve (a reopen decision not read yet honours it). A later decision or SLA
    event carrying the transition sends nothing again, and re-notifications and escalations stop.

    Nothing is planned for an echo of a triage decision (``via`` source or triage: the decision itself
    is planned, and a late echo could close what a newer decision paged), for an event older than the
    snapshot's cycle or last change (:func:`lifecycle_is_stale`), for an acknowledge or resolve of a
    snapshot that was resolved at or after its instant, or for other actions.

    Args:
        event: the lifecycle event.
        state: the issue's snapshot.
        channels: the usable channels.

    Returns:
        The new snapshot and the planned deliveries (``trigger_id`` is the lifecycle ``event_id``).
    """
    if event.via in ECHO_VIAS or event.action not in _TAKEN_IN or lifecycle_is_stale(event, state):
        return Plan(state)
    after, kind = _taken_in(event, state)
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
