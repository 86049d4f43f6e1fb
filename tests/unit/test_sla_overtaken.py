"""Commands that come in late (hypercare_domain.sla.overtaken_by): one made before a later change of the issue
that it would undo is refused as overtaken; the timeline keeps the instants it is compared with."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand, LifecycleEvent, Via
from hypercare_contracts.triaged import IssueStatus
from hypercare_domain.sla import (
    Rejection,
    RejectionReason,
    SlaTimeline,
    StatusMarks,
    apply_command,
    overtaken_by,
    record_event,
    record_refusal,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
A = LifecycleAction
OPEN, ACKED, SNOOZED, RESOLVED = (
    IssueStatus.OPEN,
    IssueStatus.ACKNOWLEDGED,
    IssueStatus.SNOOZED,
    IssueStatus.RESOLVED,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def command(action: LifecycleAction, made: datetime | None, **overrides: Any) -> LifecycleCommand:
    fields: dict[str, Any] = {
        "command_id": f"cmd-{action.value}",
        "issue_id": "iss_x",
        "action": action,
        "actor": "source",
        "via": Via.SOURCE,
        "at": made,
    }
    if action is A.SNOOZE:
        fields["snooze_until"] = at(3600)
    if action is A.REASSIGN:
        fields["team"] = "payments"
    if action is A.COMMENT:
        fields["comment"] = "looking into it"
    fields.update(overrides)
    return LifecycleCommand(**fields)


def event(
    action: LifecycleAction, when: datetime, from_status: IssueStatus, to_status: IssueStatus
) -> LifecycleEvent:
    return LifecycleEvent(
        event_id=f"lce_{action.value}",
        command_id=f"cmd-{action.value}",
        issue_id="iss_x",
        action=action,
        actor="alice",
        via=Via.API,
        at=when,
        from_status=from_status,
        to_status=to_status,
    )


def timeline(**overrides: Any) -> SlaTimeline:
    fields: dict[str, Any] = {
        "issue_id": "iss_x",
        "opened_at": T0,
        "severity": Severity.HIGH,
        "route": "payments",
    }
    fields.update(overrides)
    return SlaTimeline(**fields)


STATUS = StatusMarks(status=at(10))
REOPENED = StatusMarks(status=at(10), reopened=at(10))
WAITING = StatusMarks(waiting=at(10))

# Each row: the marks, the command's action, when it was made, whether it is overtaken.
RULES = [
    (STATUS, A.ACKNOWLEDGE, at(5), True),  # made before a later acknowledge, snooze, resolve or reopen
    (STATUS, A.ACKNOWLEDGE, at(10), False),  # made at the same instant: not before it
    (STATUS, A.ACKNOWLEDGE, at(15), False),
    (STATUS, A.SNOOZE, at(5), True),
    (STATUS, A.REOPEN, at(5), True),  # a reopen made before a later resolve
    (STATUS, A.RESOLVE, at(5), False),  # a later acknowledge does not undo a resolve made before it
    (REOPENED, A.RESOLVE, at(5), True),  # a later reopen does
    (REOPENED, A.RESOLVE, at(15), False),
    (REOPENED, A.PAUSE, at(5), True),  # waiting of the cycle before
    (STATUS, A.PAUSE, at(5), False),  # waiting is independent of acknowledging or snoozing
    (WAITING, A.PAUSE, at(5), True),  # made before a later resume
    (WAITING, A.RESUME, at(5), True),
    (WAITING, A.ACKNOWLEDGE, at(5), False),  # an acknowledge made before a later pending still counts
    (WAITING, A.RESUME, at(15), False),
    (REOPENED, A.REASSIGN, at(5), False),  # reassign and comment undo nothing
    (REOPENED, A.COMMENT, at(5), False),
    (StatusMarks(), A.ACKNOWLEDGE, at(5), False),  # nothing recorded: nothing to undo
    (REOPENED, A.ACKNOWLEDGE, None, False),  # made now
]


@pytest.mark.parametrize(("marks", "action", "made", "overtaken"), RULES)
def test_a_command_is_overtaken_only_by_a_later_change_it_would_undo(
    marks: StatusMarks, action: LifecycleAction, made: datetime | None, overtaken: bool
) -> None:
    later = overtaken_by(command(action, made), marks)

    assert (later is not None) is overtaken
    if overtaken:
        assert later == at(10)


def test_an_overtaken_command_is_refused_with_a_reason_a_person_can_read() -> None:
    result = apply_command(OPEN, command(A.ACKNOWLEDGE, at(5)), at(20), marks=REOPENED)

    assert isinstance(result, Rejection)
    assert (result.reason, result.status, result.action) == (RejectionReason.OVERTAKEN, OPEN, A.ACKNOWLEDGE)
    assert result.message == (
        "the acknowledge of issue iss_x was made at 2026-03-02T09:00:05+00:00, before the issue changed at"
        " 2026-03-02T09:00:10+00:00; applied now, it would undo that change"
    )


def test_a_status_refusal_comes_before_overtaken_and_no_marks_change_nothing() -> None:
    refused = apply_command(RESOLVED, command(A.ACKNOWLEDGE, at(5)), at(20), marks=REOPENED)
    applied = apply_command(OPEN, command(A.ACKNOWLEDGE, at(5)), at(20))

    assert isinstance(refused, Rejection)
    assert refused.reason is RejectionReason.INVALID_TRANSITION
    assert isinstance(applied, LifecycleEvent)
    assert applied.at == at(5)


def test_every_status_or_waiting_change_moves_its_mark_forward_only() -> None:
    marks = StatusMarks().after(A.ACKNOWLEDGE, at(10)).after(A.PAUSE, at(12)).after(A.RESOLVE, at(8))

    assert marks == StatusMarks(status=at(10), reopened=None, waiting=at(12))
    assert marks.after(A.REOPEN, at(20)) == StatusMarks(status=at(20), reopened=at(20), waiting=at(12))
    assert marks.after(A.COMMENT, at(30)) is marks


def test_the_timeline_records_the_instants_of_the_events_and_a_reopen_starts_them_afresh() -> None:
    acked = record_event(timeline(), event(A.ACKNOWLEDGE, at(10), OPEN, ACKED))
    paused = record_event(acked, event(A.PAUSE, at(20), ACKED, ACKED))
    resolved = record_event(paused, event(A.RESOLVE, at(30), ACKED, RESOLVED))
    reopened = record_event(resolved, event(A.REOPEN, at(40), RESOLVED, OPEN))

    assert paused.marks == StatusMarks(status=at(10), waiting=at(20))
    assert resolved.marks == StatusMarks(status=at(30), waiting=at(20))
    assert (reopened.cycle, reopened.marks) == (2, StatusMarks(status=at(40), reopened=at(40)))


@pytest.mark.parametrize(
    ("status", "action", "confirms"),
    [
        (ACKED, A.ACKNOWLEDGE, True),  # already done: the acknowledge still says it was acknowledged then
        (RESOLVED, A.RESOLVE, True),
        (OPEN, A.REOPEN, True),  # a reopen of an issue that is not resolved: it was open then
        (ACKED, A.REOPEN, True),
        (SNOOZED, A.REOPEN, True),
        (RESOLVED, A.ACKNOWLEDGE, False),  # refused for being impossible: it says nothing
        (RESOLVED, A.PAUSE, False),
    ],
)
def test_a_refusal_that_confirms_the_state_is_recorded_like_an_applied_command(
    status: IssueStatus, action: LifecycleAction, confirms: bool
) -> None:
    refusal = apply_command(status, command(action, at(10)), at(20))
    assert isinstance(refusal, Rejection)

    after = record_refusal(timeline(), refusal, at(10), at(20))

    assert refusal.confirms_state is confirms
    assert (after.marks.status == at(10)) is confirms
    assert (after.marks.reopened == at(10)) is (confirms and action is A.REOPEN)


def test_a_repeated_pause_or_resume_confirms_the_waiting_state() -> None:
    paused = apply_command(OPEN, command(A.PAUSE, at(10)), at(20), paused=True)
    assert isinstance(paused, Rejection)

    assert record_refusal(timeline(), paused, at(10), at(20)).marks == StatusMarks(waiting=at(10))


def test_an_overtaken_refusal_records_nothing() -> None:
    late = apply_command(OPEN, command(A.ACKNOWLEDGE, at(5)), at(20), marks=REOPENED)
    assert isinstance(late, Rejection)

    assert record_refusal(timeline(), late, at(5), at(20)) == timeline()


def test_a_command_dated_ahead_of_now_is_marked_as_made_now() -> None:
    ahead = event(A.ACKNOWLEDGE, at(3600), OPEN, ACKED)
    acked = apply_command(ACKED, command(A.ACKNOWLEDGE, at(3600)), at(20))
    assert isinstance(acked, Rejection)

    recorded = record_event(timeline(), ahead, now=at(20))

    assert (recorded.acknowledged_at, recorded.marks.status) == (at(3600), at(20))
    assert record_refusal(timeline(), acked, at(3600), at(20)).marks.status == at(20)
    assert overtaken_by(command(A.REOPEN, at(30)), recorded.marks) is None


def test_an_issue_stored_before_the_marks_takes_its_reopen_from_its_cycle_s_opening() -> None:
    assert timeline().marks == StatusMarks()
    assert timeline(cycle=3, opened_at=at(50)).marks == StatusMarks(status=at(50), reopened=at(50))
    assert timeline(cycle=3, opened_at=at(50), status_changed_at=at(60)).marks == StatusMarks(
        status=at(60), reopened=at(50)
    )
