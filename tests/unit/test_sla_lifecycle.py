"""The lifecycle state machine, and the clocks that drive services and tests."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand, LifecycleEvent, Via
from hypercare_contracts.triaged import IssueStatus
from hypercare_domain.sla import ManualClock, Rejection, RejectionReason, SystemClock, apply_command

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPEN, ACKED, SNOOZED, RESOLVED = (
    IssueStatus.OPEN,
    IssueStatus.ACKNOWLEDGED,
    IssueStatus.SNOOZED,
    IssueStatus.RESOLVED,
)
A = LifecycleAction
MakeCommand = Callable[..., LifecycleCommand]


@pytest.fixture
def make_command() -> Callable[..., LifecycleCommand]:
    def factory(action: LifecycleAction, **overrides: Any) -> LifecycleCommand:
        fields: dict[str, Any] = {
            "command_id": f"cmd-{action.value}",
            "issue_id": "iss_x",
            "action": action,
            "actor": "ana@example.com",
            "via": Via.LINK,
        }
        if action is A.SNOOZE:
            fields["snooze_until"] = NOW + timedelta(hours=2)
        if action is A.REASSIGN:
            fields["team"] = "payments"
        if action is A.COMMENT:
            fields["comment"] = "looking into it"
        fields.update(overrides)
        return LifecycleCommand(**fields)

    return factory


# Each row: the status, the command, the status after it.
TRANSITIONS = [
    (OPEN, A.ACKNOWLEDGE, ACKED),
    (SNOOZED, A.ACKNOWLEDGE, ACKED),
    (OPEN, A.RESOLVE, RESOLVED),
    (ACKED, A.RESOLVE, RESOLVED),
    (SNOOZED, A.RESOLVE, RESOLVED),
    (RESOLVED, A.REOPEN, OPEN),
    (OPEN, A.SNOOZE, SNOOZED),
    (ACKED, A.SNOOZE, SNOOZED),
    (OPEN, A.REASSIGN, OPEN),
    (RESOLVED, A.REASSIGN, RESOLVED),
    (ACKED, A.COMMENT, ACKED),
    (RESOLVED, A.COMMENT, RESOLVED),
    (OPEN, A.PAUSE, OPEN),
    (ACKED, A.PAUSE, ACKED),
    (SNOOZED, A.RESUME, SNOOZED),
]


@pytest.mark.parametrize(("status", "action", "expected"), TRANSITIONS)
def test_allowed_transitions(
    make_command: MakeCommand,
    status: IssueStatus,
    action: LifecycleAction,
    expected: IssueStatus,
) -> None:
    result = apply_command(status, make_command(action), NOW)

    assert isinstance(result, LifecycleEvent)
    assert (result.from_status, result.to_status, result.action) == (status, expected, action)
    assert (result.issue_id, result.actor, result.via, result.at) == (
        "iss_x",
        "ana@example.com",
        Via.LINK,
        NOW,
    )


# Each row: the status, the command, why it is refused, and the sentence a person reads.
REJECTIONS = [
    (ACKED, A.ACKNOWLEDGE, RejectionReason.ALREADY_DONE, "issue iss_x is already acknowledged"),
    (RESOLVED, A.ACKNOWLEDGE, RejectionReason.INVALID_TRANSITION, "issue iss_x is resolved; reopen it first"),
    (RESOLVED, A.RESOLVE, RejectionReason.ALREADY_DONE, "issue iss_x is already resolved"),
    (OPEN, A.REOPEN, RejectionReason.ALREADY_DONE, "issue iss_x is already open"),
    (
        ACKED,
        A.REOPEN,
        RejectionReason.INVALID_TRANSITION,
        "issue iss_x is acknowledged and cannot be reopened",
    ),
    (SNOOZED, A.SNOOZE, RejectionReason.ALREADY_DONE, "issue iss_x is already snoozed"),
    (RESOLVED, A.SNOOZE, RejectionReason.INVALID_TRANSITION, "issue iss_x is resolved; reopen it first"),
    (RESOLVED, A.PAUSE, RejectionReason.INVALID_TRANSITION, "issue iss_x is resolved; reopen it first"),
    (RESOLVED, A.RESUME, RejectionReason.INVALID_TRANSITION, "issue iss_x is resolved; reopen it first"),
]


@pytest.mark.parametrize(("status", "action", "reason", "message"), REJECTIONS)
def test_rejected_commands_say_why(
    make_command: MakeCommand,
    status: IssueStatus,
    action: LifecycleAction,
    reason: RejectionReason,
    message: str,
) -> None:
    result = apply_command(status, make_command(action), NOW)

    assert result == Rejection(
        command_id=f"cmd-{action.value}",
        issue_id="iss_x",
        action=action,
        status=status,
        reason=reason,
        message=message,
    )


@pytest.mark.parametrize("until", [NOW, NOW - timedelta(minutes=1)])
def test_snooze_must_end_in_the_future(make_command: MakeCommand, until: datetime) -> None:
    result = apply_command(OPEN, make_command(A.SNOOZE, snooze_until=until), NOW)

    assert isinstance(result, Rejection)
    assert result.reason is RejectionReason.SNOOZE_IN_PAST
    assert "not in the future" in result.message


def test_snooze_event_carries_its_end(make_command: MakeCommand) -> None:
    result = apply_command(ACKED, make_command(A.SNOOZE), NOW)

    assert isinstance(result, LifecycleEvent)
    assert result.snooze_until == NOW + timedelta(hours=2)


@pytest.mark.parametrize(
    ("action", "paused", "accepted"),
    [
        (A.PAUSE, True, False),
        (A.PAUSE, False, True),
        (A.PAUSE, None, True),
        (A.RESUME, False, False),
        (A.RESUME, True, True),
        (A.RESUME, None, True),
    ],
)
def test_repeated_pause_or_resume_is_rejected_when_known(
    make_command: MakeCommand,
    action: LifecycleAction,
    paused: bool | None,
    accepted: bool,
) -> None:
    result = apply_command(OPEN, make_command(action), NOW, paused=paused)

    assert isinstance(result, LifecycleEvent) is accepted
    if isinstance(result, Rejection):
        assert result.reason is RejectionReason.ALREADY_DONE


def test_event_id_is_deterministic_per_command(make_command: MakeCommand) -> None:
    first = apply_command(OPEN, make_command(A.ACKNOWLEDGE, command_id="c-1"), NOW)
    replay = apply_command(OPEN, make_command(A.ACKNOWLEDGE, command_id="c-1"), NOW + timedelta(seconds=5))
    other = apply_command(OPEN, make_command(A.ACKNOWLEDGE, command_id="c-2"), NOW)

    assert isinstance(first, LifecycleEvent)
    assert isinstance(replay, LifecycleEvent)
    assert isinstance(other, LifecycleEvent)
    assert first.event_id == replay.event_id != other.event_id


def test_event_is_dated_by_the_command_when_given(make_command: MakeCommand) -> None:
    clicked = NOW - timedelta(minutes=3)

    result = apply_command(OPEN, make_command(A.ACKNOWLEDGE, at=clicked), NOW)

    assert isinstance(result, LifecycleEvent)
    assert result.at == clicked


def test_reassign_and_comment_carry_their_details(make_command: MakeCommand) -> None:
    reassigned = apply_command(OPEN, make_command(A.REASSIGN), NOW)
    commented = apply_command(OPEN, make_command(A.COMMENT), NOW)

    assert isinstance(reassigned, LifecycleEvent)
    assert isinstance(commented, LifecycleEvent)
    assert reassigned.team == "payments"
    assert commented.comment == "looking into it"


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 3, 2, 10, tzinfo=timezone(timedelta(hours=1))))

    assert clock.now() == NOW
    assert clock.now().tzinfo is UTC
    assert clock.advance(timedelta(minutes=90)) == NOW + timedelta(minutes=90)
    clock.set(NOW - timedelta(days=1))
    assert clock.now() == NOW - timedelta(days=1)


def test_manual_clock_refuses_naive_instants_and_going_backwards() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 3, 2))  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        ManualClock(NOW).advance(timedelta(seconds=-1))


def test_system_clock_is_aware_utc() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()

    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)
