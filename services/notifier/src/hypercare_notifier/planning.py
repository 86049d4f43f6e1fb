"""Who is told, where and how urgently: pure planning from a decision, an SLA event or a person's lifecycle
event and the issue's snapshot.

Nothing here does I/O. The intake loads the issue snapshots, calls :func:`plan_decision`,
:func:`plan_sla` or :func:`plan_lifecycle` for each message in order, and stores the planned deliveries
and new snapshots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, IssueStatus, TriagedIssue
from hypercare_domain.notify.render import NotificationKind, Urgency, urgency_for


class TriggerKind(StrEnum):
    """What a delivery row was caused by (and so how the worker renders it)."""

    DECISION = "decision"
    SLA = "sla"
    DIGEST = "digest"
    LIFECYCLE = "lifecycle"
    """A person's acknowledge or resolve (``LifecycleEvent``), mirrored to where the issue was told."""


class SkipReason(StrEnum):
    """Why a planned notification is recorded but not sent."""

    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


def idempotency_key(issue_id: str, trigger_id: str, step: int, channel: str) -> str:
    """The delivery's key: one per (issue, trigger, escalation step, channel), stable across replays."""
    return hashlib.sha256(f"{issue_id}|{trigger_id}|{step}|{channel}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What planning needs to know about a configured channel."""

    name: str
    pager: bool
    """Only page-urgency notifications (and acknowledge/resolve of its own pages) go there."""


@dataclass(frozen=True, slots=True)
class IssueState:
    """The notifier's snapshot of one issue."""

    issue_id: str
    issue: TriagedIssue | None = None
    version: int = 0
    acknowledged: bool = False
    resolved: bool = False
    paged_channels: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One notification on one channel, before it is stored.

    Attributes:
        kind: the notification kind to render with (``None``: what the decision implies).
        limited: counts against the route's storm limit (triage notifications, not acknowledge/resolve).
        skip: set when the notification is recorded but deliberately not sent.
    """

    key: str
    issue_id: str
    trigger_id: str
    trigger_kind: TriggerKind
    step: int
    channel: str
    route: str
    kind: NotificationKind | None
    limited: bool
    skip: SkipReason | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The issue's new snapshot and what to deliver."""

    state: IssueState
    deliveries: list[PlannedDelivery] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Channels:
    """The usable channels and the fallback when a route names none of them."""

    known: Mapping[str, ChannelInfo]
    default: str

    def pick(self, names: Sequence[str]) -> list[ChannelInfo]:
        """The usable channels among ``names`` (in order, without repeats), else the default channel."""
        chosen = [self.known[n] for n in dict.fromkeys(names) if n in self.known]
        if chosen:
            return chosen
        return [self.known.get(self.default, ChannelInfo(self.default, pager=False))]


def _delivery(
    *,
    issue_id: str,
    trigger_id: str,
    trigger_kind: TriggerKind,
    step: int,
    channel: str,
    route: str,
    kind: NotificationKind | None,
    limited: bool,
    skip: SkipReason | None = None,
) -> PlannedDelivery:
    return PlannedDelivery(
        key=idempotency_key(issue_id, trigger_id, step, channel),
        issue_id=issue_id,
        trigger_id=trigger_id,
        trigger_kind=trigger_kind,
        step=step,
        channel=channel,
        route=route,
        kind=kind,
        limited=limited,
        skip=skip,
    )


def _next_state(issue: TriagedIssue, state: IssueState) -> IssueState:
    resolved = issue.decision is Decision.RESOLVED or issue.status is IssueStatus.RESOLVED
    restarted = issue.decision in (Decision.CREATED, Decision.REOPENED)
    acknowledged = issue.status is IssueStatus.ACKNOWLEDGED or (state.acknowledged and not restarted)
    return replace(
        state,
        issue=issue,
        version=issue.version,
        acknowledged=acknowledged and not resolved,
        resolved=resolved,
        paged_channels=frozenset() if restarted else state.paged_channels,
    )


def plan_decision(issue: TriagedIssue, state: IssueState, channels: Channels) -> Plan:
    """Plan the notifications of one triage decision.

    Rules: an older version than the snapshot's, or the decision the snapshot already holds (a replay:
    its deliveries were stored with the snapshot), plans nothing; ``notify=False`` plans only an
    acknowledge or resolve to the pager channels that paged for the issue; a resolved decision
    resolves on every channel (pagers only if they paged); otherwise every route channel is told,
    pagers only when the severity pages.

    Args:
        issue: the decision.
        state: the issue's snapshot before it.
        channels: the usable channels.

    Returns:
        The new snapshot and the planned deliveries.
    """
    replayed = state.issue is not None and state.issue.decision_id == issue.decision_id
    if issue.version < state.version or replayed:
        # A replay must not undo what came after the decision without a version (a person's acknowledge).
        return Plan(state)
    after = _next_state(issue, state)
    route = issue.route.name
    targets = channels.pick(issue.route.channels)

    def make(channel: str, kind: NotificationKind | None, *, limited: bool) -> PlannedDelivery:
        return _delivery(
            issue_id=issue.issue_id,
            trigger_id=issue.decision_id,
            trigger_kind=TriggerKind.DECISION,
            step=0,
            channel=channel,
            route=route,
            kind=kind,
            limited=limited,
        )

    newly_resolved = after.resolved and not state.resolved
    if not issue.notify or (after.resolved and state.resolved):
        closing: NotificationKind | None = None
        if newly_resolved:
            closing = NotificationKind.RESOLVE
        elif after.acknowledged and not state.acknowledged:
            closing = NotificationKind.ACKNOWLEDGE
        if closing is None:
            return Plan(after)
        pagers = [c for c in targets if c.pager and c.name in state.paged_channels]
        kept = frozenset() if closing is NotificationKind.RESOLVE else after.paged_channels
        return Plan(
            replace(after, paged_channels=kept), [make(c.name, closing, limited=False) for c in pagers]
        )
    if newly_resolved:
        chosen = [c for c in targets if not c.pager or c.name in state.paged_channels]
        plan = [make(c.name, NotificationKind.RESOLVE, limited=False) for c in chosen]
        return Plan(replace(after, paged_channels=frozenset()), plan)
    pages = urgency_for(issue.severity) is Urgency.PAGE
    deliveries: list[PlannedDelivery] = []
    paged = set(after.paged_channels)
    newly_acknowledged = after.acknowledged and not state.acknowledged
    for channel in targets:
        if not channel.pager:
            deliveries.append(make(channel.name, None, limited=True))
        elif newly_acknowledged and channel.name in state.paged_channels:
            deliveries.append(make(channel.name, NotificationKind.ACKNOWLEDGE, limited=False))
        elif pages and not after.acknowledged:
            paged.add(channel.name)
            deliveries.append(make(channel.name, None, limited=True))
    return Plan(replace(after, paged_channels=frozenset(paged)), deliveries)


_STOPPED_BY_ACK = frozenset({SlaEventKind.RENOTIFY, SlaEventKind.ESCALATION})


def plan_sla(
    event: SlaEvent,
    state: IssueState,
    channels: Channels,
    route_channels: Callable[[str], Sequence[str]],
) -> Plan:
    """Plan the notifications of one SLA milestone or escalation step.

    ``met`` updates the snapshot (a met response SLA means acknowledged) and sends nothing. Events
    about a resolved issue, and re-notifications or escalations of an acknowledged one, are planned
    as skipped so the log shows why nothing went out. Escalations go to the route's channels; the
    escalation target is named in the message.

    Args:
        event: the SLA event.
        state: the issue's snapshot.
        channels: the usable channels.
        route_channels: the channels of a route by name, for issues the notifier has no decision of.

    Returns:
        The new snapshot and the planned deliveries.
    """
    if event.kind is SlaEventKind.MET:
        if event.target is SlaTarget.RESOLUTION:
            return Plan(replace(state, resolved=True, acknowledged=False))
        return Plan(replace(state, acknowledged=True))
    names = state.issue.route.channels if state.issue is not None else route_channels(event.route)
    route = state.issue.route.name if state.issue is not None else event.route
    skip: SkipReason | None = None
    if state.resolved:
        skip = SkipReason.RESOLVED
    elif state.acknowledged and event.kind in _STOPPED_BY_ACK:
        skip = SkipReason.ACKNOWLEDGED
    pages = urgency_for(event.severity) is Urgency.PAGE
    step = event.escalation_step or 0
    deliveries = [
        _delivery(
            issue_id=event.issue_id,
            trigger_id=event.event_id,
            trigger_kind=TriggerKind.SLA,
            step=step,
            channel=channel.name,
            route=route,
            kind=None,
            limited=False,
            skip=skip,
        )
        for channel in channels.pick(names)
        if pages or not channel.pager
    ]
    paged = {
        d.channel
        for d in deliveries
        if skip is None and d.channel in channels.known and channels.known[d.channel].pager
    }
    return Plan(replace(state, paged_channels=state.paged_channels | paged), deliveries)


ECHO_VIAS = frozenset({Via.SOURCE, Via.TRIAGE})
"""Lifecycle events the SLA service derives from triage decisions; the notifier reads those decisions itself."""


def plan_lifecycle(event: LifecycleEvent, state: IssueState, channels: Channels) -> Plan:
    """Plan the mirror of a person's acknowledge, resolve or reopen (SLA API, signed link, Kafka command).

    Triage publishes no decision for these (the SLA service reacts to decisions), so the notifier closes
    what it opened itself, as :func:`plan_decision` does when a decision carries the transition: an
    acknowledge goes to the pagers that paged for the issue; a resolve to those pagers and, unless the
    issue is suppressed (never told), the route's other channels. The snapshot records the transition,
    so a later decision or SLA event carrying it sends nothing again, and re-notifications and
    escalations stop. A reopen sends nothing and clears the snapshot, so the issue pages again.

    Nothing is planned for an echo of a triage decision (``via`` source or triage: the decision itself
    is planned, and a late echo could close what a newer decision paged), for an issue without a decision
    in the snapshot (nothing was paged that could be closed from here), for a transition the snapshot
    already has, or for other actions.

    Args:
        event: the lifecycle event.
        state: the issue's snapshot.
        channels: the usable channels.

    Returns:
        The new snapshot and the planned deliveries (``trigger_id`` is the lifecycle ``event_id``).
    """
    issue = state.issue
    if issue is None or event.via in ECHO_VIAS:
        return Plan(state)
    if event.action is LifecycleAction.REOPEN:
        if not state.resolved:
            return Plan(state)
        return Plan(replace(state, resolved=False, acknowledged=False, paged_channels=frozenset()))
    if event.action is LifecycleAction.ACKNOWLEDGE and not (state.acknowledged or state.resolved):
        kind, after = NotificationKind.ACKNOWLEDGE, replace(state, acknowledged=True)
    elif event.action is LifecycleAction.RESOLVE and not state.resolved:
        kind = NotificationKind.RESOLVE
        after = replace(state, resolved=True, acknowledged=False, paged_channels=frozenset())
    else:
        return Plan(state)
    pagers = sorted(n for n in state.paged_channels if n in channels.known and channels.known[n].pager)
    told: list[str] = []
    if kind is NotificationKind.RESOLVE and issue.suppressed_by is None:
        told = [c.name for c in channels.pick(issue.route.channels) if not c.pager]
    deliveries = [
        _delivery(
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
