"""Who is told, where and how urgently: pure planning from a decision or an SLA event and the issue's
snapshot (a person's lifecycle event: :mod:`hypercare_notifier.lifecycle`).

Nothing here does I/O. The intake loads the issue snapshots, calls :func:`plan_decision`,
:func:`plan_sla` or :func:`~hypercare_notifier.lifecycle.plan_lifecycle` for each message in order, and
stores the planned deliveries and new snapshots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from hypercare_contracts.lifecycle import LifecycleAction
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


DEFAULT_CLOCK_SKEW = timedelta(seconds=5)
"""How far apart two services' clocks may be (``HYPERCARE_CLOCK_SKEW_SECONDS``)."""


@dataclass(frozen=True, slots=True)
class Clocks:
    """How planning weighs instants stamped by other services' clocks.

    Triage stamps ``decided_at``, the SLA service (or the client of a Kafka command) a lifecycle event's
    ``at``. Compared with each other, they are a ``skew`` apart at most, and within it planning errs
    towards paging: what would silence an issue must be clearly later than what it silences, what would
    page again is dropped only when clearly earlier. An instant after ``now`` (the notifier's own clock)
    is taken as ``now``, so a command dated in the future cannot hold anything back. ``now=None`` takes
    every instant as it is (pure tests).
    """

    skew: timedelta = DEFAULT_CLOCK_SKEW
    now: datetime | None = None

    def taken(self, at: datetime) -> datetime:
        """``at`` as the snapshot takes it in: never after ``now``."""
        return at if self.now is None or at <= self.now else self.now

    def clearly_after(self, at: datetime, than: datetime) -> bool:
        """Whether ``at`` is later than ``than`` by more than the skew."""
        return self.taken(at) > than + self.skew

    def clearly_before(self, at: datetime, than: datetime) -> bool:
        """Whether ``at`` is earlier than ``than`` by more than the skew."""
        return self.taken(at) < than - self.skew


DEFAULT_CLOCKS = Clocks()
"""The default skew, every instant taken as it is."""


@dataclass(frozen=True, slots=True)
class TopicPosition:
    """Where a consumed message was on its topic: its partition and its offset there."""

    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Transition:
    """A person's acknowledge, resolve or reopen that the snapshot took in, and when it happened."""

    action: LifecycleAction
    at: datetime


@dataclass(frozen=True, slots=True)
class IssueState:
    """The notifier's snapshot of one issue.

    Attributes:
        lifecycle: the last person's acknowledge, resolve or reopen taken in (in the lifecycle topic's
            order), also before any decision of the issue was read: the decisions read after it honour
            it while it holds.
        cycle_at: when the issue last turned resolved or was reopened, as far as the snapshot knows.
        cycle_by_person: ``cycle_at`` is a person's resolve or reopen (an instant of the lifecycle topic,
            whose events are ordered by the topic, never by their instants); otherwise it is the
            ``decided_at`` of the decision that turned the issue (decisions are ordered by version).
        lifecycle_position: where the last lifecycle event taken in was on the lifecycle topic; one read
            at or below it on the same partition is a replay and changes nothing.
    """

    issue_id: str
    issue: TriagedIssue | None = None
    version: int = 0
    acknowledged: bool = False
    resolved: bool = False
    paged_channels: frozenset[str] = frozenset()
    lifecycle: Transition | None = None
    cycle_at: datetime | None = None
    cycle_by_person: bool = False
    lifecycle_position: TopicPosition | None = None


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


def planned_delivery(
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
    """One planned delivery, keyed by :func:`idempotency_key`."""
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


def _held(
    state: IssueState, cycle_at: datetime | None, by_person: bool, clocks: Clocks
) -> LifecycleAction | None:
    """The person's acknowledge or resolve that still holds in the cycle begun at ``cycle_at``.

    In a cycle a person began (``by_person``), or before any, the last person's change is later on the
    lifecycle topic than what began it and holds. In a cycle a decision began, it holds only if clearly
    later than the decision (:class:`Clocks`): it would silence the decision's cycle.
    """
    taken = state.lifecycle
    if taken is None or taken.action is LifecycleAction.REOPEN:
        return None
    if cycle_at is None or by_person or clocks.clearly_after(taken.at, cycle_at):
        return taken.action
    return None


def _says_resolved(issue: TriagedIssue) -> bool:
    return issue.decision is Decision.RESOLVED or issue.status is IssueStatus.RESOLVED


def _quiet(state: IssueState) -> int:
    """How silenced a snapshot is: 2 resolved, 1 acknowledged, 0 open (it pages)."""
    return 2 if state.resolved else 1 if state.acknowledged else 0


def _applied(issue: TriagedIssue, state: IssueState, clocks: Clocks) -> IssueState:
    """The snapshot after a decision of its current cycle: the decision's status, but for the person's
    change that holds in the cycle (triage may not have applied it yet)."""
    resolved = _says_resolved(issue)
    restarted = issue.decision in (Decision.CREATED, Decision.REOPENED)
    turned = issue.decision is Decision.REOPENED or (resolved and not state.resolved)
    cycle_at, by_person = state.cycle_at, state.cycle_by_person
    if turned:
        cycle_at, by_person = clocks.taken(issue.decided_at), False
    acknowledged = issue.status is IssueStatus.ACKNOWLEDGED or (state.acknowledged and not restarted)
    held = _held(state, cycle_at, by_person, clocks)
    if held is not None:
        resolved, acknowledged = held is LifecycleAction.RESOLVE, held is LifecycleAction.ACKNOWLEDGE
    return replace(
        state,
        issue=issue,
        version=issue.version,
        acknowledged=acknowledged and not resolved,
        resolved=resolved,
        # What SLA events paged before the first decision is of the same cycle, and is kept to be closed.
        paged_channels=frozenset() if issue.decision is Decision.REOPENED else state.paged_channels,
        cycle_at=cycle_at,
        cycle_by_person=by_person,
    )


def _next_state(issue: TriagedIssue, state: IssueState, clocks: Clocks) -> tuple[IssueState, bool]:
    """The snapshot after a decision, and whether the decision is of the snapshot's cycle.

    Decisions are ordered by version, so one is always of a cycle another decision began. Against a
    cycle a person began (a lifecycle event's ``at``, another clock), a decision that would page again
    is out of date only if clearly earlier than the person's change; any other only if not clearly
    later. An out-of-date decision keeps the snapshot's status.
    """
    applied = _applied(issue, state, clocks)
    if state.cycle_at is None or not state.cycle_by_person:
        return applied, True
    if _quiet(applied) < _quiet(state):
        current = not clocks.clearly_before(issue.decided_at, state.cycle_at)
    else:
        current = clocks.clearly_after(issue.decided_at, state.cycle_at)
    if current:
        return applied, True
    return replace(state, issue=issue, version=issue.version), False


def plan_decision(
    issue: TriagedIssue, state: IssueState, channels: Channels, clocks: Clocks = DEFAULT_CLOCKS
) -> Plan:
    """Plan the notifications of one triage decision.

    Rules: an older version than the snapshot's, or the decision the snapshot already holds (a replay:
    its deliveries were stored with the snapshot), plans nothing; ``notify=False`` plans only an
    acknowledge or resolve to the pager channels that paged for the issue; a resolved decision
    resolves on every channel (pagers only if they paged); otherwise every route channel is told,
    pagers only when the severity pages.

    A person's acknowledge or resolve that holds in the decision's cycle stands whatever the decision's
    status says (triage may not have applied it yet): an acknowledged issue pages no pager, a resolved
    one sends nothing more. One taken in before the issue's first decision was told nowhere, so that
    decision plans it as if it carried it (an acknowledge goes to the pagers SLA events paged; a resolve
    is told as a resolved decision is). A decision out of date against a person's later resolve or
    reopen keeps the snapshot's status, and one that resolved the issue then plans nothing. Instants of
    triage and of the SLA service are compared as :class:`Clocks` says.

    Args:
        issue: the decision.
        state: the issue's snapshot before it.
        channels: the usable channels.
        clocks: the skew allowed between services' clocks, and the notifier's now.

    Returns:
        The new snapshot and the planned deliveries.
    """
    replayed = state.issue is not None and state.issue.decision_id == issue.decision_id
    if issue.version < state.version or replayed:
        # A replay must not undo what came after the decision without a version (a person's acknowledge).
        return Plan(state)
    after, current = _next_state(issue, state, clocks)
    if not current and _says_resolved(issue):
        return Plan(after)
    if state.issue is None and _held(state, state.cycle_at, state.cycle_by_person, clocks) is not None:
        # The person's change came before any decision: nothing could be told of it then.
        state = replace(state, acknowledged=False, resolved=False)
    route = issue.route.name
    targets = channels.pick(issue.route.channels)

    def make(channel: str, kind: NotificationKind | None, *, limited: bool) -> PlannedDelivery:
        return planned_delivery(
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
        planned_delivery(
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
