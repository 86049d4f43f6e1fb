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


@dataclass(frozen=True)
class Rejection:
    """A command that was not applied, with a reason a person can read."""

    command_id: str
    issue_id: str
    action: LifecycleAction
    status: IssueStatus
    reason: RejectionReason
    message: str


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


def apply_command(
    status: IssueStatus, command: LifecycleCommand, now: datetime, *, paused: bool | None = None
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

    Returns:
        The event to record and publish, or a :class:`Rejection` explaining why nothing changed.
    """
    action = command.action
    rejection = _check(status, command, now, paused)
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
