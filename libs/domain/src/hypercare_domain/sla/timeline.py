"""The facts about one issue's SLA cycle, and how lifecycle events and triage decisions change them."""

from datetime import datetime

from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent
from hypercare_contracts.sla import SlaTarget
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hypercare_domain.sla.calendar import Pause
from hypercare_domain.sla.lifecycle import Rejection, StatusMarks
from hypercare_domain.sla.policy import PauseReason, SlaPolicy


class SlaTimeline(BaseModel):
    """What happened to an issue in its current cycle (a reopen starts the next cycle).

    ``severity`` is the current severity; targets are always measured from ``opened_at`` with the current
    severity's policy, so a raise moves deadlines earlier (possibly into the past) and a lowering moves them
    later. Milestones keep their keys across such changes, so one already emitted is never emitted again or
    back-dated.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    issue_id: str = Field(min_length=1)
    cycle: int = Field(default=1, ge=1)
    opened_at: AwareDatetime
    severity: Severity
    route: str
    escalation_policy: str | None = None
    severity_raised_at: AwareDatetime | None = None
    acknowledged_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    waiting_pauses: tuple[Pause, ...] = ()
    """Waiting on the customer: lifecycle ``pause`` until ``resume``."""
    snoozes: tuple[Pause, ...] = ()
    status_changed_at: AwareDatetime | None = None
    """The latest acknowledge, resolve, snooze or reopen applied or confirmed (see :class:`StatusMarks`)."""
    reopened_at: AwareDatetime | None = None
    """The latest reopen applied or confirmed: the start of this cycle, or a reopen of an unresolved issue."""
    waiting_changed_at: AwareDatetime | None = None
    """The latest pause or resume applied or confirmed."""
    status_version: int | None = None
    """The highest triage version whose command set or confirmed the status (see :class:`StatusMarks`)."""
    reopened_version: int | None = None
    """The same for the reopen."""
    waiting_version: int | None = None
    """The same for the waiting on the customer."""
    status_set_by: int | None = None
    """The triage version of the command that set ``status_changed_at``; ``None`` if no triage decision's did."""
    reopened_set_by: int | None = None
    """The same for ``reopened_at``."""
    waiting_set_by: int | None = None
    """The same for ``waiting_changed_at``."""

    @property
    def marks(self) -> StatusMarks:
        """When the issue's lifecycle last changed, to refuse a command made before (``overtaken``).

        The recorded instants, and no earlier than the facts imply: the status changed no earlier than the
        acknowledge, the resolve, the last snooze's start and (in a cycle after the first) the reopen that
        opened the cycle; the waiting no earlier than the last start or end of a pause. For an issue stored
        before the marks were recorded (migration ``0012``) the facts are all there is: without them a late
        pending whose resume came before would stop the clocks from its instant, retroactively. An instant
        only the facts tell was set by nobody known (``None``, compared like a person's).
        """
        reopened = _latest(self.reopened_at, self.opened_at if self.cycle > 1 else None)
        snoozed = self.snoozes[-1].start if self.snoozes else None
        status = _latest(self.status_changed_at, reopened, self.acknowledged_at, self.resolved_at, snoozed)
        boundaries = [at for pause in self.waiting_pauses for at in (pause.start, pause.end)]
        waiting = _latest(self.waiting_changed_at, *boundaries)
        return StatusMarks(
            status=status,
            reopened=reopened,
            waiting=waiting,
            status_version=self.status_version,
            reopened_version=self.reopened_version,
            waiting_version=self.waiting_version,
            status_set_by=self.status_set_by if status == self.status_changed_at else None,
            reopened_set_by=self.reopened_set_by if reopened == self.reopened_at else None,
            waiting_set_by=self.waiting_set_by if waiting == self.waiting_changed_at else None,
        )

    def with_marks(self, marks: StatusMarks) -> "SlaTimeline":
        """The timeline with ``marks`` recorded."""
        return self.model_copy(
            update={
                "status_changed_at": marks.status,
                "reopened_at": marks.reopened,
                "waiting_changed_at": marks.waiting,
                "status_version": marks.status_version,
                "reopened_version": marks.reopened_version,
                "waiting_version": marks.waiting_version,
                "status_set_by": marks.status_set_by,
                "reopened_set_by": marks.reopened_set_by,
                "waiting_set_by": marks.waiting_set_by,
            }
        )

    def pauses_for(self, target: SlaTarget, policy: SlaPolicy, now: datetime) -> tuple[Pause, ...]:
        """The pauses that stop ``target``'s clock under ``policy``, except those beginning after ``now``."""
        reasons = policy.pause_when[target]
        chosen: list[Pause] = []
        if PauseReason.WAITING_ON_CUSTOMER in reasons:
            chosen.extend(self.waiting_pauses)
        if PauseReason.SNOOZED in reasons:
            chosen.extend(self.snoozes)
        return tuple(p for p in chosen if p.start <= now)

    @property
    def response_stopped_at(self) -> datetime | None:
        """When the response clock stopped: the first acknowledge, or a resolve without one."""
        stops = [at for at in (self.acknowledged_at, self.resolved_at) if at is not None]
        return min(stops) if stops else None


def change_severity(timeline: SlaTimeline, severity: Severity, at: datetime) -> SlaTimeline:
    """The timeline after triage changed the severity at ``at`` (a raise is kept for re-notification)."""
    if severity == timeline.severity:
        return timeline
    raised = severity.rank > timeline.severity.rank
    return timeline.model_copy(
        update={"severity": severity, "severity_raised_at": at if raised else timeline.severity_raised_at}
    )


def record_event(
    timeline: SlaTimeline, event: LifecycleEvent, *, now: datetime | None = None, version: int | None = None
) -> SlaTimeline:
    """The timeline after a lifecycle event (events of another issue are a programming error).

    Acknowledge and resolve end a running snooze; resolve also ends waiting on the customer; reopen starts a
    new cycle at the event's instant with the same severity and route. Reassign and comment change no clock.
    The event's instant is taken no later than ``now`` when given, for every fact and the timeline's
    :attr:`SlaTimeline.marks`: a command dated ahead (its sender's clock is) is taken as made now, or a
    reopen would open its cycle in the future and refuse every command made until then as ``overtaken``,
    and an acknowledge would leave the response clock running until its date.

    Args:
        timeline: the issue's timeline.
        event: the event applied.
        now: the current instant.
        version: the triage version of the decision the event's command came from, if any (recorded in the
            marks, see :class:`StatusMarks`).

    Raises:
        ValueError: the event belongs to another issue.
    """
    if event.issue_id != timeline.issue_id:
        raise ValueError(f"event {event.event_id} is for issue {event.issue_id}, not {timeline.issue_id}")
    at = event.at if now is None else min(event.at, now)
    marked = _facts_after(timeline, event, at)
    return marked.with_marks(marked.marks.after(event.action, at, version=version))


def record_refusal(
    timeline: SlaTimeline, rejection: Rejection, at: datetime, now: datetime, *, version: int | None = None
) -> SlaTimeline:
    """The timeline after a command made at ``at`` was refused at ``now``.

    A refusal that confirms the issue's state (:attr:`Rejection.confirms_state`) is recorded in its marks like
    an applied command (no later than ``now``, as in :func:`record_event`, with the triage ``version`` it came
    from). An acknowledge whose status change was refused as overtaken but which belongs to the current cycle
    (:attr:`Rejection.stops_response`) records the acknowledge instant, unless one is recorded already: the
    issue was acknowledged then, so the response clock stops. Other refusals change nothing.
    """
    made = min(at, now)
    if rejection.stops_response and timeline.acknowledged_at is None:
        return timeline.model_copy(update={"acknowledged_at": made})
    if not rejection.confirms_state:
        return timeline
    return timeline.with_marks(timeline.marks.after(rejection.action, made, version=version))


def _facts_after(timeline: SlaTimeline, event: LifecycleEvent, at: datetime) -> SlaTimeline:
    match event.action:
        case LifecycleAction.ACKNOWLEDGE:
            return timeline.model_copy(
                update={
                    "acknowledged_at": timeline.acknowledged_at or at,
                    "snoozes": _cut(timeline.snoozes, at),
                }
            )
        case LifecycleAction.RESOLVE:
            return timeline.model_copy(
                update={
                    "resolved_at": timeline.resolved_at or at,
                    "snoozes": _cut(timeline.snoozes, at),
                    "waiting_pauses": _cut(timeline.waiting_pauses, at),
                }
            )
        case LifecycleAction.REOPEN:
            return SlaTimeline(
                issue_id=timeline.issue_id,
                cycle=timeline.cycle + 1,
                opened_at=at,
                severity=timeline.severity,
                route=timeline.route,
                escalation_policy=timeline.escalation_policy,
            )
        case LifecycleAction.SNOOZE:
            snoozes = (*_cut(timeline.snoozes, at), Pause(start=at, end=event.snooze_until))
            return timeline.model_copy(update={"snoozes": snoozes})
        case LifecycleAction.PAUSE:
            if any(p.end is None for p in timeline.waiting_pauses):
                return timeline
            return timeline.model_copy(update={"waiting_pauses": (*timeline.waiting_pauses, Pause(start=at))})
        case LifecycleAction.RESUME:
            return timeline.model_copy(update={"waiting_pauses": _cut(timeline.waiting_pauses, at)})
        case LifecycleAction.REASSIGN | LifecycleAction.COMMENT:
            return timeline


def _cut(pauses: tuple[Pause, ...], at: datetime) -> tuple[Pause, ...]:
    """End every pause still running at ``at`` there (open ones, and ones planned to end later)."""
    return tuple(
        Pause(start=p.start, end=max(p.start, at)) if p.end is None or p.end > at else p for p in pauses
    )


def _latest(*instants: datetime | None) -> datetime | None:
    known = [at for at in instants if at is not None]
    return max(known) if known else None
