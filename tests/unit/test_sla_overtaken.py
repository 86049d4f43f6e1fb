"""Commands that come in late (hypercare_domain.sla.overtaken_by): one made before a later change of the issue
that it would undo is refused as overtaken; the timeline keeps the instants it is compared with."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand, LifecycleEvent, Via
from hypercare_contracts.triaged import IssueStatus
from hypercare_domain.sla import (
    Pause,
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
    assert resolved.marks == StatusMarks(status=at(30), waiting=at(30))  # the resolve ended the waiting too
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


def test_a_command_dated_ahead_of_now_is_taken_as_made_now() -> None:
    applied = apply_command(OPEN, command(A.ACKNOWLEDGE, at(3600)), at(20))
    refused = apply_command(ACKED, command(A.ACKNOWLEDGE, at(3600)), at(20))
    assert isinstance(applied, LifecycleEvent)
    assert isinstance(refused, Rejection)

    recorded = record_event(timeline(), event(A.ACKNOWLEDGE, at(3600), OPEN, ACKED), now=at(20))

    assert applied.at == at(20)
    # the response clock stops now, not in an hour (escalation would run on until then)
    assert (recorded.acknowledged_at, recorded.marks.status) == (at(20), at(20))
    assert record_refusal(timeline(), refused, at(3600), at(20)).marks.status == at(20)
    assert overtaken_by(command(A.REOPEN, at(30)), recorded.marks) is None


def test_a_reopen_dated_ahead_opens_its_cycle_now_and_blocks_no_command_made_after() -> None:
    resolved = timeline(resolved_at=at(1800), status_changed_at=at(1800))
    now = at(3600)
    reopen = apply_command(
        RESOLVED, command(A.REOPEN, now + timedelta(minutes=10)), now, marks=resolved.marks
    )
    assert isinstance(reopen, LifecycleEvent)

    reopened = record_event(resolved, reopen, now=now)
    later = now + timedelta(minutes=2)
    resolve = apply_command(OPEN, command(A.RESOLVE, later), later, marks=reopened.marks)

    assert (reopen.at, reopened.cycle, reopened.opened_at) == (now, 2, now)
    assert reopened.marks == StatusMarks(status=now, reopened=now)
    assert isinstance(resolve, LifecycleEvent)
    assert resolve.at == later


def test_an_issue_stored_before_the_marks_takes_them_from_its_facts() -> None:
    assert timeline().marks == StatusMarks()
    assert timeline(cycle=3, opened_at=at(50)).marks == StatusMarks(status=at(50), reopened=at(50))
    assert timeline(cycle=3, opened_at=at(50), status_changed_at=at(60)).marks == StatusMarks(
        status=at(60), reopened=at(50)
    )
    stored_before = timeline(
        acknowledged_at=at(10),
        resolved_at=at(15),
        snoozes=(Pause(start=at(20), end=at(80)),),
        waiting_pauses=(Pause(start=at(30), end=at(40)), Pause(start=at(50))),
    )
    assert stored_before.marks == StatusMarks(status=at(20), waiting=at(50))
    recorded_later = stored_before.model_copy(
        update={"status_changed_at": at(5), "waiting_changed_at": at(90)}
    )
    assert recorded_later.marks == StatusMarks(status=at(20), waiting=at(90))


def test_a_late_pending_of_an_issue_stored_before_the_marks_stops_no_clock_retroactively() -> None:
    # pending at 1h and resumed at 2h, stored before migration 0012: no marks recorded
    stored_before = timeline(waiting_pauses=(Pause(start=at(3600), end=at(7200)),))
    late_pending = command(A.PAUSE, at(5400))

    result = apply_command(
        OPEN, late_pending, at(86400), paused=False, marks=stored_before.marks, tolerance=SKEW
    )

    assert isinstance(result, Rejection)
    assert result.reason is RejectionReason.OVERTAKEN


SKEW = timedelta(seconds=5)

# Each row: the marks, the command's action, when it was made, whether it is overtaken with a tolerance of 5s.
TOLERATED = [
    (STATUS, A.ACKNOWLEDGE, at(10) - timedelta(seconds=5), False),  # within the skew of two clocks
    (STATUS, A.ACKNOWLEDGE, at(10) - timedelta(seconds=5, microseconds=1), True),
    (STATUS, A.REOPEN, at(9.3), False),  # triage a second behind reopens 300 ms after a person's resolve
    (REOPENED, A.RESOLVE, at(4), True),
    (WAITING, A.PAUSE, at(6), False),
    (WAITING, A.PAUSE, at(4), True),
]


@pytest.mark.parametrize(("marks", "action", "made", "overtaken"), TOLERATED)
def test_a_command_is_overtaken_only_if_made_before_a_change_by_more_than_the_clock_skew(
    marks: StatusMarks, action: LifecycleAction, made: datetime, overtaken: bool
) -> None:
    assert (overtaken_by(command(action, made), marks, tolerance=SKEW) is not None) is overtaken
    status = RESOLVED if action is A.REOPEN else OPEN
    result = apply_command(status, command(action, made), at(20), marks=marks, tolerance=SKEW)
    assert isinstance(result, Rejection) is overtaken


TRIAGED = StatusMarks(
    status=at(10), reopened=at(10), waiting=at(10), status_version=6, reopened_version=6, waiting_version=6
)

# Each row: the command's action, when it was made, the version of its (overtaken) decision, whether overtaken.
VERSIONED = [
    (
        A.RESOLVE,
        at(9.8),
        5,
        True,
    ),  # a source resolve of version 5: before version 6's reopen, whatever the skew
    (A.PAUSE, at(12), 5, True),  # triage's clock stepped back: the versions still order them
    (A.ACKNOWLEDGE, at(9.8), 5, True),
    (A.RESOLVE, at(9.8), 6, False),  # the same version: no order between them, and within the skew
    (A.RESOLVE, at(9.8), 7, False),
    (A.RESOLVE, at(9.8), None, False),  # a Kafka command: clocks and skew only
    (A.RESOLVE, at(1), 7, True),  # and any command made long before a change
]


@pytest.mark.parametrize(("action", "made", "version", "overtaken"), VERSIONED)
def test_a_source_action_of_an_older_decision_is_overtaken_by_a_change_a_newer_decision_made(
    action: LifecycleAction, made: datetime, version: int | None, overtaken: bool
) -> None:
    later = overtaken_by(command(action, made), TRIAGED, tolerance=SKEW, version=version)

    assert (later is not None) is overtaken


def test_the_marks_keep_the_highest_triage_version_that_set_or_confirmed_them() -> None:
    reopened = record_event(timeline(), event(A.REOPEN, at(10), RESOLVED, OPEN), now=at(20), version=6)
    late = record_event(reopened, event(A.ACKNOWLEDGE, at(12), OPEN, ACKED), now=at(20), version=5)
    by_api = record_event(late, event(A.RESOLVE, at(15), ACKED, RESOLVED), now=at(20))
    pending = apply_command(OPEN, command(A.PAUSE, at(16)), at(20), paused=True)
    assert isinstance(pending, Rejection)

    confirmed = record_refusal(by_api, pending, at(16), at(20), version=8)

    assert confirmed.marks == StatusMarks(
        status=at(15),
        reopened=at(10),
        waiting=at(16),
        status_version=6,
        reopened_version=6,
        waiting_version=8,
        status_set_by=None,  # a person's resolve moved the status: version 6 no longer set its instant
        reopened_set_by=6,
        waiting_set_by=8,
    )


def test_a_command_overtaken_by_a_newer_decision_says_which() -> None:
    result = apply_command(OPEN, command(A.PAUSE, at(12)), at(20), marks=TRIAGED, tolerance=SKEW, version=5)

    assert isinstance(result, Rejection)
    assert result.message == (
        "the pause of issue iss_x was decided before triage version 6, which changed the issue at"
        " 2026-03-02T09:00:10+00:00; applied now, it would undo that change"
    )


def test_an_acknowledge_overtaken_by_a_later_snooze_still_stops_the_response_clock() -> None:
    snoozed = timeline(snoozes=(Pause(start=at(65), end=at(665)),), status_changed_at=at(65))
    ack = command(A.ACKNOWLEDGE, at(0))

    refused = apply_command(SNOOZED, ack, at(70), marks=snoozed.marks, tolerance=SKEW)
    assert isinstance(refused, Rejection)
    after = record_refusal(snoozed, refused, at(0), at(70))

    assert (refused.reason, refused.stops_response) == (RejectionReason.OVERTAKEN, True)
    assert refused.message.endswith("but the issue was acknowledged then: the response clock stops")
    assert (after.acknowledged_at, after.snoozes, after.marks) == (at(0), snoozed.snoozes, snoozed.marks)
    assert after.response_stopped_at == at(0)


def test_an_acknowledge_made_before_a_reopen_stops_no_clock_of_the_new_cycle() -> None:
    reopened = timeline(cycle=2, opened_at=at(60))
    by_time = apply_command(OPEN, command(A.ACKNOWLEDGE, at(0)), at(70), marks=reopened.marks, tolerance=SKEW)
    by_version = apply_command(
        OPEN, command(A.ACKNOWLEDGE, at(62)), at(70), marks=TRIAGED, tolerance=SKEW, version=5
    )
    assert isinstance(by_time, Rejection)
    assert isinstance(by_version, Rejection)

    assert (by_time.stops_response, by_version.stops_response) == (False, False)
    assert record_refusal(reopened, by_time, at(0), at(70)) == reopened


def test_an_acknowledge_of_the_cycle_recorded_already_keeps_the_first() -> None:
    acked = timeline(acknowledged_at=at(30), status_changed_at=at(65))
    refused = apply_command(OPEN, command(A.ACKNOWLEDGE, at(0)), at(70), marks=acked.marks, tolerance=SKEW)
    assert isinstance(refused, Rejection)

    assert record_refusal(acked, refused, at(0), at(70)) == acked


PERSON = StatusMarks(status=at(20), reopened=at(20), waiting=at(20), status_version=3, reopened_version=3)
BY_TRIAGE = StatusMarks(
    status=at(20),
    reopened=at(20),
    waiting=at(20),
    status_set_by=3,
    reopened_set_by=3,
    waiting_set_by=3,
    status_version=3,
    reopened_version=3,
    waiting_version=3,
)

# Each row: the marks, the command's action, when it was made, whether the command of a new decision
# (version 4, above every version applied) is overtaken: by a person's later change, yes, as any dated
# command (triage learns of it only later); by a change an older decision made, never (triage ordered them).
NEW_DECISION = [
    (PERSON, A.REOPEN, at(10), True),  # triage reopened, read after a person resolved 10 s later
    (PERSON, A.ACKNOWLEDGE, at(1), True),  # a source acknowledge read after a person's snooze
    (PERSON, A.RESOLVE, at(5), True),  # a source resolve read after a person's reopen
    (PERSON, A.PAUSE, at(5), True),  # a source pending read after a person's resume
    (PERSON, A.REOPEN, at(19), False),  # within the skew of the two clocks: triage reopens
    (PERSON, A.REOPEN, at(25), False),
    (BY_TRIAGE, A.REOPEN, at(10), False),  # triage's clock stepped back: its versions order them
    (BY_TRIAGE, A.ACKNOWLEDGE, at(1), False),
    (BY_TRIAGE, A.RESOLVE, at(5), False),
    (BY_TRIAGE, A.PAUSE, at(5), False),
]


@pytest.mark.parametrize(("marks", "action", "made", "overtaken"), NEW_DECISION)
def test_a_new_decisions_command_is_overtaken_only_by_a_persons_later_change(
    marks: StatusMarks, action: LifecycleAction, made: datetime, overtaken: bool
) -> None:
    assert (overtaken_by(command(action, made), marks, tolerance=SKEW, version=4) is not None) is overtaken
    status = RESOLVED if action is A.REOPEN else OPEN
    result = apply_command(status, command(action, made), at(60), marks=marks, tolerance=SKEW, version=4)
    assert isinstance(result, Rejection) is overtaken


def test_a_mark_records_who_set_its_latest_instant() -> None:
    resolved = StatusMarks().after(A.RESOLVE, at(20))  # a person's resolve
    confirmed = resolved.after(A.RESOLVE, at(5), version=2)  # triage's earlier resolve, read later
    reopened = confirmed.after(A.REOPEN, at(30), version=3)

    assert (confirmed.status, confirmed.status_version, confirmed.status_set_by) == (at(20), 2, None)
    assert (reopened.status, reopened.status_set_by, reopened.reopened_set_by) == (at(30), 3, 3)
    assert reopened.after(A.ACKNOWLEDGE, at(40)).status_set_by is None


def test_a_mark_only_the_facts_tell_was_set_by_nobody_known() -> None:
    # version 2 set the status at 10 s; an acknowledge at 30 s is recorded only as a fact (before 0012)
    recorded = timeline(acknowledged_at=at(30), status_changed_at=at(10), status_set_by=2)
    reopened = record_event(recorded, event(A.REOPEN, at(40), RESOLVED, OPEN), version=3)

    assert (recorded.marks.status, recorded.marks.status_set_by) == (at(30), None)
    assert (reopened.marks.status_set_by, reopened.marks.reopened_set_by) == (3, 3)
    assert timeline(cycle=2, opened_at=at(50)).marks.reopened_set_by is None
