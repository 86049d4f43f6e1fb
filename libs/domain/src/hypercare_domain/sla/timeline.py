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

    @property
    def marks(self) -> StatusMarks:
        """When the issue's lifecycle last changed, to refuse a command made before (``overtaken``).

        An issue stored before these instants were recorded has none; its reopen is its cycle's opening.
        """
        reopened = self.reopened_at or (self.opened_at if self.cycle > 1 else None)
        status = self.status_changed_at or reopened
        if status is not None and reopened is not None:
            status = max(status, reopened)
        return StatusMarks(status=status, reopened=reopened, waiting=self.waiting_changed_at)

    def with_marks(self, marks: StatusMarks) -> "SlaTimeline":
        """The timeline with ``marks`` recorded."""
        return self.model_copy(
            update={
                "status_changed_at": marks.status,
                "reopened_at": marks.reopened,
                "waiting_changed_at": marks.waiting,
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


def record_event(timeline: SlaTimeline, event: LifecycleEvent, *, now: datetime | None = None) -> SlaTimeline:
    """The timeline after a lifecycle event (events of another issue are a programming error).

    Acknowledge and resolve end a running snooze; resolve also ends waiting on the customer; reopen starts a
    new cycle at the event's instant with the same severity and route. Reassign and comment change no clock.
    The event's instant is recorded in the timeline's :attr:`SlaTimeline.marks`, no later than ``now`` when
    given: a command dated ahead (its sender's clock is) is taken as made now, or it would refuse every
    command made until then as ``overtaken``.

    Raises:
        ValueError: the event belongs to another issue.
    """
    if event.issue_id != timeline.issue_id:
        raise ValueError(f"event {event.event_id} is for issue {event.issue_id}, not {timeline.issue_id}")
    marked = _facts_after(timeline, event)
    at = event.at if now is None else min(event.at, now)
    return marked.with_marks(marked.marks.after(event.action, at))


def record_refusal(timeline: SlaTimeline, rejection: Rejection, at: datetime, now: datetime) -> SlaTimeline:
    """The timeline after a command made at ``at`` was refused at ``now``.

    A refusal that confirms the issue's state (:attr:`Rejection.confirms_state`) is recorded in its marks like
    an applied command (no later than ``now``, as in :func:`record_event`); others change nothing.
    """
    if not rejection.confirms_state:
        return timeline
    return timeline.with_marks(timeline.marks.after(rejection.action, min(at, now)))


def _facts_after(timeline: SlaTimeline, event: LifecycleEvent) -> SlaTimeline:
    at = event.at
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
