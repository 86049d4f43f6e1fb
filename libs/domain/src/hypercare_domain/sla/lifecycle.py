"""The issue lifecycle state machine: which command is allowed in which status, and what it leads to."""

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand, LifecycleEvent
from hypercare_contracts.triaged import IssueStatus

_ALL = frozenset(IssueStatus)
_ACTIVE = frozenset({IssueStatus.OPEN, IssueStatus.ACKNOWLEDGED, IssueStatus.SNOOZED})


class RejectionReason(StrEnum):
    """Why a command was not applied."""

    ALREADY_DONE = "already_done"
    """The issue is already in the state the command asks for (a harmless repeat)."""
    INVALID_TRANSITION = "invalid_transition"
    """The command does not apply to the issue's current status."""
    SNOOZE_IN_PAST = "snooze_in_past"
    """A snooze must end in the future."""
    OVERTAKEN = "overtaken"
    """The command was made before a later change of the issue that it would undo (it came in late)."""


@dataclass(frozen=True)
class Rejection:
    """A command that was not applied, with a reason a person can read."""

    command_id: str
    issue_id: str
    action: LifecycleAction
    status: IssueStatus
    reason: RejectionReason
    message: str
    stops_response: bool = False
    """An acknowledge of the issue's current cycle refused as ``overtaken`` by a later status change (a
    snooze, say): its status change would undo that change, but the issue was acknowledged then, so it still
    stops the response clock (:func:`~hypercare_domain.sla.record_refusal`)."""

    @property
    def confirms_state(self) -> bool:
        """Whether the refused command still tells the issue's state at its instant.

        A command refused because the issue already is as it asks (``already_done``), or a reopen refused
        because the issue is not resolved, says what the issue was at that instant as much as an applied one
        would: an older command that came in later must not undo it either.
        """
        if self.reason is RejectionReason.ALREADY_DONE:
            return True
        return (
            self.action is LifecycleAction.REOPEN
            and self.reason is RejectionReason.INVALID_TRANSITION
            and self.status is not IssueStatus.RESOLVED
        )


@dataclass(frozen=True)
class StatusMarks:
    """The latest changes that commands made to, or confirmed of, an issue's lifecycle in its current cycle.

    Commands reach the SLA service out of order: triage publishes decisions through an outbox, other systems
    send commands on Kafka. A command made before one of these marks would undo a later change (a resolve
    made before a reopen, an acknowledge made before the issue reopened or was snoozed, a pause made before a
    resume), so :func:`apply_command` refuses it as ``overtaken``. Each mark has an instant, the highest
    triage ``version`` whose command set or confirmed it (triage orders its own decisions by version, which
    needs no clock), and who set its instant: the triage version of that command, or ``None`` for a person's
    (API, action link, Kafka) or one only the stored facts tell. Triage learns of people's commands only
    later, so it never ordered its decisions after them: those are compared by their instants.

    Attributes:
        status: the latest acknowledge, resolve, snooze or reopen.
        reopened: the latest reopen (also counted in ``status``).
        waiting: the latest pause or resume (waiting on the customer).
        status_version: the highest triage version whose command set or confirmed the status.
        reopened_version: the same for the reopen.
        waiting_version: the same for the waiting.
        status_set_by: the triage version of the command that set the ``status`` instant, ``None`` if no
            triage decision's did.
        reopened_set_by: the same for ``reopened``.
        waiting_set_by: the same for ``waiting``.
    """

    status: datetime | None = None
    reopened: datetime | None = None
    waiting: datetime | None = None
    status_version: int | None = None
    reopened_version: int | None = None
    waiting_version: int | None = None
    status_set_by: int | None = None
    reopened_set_by: int | None = None
    waiting_set_by: int | None = None

    def after(self, action: LifecycleAction, at: datetime, *, version: int | None = None) -> "StatusMarks":
        """The marks once a command of ``action`` made at ``at`` set or confirmed the issue's state.

        Marks only move forward: a command applied late but not overtaken (a resolve made before a later
        acknowledge) leaves the later instant, and who set it, in place. ``version`` is the triage version of
        the decision the command came from (``None`` for other commands).
        """
        if action in _STATUS_ACTIONS:
            status = replace(
                self,
                status=_latest(self.status, at),
                status_version=_highest(self.status_version, version),
                status_set_by=_setter(self.status, self.status_set_by, at, version),
            )
            if action is not LifecycleAction.REOPEN:
                return status
            return replace(
                status,
                reopened=_latest(self.reopened, at),
                reopened_version=_highest(self.reopened_version, version),
                reopened_set_by=_setter(self.reopened, self.reopened_set_by, at, version),
            )
        if action in _WAITING_ACTIONS:
            return replace(
                self,
                waiting=_latest(self.waiting, at),
                waiting_version=_highest(self.waiting_version, version),
                waiting_set_by=_setter(self.waiting, self.waiting_set_by, at, version),
            )
        return self


_ALLOWED: dict[LifecycleAction, frozenset[IssueStatus]] = {
    LifecycleAction.ACKNOWLEDGE: frozenset({IssueStatus.OPEN, IssueStatus.SNOOZED}),
    LifecycleAction.RESOLVE: _ACTIVE,
    LifecycleAction.REOPEN: frozenset({IssueStatus.RESOLVED}),
    LifecycleAction.SNOOZE: frozenset({IssueStatus.OPEN, IssueStatus.ACKNOWLEDGED}),
    LifecycleAction.REASSIGN: _ALL,
    LifecycleAction.COMMENT: _ALL,
    LifecycleAction.PAUSE: _ACTIVE,
    LifecycleAction.RESUME: _ACTIVE,
}

_STATUS_ACTIONS = frozenset(
    {LifecycleAction.ACKNOWLEDGE, LifecycleAction.RESOLVE, LifecycleAction.SNOOZE, LifecycleAction.REOPEN}
)
_WAITING_ACTIONS = frozenset({LifecycleAction.PAUSE, LifecycleAction.RESUME})

_TARGET: dict[LifecycleAction, IssueStatus] = {
    LifecycleAction.ACKNOWLEDGE: IssueStatus.ACKNOWLEDGED,
    LifecycleAction.RESOLVE: IssueStatus.RESOLVED,
    LifecycleAction.REOPEN: IssueStatus.OPEN,
    LifecycleAction.SNOOZE: IssueStatus.SNOOZED,
}

_VERB = {
    LifecycleAction.ACKNOWLEDGE: "acknowledged",
    LifecycleAction.RESOLVE: "resolved",
    LifecycleAction.REOPEN: "reopened",
    LifecycleAction.SNOOZE: "snoozed",
    LifecycleAction.PAUSE: "paused",
    LifecycleAction.RESUME: "resumed",
}


def lifecycle_event_id(command_id: str) -> str:
    """The event id a command produces: the same command always yields the same id (idempotent replays)."""
    return "lce_" + hashlib.sha256(command_id.encode("utf-8")).hexdigest()[:32]


def overtaken_by(
    command: LifecycleCommand,
    marks: StatusMarks,
    *,
    tolerance: timedelta = timedelta(0),
    version: int | None = None,
) -> datetime | None:
    """The instant of the later change ``command`` would undo, if it was made before it; ``None`` otherwise.

    What each command must not cross: an acknowledge, snooze or reopen any later status change (a reopen
    starts a new cycle the acknowledge does not belong to; a snooze or resolve made after a reopen wins over
    it); a resolve only a later reopen (a resolve made before a later acknowledge still resolves: the issue
    was resolved then); a pause or resume a later pause, resume or reopen. Reassign and comment never undo
    anything, and a command without ``at`` is made now.

    Args:
        command: the command, dated ``at`` by its sender's clock.
        marks: the issue's marks.
        tolerance: how far apart two clocks may be. The marks of commands without ``at`` are on the SLA
            service's clock, the others on their senders'; a command is made before a mark only if it is
            dated more than this before it.
        version: the triage version of the decision the command comes from. A mark set or confirmed by a
            decision of a higher version is later whatever the instants (triage ordered them), tolerance or
            not; a mark whose instant a decision of this version or a lower one set is earlier (triage
            ordered them too). A mark a person set is compared by the instants, whatever the version:
            triage learns of people's commands only later, so its decisions are not ordered after them.
    """
    found = _overtaking(command, marks, tolerance, version)
    return found[0] if found is not None else None


def apply_command(
    status: IssueStatus,
    command: LifecycleCommand,
    now: datetime,
    *,
    paused: bool | None = None,
    marks: StatusMarks | None = None,
    tolerance: timedelta = timedelta(0),
    version: int | None = None,
) -> LifecycleEvent | Rejection:
    """Apply ``command`` to an issue in ``status``.

    Transitions: acknowledge (open/snoozed → acknowledged), resolve (any but resolved → resolved), reopen
    (resolved → open), snooze (open/acknowledged → snoozed, until a future instant), reassign and comment (any
    status, unchanged), pause and resume (unresolved, unchanged; they stop and restart the SLA clocks).

    Args:
        status: the issue's current status.
        command: what was asked.
        now: the current instant. The event is dated ``command.at`` when given, but no later than ``now``: a
            sender whose clock is ahead must not date facts (a reopen, an acknowledge) in the future.
        paused: whether the issue currently waits on the customer, when known; lets a repeated pause or resume
            be rejected as already done.
        marks: when the issue's lifecycle last changed, when known; lets a command made before a later
            change it would undo be rejected as ``overtaken`` (:func:`overtaken_by`).
        tolerance: how far apart the clocks of the command and of the marks may be (:func:`overtaken_by`).
        version: the triage version of the decision the command comes from, if any (:func:`overtaken_by`).

    Returns:
        The event to record and publish, or a :class:`Rejection` explaining why nothing changed. An
        acknowledge refused as overtaken by a later status change of its cycle still stops the response
        clock (:attr:`Rejection.stops_response`).
    """
    action = command.action
    made = min(command.at, now) if command.at is not None else now
    rejection = _check(status, command, now, paused)
    stops_response = False
    if rejection is None and marks is not None:
        later = _overtaking(command, marks, tolerance, version)
        if later is not None:
            stops_response = action is LifecycleAction.ACKNOWLEDGE and _of_cycle(
                made, marks, tolerance, version
            )
            rejection = _overtaken(command, made, *later, stops_response=stops_response)
    if rejection is not None:
        return Rejection(
            command_id=command.command_id,
            issue_id=command.issue_id,
            action=action,
            status=status,
            reason=rejection[0],
            message=rejection[1],
            stops_response=stops_response,
        )
    return LifecycleEvent(
        event_id=lifecycle_event_id(command.command_id),
        command_id=command.command_id,
        issue_id=command.issue_id,
        action=action,
        actor=command.actor,
        via=command.via,
        at=made,
        from_status=status,
        to_status=_TARGET.get(action, status),
        team=command.team,
        snooze_until=command.snooze_until if action is LifecycleAction.SNOOZE else None,
        comment=command.comment,
    )


def _check(
    status: IssueStatus, command: LifecycleCommand, now: datetime, paused: bool | None
) -> tuple[RejectionReason, str] | None:
    action, issue = command.action, command.issue_id
    if status not in _ALLOWED[action]:
        if _TARGET.get(action) is status:
            return RejectionReason.ALREADY_DONE, f"issue {issue} is already {status.value}"
        verb = _VERB[action]
        if status is IssueStatus.RESOLVED:
            return RejectionReason.INVALID_TRANSITION, f"issue {issue} is resolved; reopen it first"
        return RejectionReason.INVALID_TRANSITION, f"issue {issue} is {status.value} and cannot be {verb}"
    if action is LifecycleAction.SNOOZE and command.snooze_until is not None and command.snooze_until <= now:
        return (
            RejectionReason.SNOOZE_IN_PAST,
            f"cannot snooze issue {issue} until {command.snooze_until.isoformat()}: it is not in the future",
        )
    if action is LifecycleAction.PAUSE and paused is True:
        return RejectionReason.ALREADY_DONE, f"issue {issue} is already waiting on the customer"
    if action is LifecycleAction.RESUME and paused is False:
        return RejectionReason.ALREADY_DONE, f"issue {issue} is not waiting on the customer"
    return None


_Mark = tuple[datetime | None, int | None, int | None]
"""A mark's instant, the highest triage version that set or confirmed it, and the version that set its instant."""


def _later_changes(action: LifecycleAction, marks: StatusMarks) -> list[_Mark]:
    """The marks a command of ``action`` must not have been made before."""
    status = (marks.status, marks.status_version, marks.status_set_by)
    reopened = (marks.reopened, marks.reopened_version, marks.reopened_set_by)
    match action:
        case LifecycleAction.ACKNOWLEDGE | LifecycleAction.SNOOZE | LifecycleAction.REOPEN:
            return [status]
        case LifecycleAction.RESOLVE:
            return [reopened]
        case LifecycleAction.PAUSE | LifecycleAction.RESUME:
            return [reopened, (marks.waiting, marks.waiting_version, marks.waiting_set_by)]
        case LifecycleAction.REASSIGN | LifecycleAction.COMMENT:
            return []


def _overtaking(
    command: LifecycleCommand, marks: StatusMarks, tolerance: timedelta, version: int | None
) -> tuple[datetime, int | None] | None:
    """The mark (its instant, and the triage version if that orders it) ``command`` was made before."""
    if command.at is None:
        return None
    return _crossed(command.at, _later_changes(command.action, marks), tolerance, version)


def _crossed(
    made: datetime, changes: list[_Mark], tolerance: timedelta, version: int | None
) -> tuple[datetime, int | None] | None:
    for at, highest, set_by in changes:
        if at is None:
            continue
        if version is not None:
            if highest is not None and highest > version:
                return at, highest
            if set_by is not None and set_by <= version:
                continue
        if made < at - tolerance:
            return at, None
    return None


def _of_cycle(made: datetime, marks: StatusMarks, tolerance: timedelta, version: int | None) -> bool:
    """Whether a command made at ``made`` belongs to the current cycle (not made before its reopen)."""
    reopened = (marks.reopened, marks.reopened_version, marks.reopened_set_by)
    return _crossed(made, [reopened], tolerance, version) is None


def _overtaken(
    command: LifecycleCommand, made: datetime, later: datetime, by: int | None, *, stops_response: bool
) -> tuple[RejectionReason, str]:
    what = f"the {command.action.value} of issue {command.issue_id}"
    if by is None:
        message = f"{what} was made at {made.isoformat()}, before the issue changed at {later.isoformat()}"
    else:
        message = (
            f"{what} was decided before triage version {by}, which changed the issue at {later.isoformat()}"
        )
    message += "; applied now, it would undo that change"
    if stops_response:
        message += ", but the issue was acknowledged then: the response clock stops"
    return RejectionReason.OVERTAKEN, message


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)


def _highest(first: int | None, second: int | None) -> int | None:
    if first is None or second is None:
        return first if second is None else second
    return max(first, second)


def _setter(instant: datetime | None, set_by: int | None, at: datetime, version: int | None) -> int | None:
    """Who set a mark once a command of triage ``version`` (``None``: not triage) set or confirmed it at ``at``."""
    return version if instant is None or at >= instant else set_by
