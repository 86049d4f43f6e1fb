"""The issue lifecycle state machine: which command is allowed in which status, and what it leads to."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
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
    """The latest instants at which commands set or confirmed an issue's lifecycle in its current cycle.

    Commands reach the SLA service out of order: triage publishes decisions through an outbox, other systems
    send commands on Kafka. A command dated before one of these marks would undo a later change (a resolve
    made before a reopen, an acknowledge made before the issue reopened or was snoozed, a pause made before a
    resume), so :func:`apply_command` refuses it as ``overtaken``. Commands without a date are made now and
    are never overtaken.

    Attributes:
        status: the latest acknowledge, resolve, snooze or reopen.
        reopened: the latest reopen (also counted in ``status``).
        waiting: the latest pause or resume (waiting on the customer).
    """

    status: datetime | None = None
    reopened: datetime | None = None
    waiting: datetime | None = None

    def after(self, action: LifecycleAction, at: datetime) -> "StatusMarks":
        """The marks once a command of ``action`` made at ``at`` set or confirmed the issue's state.

        Marks only move forward: a command applied late but not overtaken (a resolve made before a later
        acknowledge) leaves the later mark in place.
        """
        if action in _STATUS_ACTIONS:
            reopened = _latest(self.reopened, at) if action is LifecycleAction.REOPEN else self.reopened
            return StatusMarks(status=_latest(self.status, at), reopened=reopened, waiting=self.waiting)
        if action in _WAITING_ACTIONS:
            return StatusMarks(status=self.status, reopened=self.reopened, waiting=_latest(self.waiting, at))
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


def overtaken_by(command: LifecycleCommand, marks: StatusMarks) -> datetime | None:
    """The later change ``command`` would undo, if it was made before it; ``None`` if it undoes nothing.

    What each command must not cross: an acknowledge, snooze or reopen any later status change (a reopen
    starts a new cycle the acknowledge does not belong to; a snooze or resolve made after a reopen wins over
    it); a resolve only a later reopen (a resolve made before a later acknowledge still resolves: the issue
    was resolved then); a pause or resume a later pause, resume or reopen. Reassign and comment never undo
    anything, and a command without ``at`` is made now.
    """
    at = command.at
    if at is None:
        return None
    match command.action:
        case LifecycleAction.ACKNOWLEDGE | LifecycleAction.SNOOZE | LifecycleAction.REOPEN:
            later = marks.status
        case LifecycleAction.RESOLVE:
            later = marks.reopened
        case LifecycleAction.PAUSE | LifecycleAction.RESUME:
            later = _latest(marks.reopened, marks.waiting)
        case LifecycleAction.REASSIGN | LifecycleAction.COMMENT:
            later = None
    return later if later is not None and at < later else None


def apply_command(
    status: IssueStatus,
    command: LifecycleCommand,
    now: datetime,
    *,
    paused: bool | None = None,
    marks: StatusMarks | None = None,
) -> LifecycleEvent | Rejection:
    """Apply ``command`` to an issue in ``status``.

    Transitions: acknowledge (open/snoozed → acknowledged), resolve (any but resolved → resolved), reopen
    (resolved → open), snooze (open/acknowledged → snoozed, until a future instant), reassign and comment (any
    status, unchanged), pause and resume (unresolved, unchanged; they stop and restart the SLA clocks).

    Args:
        status: the issue's current status.
        command: what was asked.
        now: the current instant; the event is dated ``command.at`` when given, else ``now``.
        paused: whether the issue currently waits on the customer, when known; lets a repeated pause or resume
            be rejected as already done.
        marks: when the issue's lifecycle last changed, when known; lets a command made before a later
            change it would undo be rejected as ``overtaken`` (:func:`overtaken_by`).

    Returns:
        The event to record and publish, or a :class:`Rejection` explaining why nothing changed.
    """
    action = command.action
    rejection = _check(status, command, now, paused) or _check_order(command, marks)
    if rejection is not None:
        return Rejection(
            command_id=command.command_id,
            issue_id=command.issue_id,
            action=action,
            status=status,
            reason=rejection[0],
            message=rejection[1],
        )
    return LifecycleEvent(
        event_id=lifecycle_event_id(command.command_id),
        command_id=command.command_id,
        issue_id=command.issue_id,
        action=action,
        actor=command.actor,
        via=command.via,
        at=command.at or now,
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


def _check_order(command: LifecycleCommand, marks: StatusMarks | None) -> tuple[RejectionReason, str] | None:
    later = overtaken_by(command, marks) if marks is not None else None
    if later is None or command.at is None:
        return None
    return (
        RejectionReason.OVERTAKEN,
        f"the {command.action.value} of issue {command.issue_id} was made at {command.at.isoformat()}, before"
        f" the issue changed at {later.isoformat()}; applied now, it would undo that change",
    )


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)
