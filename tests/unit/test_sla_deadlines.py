"""Planning SLA milestones from an issue's facts, and the events they become."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_contracts.sla import SlaEventKind
from hypercare_contracts.triaged import IssueStatus
from hypercare_domain.sla import (
    Milestone,
    Pause,
    SlaPolicy,
    SlaTimeline,
    change_severity,
    plan,
    record_event,
    to_event,
)
from hypercare_domain.sla.policy import EscalationFile, SlaFile, build_sla_policy

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN)  # a Monday, 10:00 in Berlin
LATER = T0 + timedelta(days=60)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def make_policy(**sla_overrides: Any) -> SlaPolicy:
    sla: dict[str, Any] = {
        "calendars": {
            "business": {
                "timezone": "Europe/Berlin",
                "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            }
        },
        "targets": {
            "critical": {"calendar": "always", "response": "1h", "resolution": "4h"},
            "high": {"calendar": "always", "response": "4h", "resolution": "24h"},
            "medium": {"calendar": "business", "response": "8h", "resolution": "5bd"},
            "low": {"calendar": "business", "response": "24h", "resolution": "10bd"},
        },
    }
    sla.update(sla_overrides)
    escalation = {
        "policies": {
            "default": {
                "steps": [
                    {"after": "5m", "notify": "primary-oncall"},
                    {"after": "15m", "notify": "secondary-oncall"},
                    {"after": "30m", "notify": "team-lead"},
                ],
                "renotify_every": "10m",
                "renotify_max": 6,
            }
        }
    }
    return build_sla_policy(SlaFile.model_validate(sla), EscalationFile.model_validate(escalation))


POLICY = make_policy()
MakeTimeline = Callable[..., SlaTimeline]


@pytest.fixture
def make_timeline() -> Callable[..., SlaTimeline]:
    def factory(**overrides: Any) -> SlaTimeline:
        fields: dict[str, Any] = {
            "issue_id": "iss_1",
            "opened_at": T0,
            "severity": Severity.CRITICAL,
            "route": "checkout",
        }
        fields.update(overrides)
        return SlaTimeline(**fields)

    return factory


def due_by_key(milestones: list[Milestone]) -> dict[str, datetime]:
    return {m.key: m.due_at for m in milestones}


def event(action: LifecycleAction, at: datetime, **fields: Any) -> LifecycleEvent:
    return LifecycleEvent(
        event_id=f"ev-{action.value}-{at.isoformat()}",
        command_id="cmd",
        issue_id="iss_1",
        action=action,
        actor="ana",
        via=Via.API,
        at=at,
        from_status=IssueStatus.OPEN,
        to_status=IssueStatus.OPEN,
        **fields,
    )


def test_unacknowledged_critical_issue(make_timeline: MakeTimeline) -> None:
    milestones = plan(make_timeline(), POLICY, LATER)

    assert due_by_key(milestones) == {
        "iss_1:1:response:at_risk": minutes(45),
        "iss_1:1:response:breached": minutes(60),
        "iss_1:1:resolution:at_risk": minutes(180),
        "iss_1:1:resolution:breached": minutes(240),
        "iss_1:1:escalation:1": minutes(5),
        "iss_1:1:escalation:2": minutes(15),
        "iss_1:1:escalation:3": minutes(30),
        **{f"iss_1:1:renotify:{n}": minutes(10 * n) for n in range(1, 7)},
    }
    assert [m.due_at for m in milestones] == sorted(m.due_at for m in milestones)
    renotified = {m.key: m.notify for m in milestones if m.kind is SlaEventKind.RENOTIFY}
    assert renotified["iss_1:1:renotify:1"] == "primary-oncall"
    assert renotified["iss_1:1:renotify:2"] == "secondary-oncall"
    assert renotified["iss_1:1:renotify:6"] == "team-lead"


def test_acknowledged_in_time_meets_response_and_stops_escalation(
    make_timeline: MakeTimeline,
) -> None:
    milestones = plan(make_timeline(acknowledged_at=minutes(20)), POLICY, LATER)

    assert due_by_key(milestones) == {
        "iss_1:1:response:met": minutes(20),
        "iss_1:1:resolution:at_risk": minutes(180),
        "iss_1:1:resolution:breached": minutes(240),
        "iss_1:1:escalation:1": minutes(5),
        "iss_1:1:escalation:2": minutes(15),
        "iss_1:1:renotify:1": minutes(10),
    }


@pytest.mark.parametrize(
    ("ack_minute", "expected_kinds"),
    [
        (44, {SlaEventKind.MET}),
        (50, {SlaEventKind.AT_RISK, SlaEventKind.MET}),
        (60, {SlaEventKind.AT_RISK, SlaEventKind.MET}),
        (61, {SlaEventKind.AT_RISK, SlaEventKind.BREACHED}),
    ],
)
def test_response_outcome_depends_on_when_it_was_acknowledged(
    make_timeline: MakeTimeline, ack_minute: int, expected_kinds: set[SlaEventKind]
) -> None:
    milestones = plan(make_timeline(acknowledged_at=minutes(ack_minute)), POLICY, LATER)

    assert {m.kind for m in milestones if m.target == "response"} == expected_kinds


def test_resolve_stops_the_resolution_clock_with_met(make_timeline: MakeTimeline) -> None:
    milestones = plan(make_timeline(acknowledged_at=minutes(10), resolved_at=minutes(120)), POLICY, LATER)

    resolution = {m.key: m.due_at for m in milestones if m.target == "resolution"}
    assert resolution == {"iss_1:1:resolution:met": minutes(120)}


def test_resolve_without_acknowledge_stops_the_response_clock(
    make_timeline: MakeTimeline,
) -> None:
    milestones = plan(make_timeline(resolved_at=minutes(12)), POLICY, LATER)

    assert due_by_key(milestones) == {
        "iss_1:1:response:met": minutes(12),
        "iss_1:1:resolution:met": minutes(12),
        "iss_1:1:escalation:1": minutes(5),
        "iss_1:1:renotify:1": minutes(10),
    }


def test_raise_from_medium_to_critical_recomputes_from_opening(
    make_timeline: MakeTimeline,
) -> None:
    medium = make_timeline(severity=Severity.MEDIUM)
    before = due_by_key(plan(medium, POLICY, LATER))
    assert before["iss_1:1:response:breached"] == datetime(2026, 3, 3, 10, tzinfo=BERLIN)  # 8 business hours
    assert before["iss_1:1:resolution:breached"] == datetime(2026, 3, 9, 10, tzinfo=BERLIN)  # 5 business days
    assert not any(":escalation:" in key or ":renotify:" in key for key in before)

    raised = change_severity(medium, Severity.CRITICAL, at=minutes(35))
    after = due_by_key(plan(raised, POLICY, LATER))

    assert after["iss_1:1:response:breached"] == minutes(60)
    assert after["iss_1:1:resolution:breached"] == minutes(240)
    assert after["iss_1:1:escalation:3"] == minutes(30)  # already past: emitted late, once
    renotify = sorted(due for key, due in after.items() if ":renotify:" in key)
    assert renotify == [minutes(40), minutes(50), minutes(60)]  # none back-dated before the raise


def test_a_paused_clock_moves_the_deadline_by_the_paused_time(
    make_timeline: MakeTimeline,
) -> None:
    waiting = (Pause(start=minutes(10), end=minutes(40)),)
    due = due_by_key(plan(make_timeline(waiting_pauses=waiting), POLICY, LATER))

    assert due["iss_1:1:response:at_risk"] == minutes(75)
    assert due["iss_1:1:response:breached"] == minutes(90)
    assert due["iss_1:1:escalation:2"] == minutes(45)


def test_a_pause_outside_business_hours_costs_nothing(make_timeline: MakeTimeline) -> None:
    overnight = (
        Pause(start=datetime(2026, 3, 2, 18, tzinfo=BERLIN), end=datetime(2026, 3, 3, 8, tzinfo=BERLIN)),
    )
    timeline = make_timeline(severity=Severity.MEDIUM, waiting_pauses=overnight)

    assert due_by_key(plan(timeline, POLICY, LATER))["iss_1:1:response:breached"] == datetime(
        2026, 3, 3, 10, tzinfo=BERLIN
    )


def test_an_open_pause_holds_back_what_lies_beyond_it(make_timeline: MakeTimeline) -> None:
    timeline = make_timeline(waiting_pauses=(Pause(start=minutes(8)),))

    assert due_by_key(plan(timeline, POLICY, minutes(20))) == {
        "iss_1:1:escalation:1": minutes(5),
    }


def test_snooze_pauses_the_response_clock_only_when_configured(
    make_timeline: MakeTimeline,
) -> None:
    timeline = make_timeline(snoozes=(Pause(start=minutes(0), end=minutes(30)),))
    snooze_pauses = make_policy(
        pause_when={"waiting_on_customer": ["response", "resolution"], "snoozed": ["response"]}
    )

    default_due = due_by_key(plan(timeline, POLICY, LATER))
    configured_due = due_by_key(plan(timeline, snooze_pauses, LATER))

    assert default_due["iss_1:1:response:breached"] == minutes(60)
    assert configured_due["iss_1:1:response:breached"] == minutes(90)
    assert configured_due["iss_1:1:resolution:breached"] == minutes(240)


def test_reopen_starts_cycle_two(make_timeline: MakeTimeline) -> None:
    resolved = make_timeline(acknowledged_at=minutes(5), resolved_at=minutes(30))

    reopened = record_event(resolved, event(LifecycleAction.REOPEN, minutes(100)))
    due = due_by_key(plan(reopened, POLICY, LATER))

    assert reopened.cycle == 2
    assert due["iss_1:2:response:breached"] == minutes(160)
    assert due["iss_1:2:resolution:breached"] == minutes(340)
    assert all(key.startswith("iss_1:2:") for key in due)


def test_facts_after_now_are_not_yet_known(make_timeline: MakeTimeline) -> None:
    timeline = make_timeline(acknowledged_at=minutes(20), waiting_pauses=(Pause(start=minutes(30)),))

    due = due_by_key(plan(timeline, POLICY, minutes(10)))

    assert "iss_1:1:response:met" not in due
    assert due["iss_1:1:response:breached"] == minutes(60)


def test_route_override_changes_due_and_policy_name(make_timeline: MakeTimeline) -> None:
    policy = make_policy(routes={"checkout": {"critical": {"response": "30m"}}})

    breach = next(m for m in plan(make_timeline(), policy, LATER) if m.key == "iss_1:1:response:breached")

    assert (breach.due_at, breach.policy) == (minutes(30), "checkout:critical/response@always")


def test_breach_event_carries_what_a_notifier_shows(make_timeline: MakeTimeline) -> None:
    timeline = make_timeline()
    breach = next(m for m in plan(timeline, POLICY, LATER) if m.key == "iss_1:1:response:breached")

    on_time = to_event(breach, timeline, POLICY, emitted_at=minutes(60) + timedelta(seconds=1))
    late = to_event(breach, timeline, POLICY, emitted_at=minutes(60) + timedelta(seconds=3))

    assert on_time.event_id == "iss_1:1:response:breached"
    assert (on_time.kind, on_time.target, on_time.severity, on_time.route) == (
        SlaEventKind.BREACHED,
        "response",
        Severity.CRITICAL,
        "checkout",
    )
    assert on_time.due_at == minutes(60)
    assert (on_time.business_elapsed_seconds, on_time.target_seconds) == (3600, 3600)
    assert on_time.policy == "critical/response@always"
    assert (on_time.late, late.late) == (False, True)


def test_business_elapsed_counts_business_time_only(make_timeline: MakeTimeline) -> None:
    timeline = make_timeline(
        severity=Severity.MEDIUM, waiting_pauses=(Pause(start=minutes(60), end=minutes(120)),)
    )
    breach = next(m for m in plan(timeline, POLICY, LATER) if m.key == "iss_1:1:resolution:breached")

    sla_event = to_event(breach, timeline, POLICY, emitted_at=breach.due_at)

    assert sla_event.due_at == datetime(2026, 3, 9, 11, tzinfo=BERLIN)
    assert sla_event.business_elapsed_seconds == 40 * 3600
    assert sla_event.target_seconds == 40 * 3600
    assert sla_event.policy == "medium/resolution@business"


def test_escalation_event_names_step_and_target(make_timeline: MakeTimeline) -> None:
    timeline = make_timeline()
    step = next(m for m in plan(timeline, POLICY, LATER) if m.key == "iss_1:1:escalation:2")

    sla_event = to_event(step, timeline, POLICY, emitted_at=minutes(15))

    assert (sla_event.kind, sla_event.escalation_step, sla_event.escalation_target) == (
        SlaEventKind.ESCALATION,
        2,
        "secondary-oncall",
    )
    assert sla_event.target is None
    assert sla_event.target_seconds is None
    assert sla_event.business_elapsed_seconds == 15 * 60
    assert sla_event.policy == "default/escalation@always"


def test_met_event_reports_time_to_acknowledge(make_timeline: MakeTimeline) -> None:
    timeline = make_timeline(acknowledged_at=minutes(20))
    met = next(m for m in plan(timeline, POLICY, LATER) if m.kind is SlaEventKind.MET)

    sla_event = to_event(met, timeline, POLICY, emitted_at=minutes(20))

    assert (sla_event.due_at, sla_event.business_elapsed_seconds) == (minutes(20), 1200)


def test_acknowledge_ends_a_snooze_and_resolve_ends_waiting(
    make_timeline: MakeTimeline,
) -> None:
    timeline = make_timeline()
    steps: list[tuple[LifecycleAction, datetime, dict[str, Any]]] = [
        (LifecycleAction.SNOOZE, minutes(1), {"snooze_until": minutes(60)}),
        (LifecycleAction.ACKNOWLEDGE, minutes(20), {}),
        (LifecycleAction.PAUSE, minutes(30), {}),
        (LifecycleAction.PAUSE, minutes(35), {}),
        (LifecycleAction.COMMENT, minutes(36), {"comment": "asked the customer"}),
        (LifecycleAction.RESOLVE, minutes(50), {}),
    ]
    for action, at, fields in steps:
        timeline = record_event(timeline, event(action, at, **fields))

    assert timeline.snoozes == (Pause(start=minutes(1), end=minutes(20)),)
    assert timeline.waiting_pauses == (Pause(start=minutes(30), end=minutes(50)),)
    assert (timeline.acknowledged_at, timeline.resolved_at) == (minutes(20), minutes(50))


def test_resume_closes_the_open_pause(make_timeline: MakeTimeline) -> None:
    paused = record_event(make_timeline(), event(LifecycleAction.PAUSE, minutes(10)))
    resumed = record_event(paused, event(LifecycleAction.RESUME, minutes(25)))

    assert due_by_key(plan(resumed, POLICY, LATER))["iss_1:1:response:breached"] == minutes(75)


def test_events_of_another_issue_are_refused(make_timeline: MakeTimeline) -> None:
    with pytest.raises(ValueError, match="not iss_other"):
        record_event(make_timeline(issue_id="iss_other"), event(LifecycleAction.ACKNOWLEDGE, minutes(1)))


def test_lowering_severity_keeps_the_raise_instant(make_timeline: MakeTimeline) -> None:
    raised = change_severity(make_timeline(severity=Severity.LOW), Severity.HIGH, at=minutes(5))
    lowered = change_severity(raised, Severity.MEDIUM, at=minutes(9))

    assert (raised.severity_raised_at, lowered.severity_raised_at) == (minutes(5), minutes(5))
    assert lowered.severity is Severity.MEDIUM
    assert change_severity(lowered, Severity.MEDIUM, at=minutes(10)) is lowered


def test_ten_business_days_opened_at_closing_time(make_timeline: MakeTimeline) -> None:
    friday_closing = datetime(2026, 12, 18, 16, tzinfo=UTC)  # 17:00 in Berlin
    low = make_timeline(severity=Severity.LOW, opened_at=friday_closing)

    due = due_by_key(plan(low, POLICY, LATER))

    assert due["iss_1:1:response:breached"] == datetime(2026, 12, 23, 17, tzinfo=BERLIN)
    assert due["iss_1:1:resolution:breached"] == datetime(2027, 1, 1, 17, tzinfo=BERLIN)
