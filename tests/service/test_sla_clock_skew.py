"""Commands dated by other clocks: a sender's clock ahead or behind the SLA service's must neither stop the
clocks for good nor keep them running, and an acknowledge that came in late still stops the response clock.

Targets of seconds (tests/data/policy-fast): critical response 6s, escalation steps at 1.5s, 3s and 5s,
re-notifications every 4s; a snooze does not stop the response clock. The tolerated skew is the default 5s.
"""

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand
from hypercare_contracts.normalized import ReportAction
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, IssueStatus, TriagedIssue

from tests.factories.sla import make_command, make_triaged
from tests.support.sla_in_memory import AUTH, Harness, sla_service

pytestmark = pytest.mark.service


def decision(sla: Harness, issue_id: str, version: int, **overrides: Any) -> TriagedIssue:
    """A decision of ``issue_id`` at ``version``, identified as triage identifies it, decided now."""
    fields: dict[str, Any] = {"decision": Decision.UPDATED, "decided_at": sla.clock.now()}
    fields.update(overrides)
    return make_triaged(issue_id=issue_id, decision_id=f"{issue_id}:{version}", version=version, **fields)


async def send(sla: Harness, command: LifecycleCommand) -> None:
    """Put a command on the lifecycle topic, as another system would."""
    await sla.broker.publish(command.model_dump_json().encode(), sla.settings.lifecycle_topic)


async def view_of(sla: Harness, issue_id: str) -> dict[str, Any]:
    response = await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def clock_state(view: dict[str, Any], target: str) -> str:
    state: str = next(c["state"] for c in view["clocks"] if c["target"] == target)
    return state


def sla_events(sla: Harness, issue_id: str) -> list[SlaEvent]:
    published = (SlaEvent.model_validate_json(s.body) for s in sla.on(sla.settings.sla_events_topic))
    return [e for e in published if e.issue_id == issue_id]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def test_triage_reopening_on_a_clock_behind_right_after_a_person_resolved_starts_a_new_cycle() -> None:
    async with sla_service() as sla:
        issue_id = "iss_triage_behind"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        sla.clock.advance(timedelta(minutes=5))
        resolved = await sla.client.post(f"/v1/issues/{issue_id}/resolve", headers=AUTH)
        assert resolved.status_code == 200, resolved.text
        sla.clock.advance(timedelta(milliseconds=300))
        # a new report 300 ms later, decided by triage on a clock 1 s behind
        behind = sla.clock.now() - timedelta(seconds=1)
        await sla.triage(decision(sla, issue_id, 2, decision=Decision.REOPENED, decided_at=behind))
        view = await view_of(sla, issue_id)
        events = sla.lifecycle_events()
    assert [(e.action, e.at) for e in events][1:] == [(LifecycleAction.REOPEN, behind)]
    assert (view["status"], view["cycle"], view["resolved_at"]) == ("open", 2, None)
    assert clock_state(view, "response") == "running"


async def test_a_kafka_reopen_from_a_clock_a_few_seconds_behind_reopens() -> None:
    async with sla_service() as sla:
        issue_id = "iss_client_behind"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        sla.clock.advance(timedelta(minutes=5))
        resolved = await sla.client.post(f"/v1/issues/{issue_id}/resolve", headers=AUTH)
        assert resolved.status_code == 200, resolved.text
        sla.clock.advance(timedelta(seconds=2))
        reopen = make_command(issue_id, LifecycleAction.REOPEN, at=sla.clock.now() - timedelta(seconds=3))
        await send(sla, reopen)
        view = await view_of(sla, issue_id)
        stored = sla.store.state.commands[reopen.command_id]
    assert stored.outcome == "applied"
    assert (view["status"], view["cycle"]) == ("open", 2)


async def test_a_kafka_reopen_dated_ahead_leaves_commands_made_after_it_in_order() -> None:
    async with sla_service() as sla:
        issue_id = "iss_reopen_ahead"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        sla.clock.advance(timedelta(minutes=5))
        resolved = await sla.client.post(f"/v1/issues/{issue_id}/resolve", headers=AUTH)
        assert resolved.status_code == 200, resolved.text
        sla.clock.advance(timedelta(minutes=1))
        reopened_at = sla.clock.now()
        # sent by a client whose clock is 10 minutes ahead
        await send(
            sla, make_command(issue_id, LifecycleAction.REOPEN, at=reopened_at + timedelta(minutes=10))
        )
        sla.clock.advance(timedelta(minutes=2))
        resolve = make_command(issue_id, LifecycleAction.RESOLVE, at=sla.clock.now())
        await send(sla, resolve)
        view = await view_of(sla, issue_id)
        events = sla.lifecycle_events()
    assert [(e.action, e.at) for e in events][1:] == [
        (LifecycleAction.REOPEN, reopened_at),
        (LifecycleAction.RESOLVE, resolve.at),
    ]
    assert (view["status"], view["cycle"], view["opened_at"]) == ("resolved", 2, iso(reopened_at))


async def test_a_kafka_acknowledge_dated_ahead_stops_the_response_clock_when_it_arrives() -> None:
    async with sla_service() as sla:
        issue_id = "iss_ack_ahead"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        sla.clock.advance(timedelta(seconds=1))
        acknowledged_at = sla.clock.now()
        await send(
            sla,
            make_command(issue_id, LifecycleAction.ACKNOWLEDGE, at=acknowledged_at + timedelta(minutes=10)),
        )
        sla.clock.advance(timedelta(seconds=10))  # past every escalation step and the response target
        await sla.emitted_due()
        view = await view_of(sla, issue_id)
        events = sla.lifecycle_events()
        emitted = sla_events(sla, issue_id)
    assert [(e.action, e.at) for e in events] == [(LifecycleAction.ACKNOWLEDGE, acknowledged_at)]
    assert (view["status"], view["acknowledged_at"]) == ("acknowledged", iso(acknowledged_at))
    assert clock_state(view, "response") == "met"
    assert [e.kind for e in emitted if e.target is SlaTarget.RESPONSE] == [SlaEventKind.MET]
    assert [e.kind for e in emitted if e.kind is SlaEventKind.ESCALATION] == []


async def test_an_acknowledge_made_before_a_snooze_and_read_after_it_still_stops_the_response_clock() -> None:
    async with sla_service() as sla:
        issue_id = "iss_ack_then_snooze"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        sla.clock.advance(timedelta(milliseconds=500))
        made_at = sla.clock.now()
        made = make_command(issue_id, LifecycleAction.ACKNOWLEDGE, at=made_at)
        sla.clock.advance(timedelta(seconds=5.3))  # more than the skew later, a person snoozes
        until = sla.clock.now() + timedelta(seconds=10)
        snoozed = await sla.client.post(
            f"/v1/issues/{issue_id}/snooze", headers=AUTH, json={"snooze_until": until.isoformat()}
        )
        assert snoozed.status_code == 200, snoozed.text
        await sla.emitted_due()
        before = {e.event_id for e in sla_events(sla, issue_id)}
        sla.clock.advance(timedelta(milliseconds=100))
        await send(sla, made)  # the acknowledge arrives late, before the response target (6s)
        while_snoozed = await view_of(sla, issue_id)
        sla.clock.advance(timedelta(seconds=15))  # the snooze ran out, past every re-notification
        await sla.emitted_due()
        after_snooze = await view_of(sla, issue_id)
        events = sla.lifecycle_events()
        emitted_late = [e for e in sla_events(sla, issue_id) if e.event_id not in before]
        stored = sla.store.state.commands[made.command_id]
    assert (stored.outcome, stored.result["rejection"]["reason"]) == ("rejected", "overtaken")
    assert [e.action for e in events] == [LifecycleAction.SNOOZE]  # the status did not change
    assert (while_snoozed["status"], while_snoozed["acknowledged_at"]) == ("snoozed", iso(made_at))
    assert ("sla.response_stopped", "alice") in [(a["action"], a["actor"]) for a in while_snoozed["audit"]]
    assert after_snooze["status"] == "acknowledged"
    assert clock_state(after_snooze, "response") == "met"
    # no response breach, no further re-notification: only the response met (the resolution clock runs on)
    late_response = [(e.kind, e.target) for e in emitted_late if e.target is not SlaTarget.RESOLUTION]
    assert late_response == [(SlaEventKind.MET, SlaTarget.RESPONSE)]


async def test_an_acknowledge_made_before_a_reopen_stops_no_clock_of_the_new_cycle() -> None:
    async with sla_service() as sla:
        issue_id = "iss_ack_then_reopen"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        made = make_command(issue_id, LifecycleAction.ACKNOWLEDGE, at=sla.clock.now())
        sla.clock.advance(timedelta(minutes=1))
        for action in ("resolve", "reopen"):
            response = await sla.client.post(f"/v1/issues/{issue_id}/{action}", headers=AUTH)
            assert response.status_code == 200, response.text
        await send(sla, made)
        view = await view_of(sla, issue_id)
    assert (view["status"], view["cycle"], view["acknowledged_at"]) == ("open", 2, None)
    assert "sla.response_stopped" not in [a["action"] for a in view["audit"]]
    assert clock_state(view, "response") == "running"


async def test_a_triage_decision_dated_ahead_opens_the_issue_now() -> None:
    async with sla_service() as sla:
        opened = sla.clock.now()
        issue_id = "iss_triage_ahead"
        await sla.triage(
            decision(sla, issue_id, 1, decision=Decision.CREATED, decided_at=opened + timedelta(minutes=10))
        )
        sla.clock.advance(timedelta(seconds=2))
        await sla.emitted_due()
        view = await view_of(sla, issue_id)
        emitted = sla_events(sla, issue_id)
    assert (view["status"], view["opened_at"]) == (IssueStatus.OPEN.value, iso(opened))
    assert [e.escalation_step for e in emitted if e.kind is SlaEventKind.ESCALATION] == [1]


# Triage learns of a person's command (API, action link) only from the lifecycle topic, later: a decision it
# made before that command, read after it because the pipeline lagged by more than the skew, must not undo it.


async def test_a_triage_reopen_read_after_a_persons_later_resolve_leaves_the_issue_resolved() -> None:
    async with sla_service() as sla:
        issue_id = "iss_late_reopen"
        started = sla.clock.now()
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        sla.clock.advance(timedelta(seconds=20))
        resolved = await sla.client.post(f"/v1/issues/{issue_id}/resolve", headers=AUTH)
        assert resolved.status_code == 200, resolved.text
        sla.clock.advance(timedelta(seconds=30))
        # triage resolved at +5 s and reopened at +10 s (a new report): both read only now
        await sla.triage(
            decision(
                sla,
                issue_id,
                2,
                decision=Decision.RESOLVED,
                status=IssueStatus.RESOLVED,
                decided_at=started + timedelta(seconds=5),
            )
        )
        await sla.triage(
            decision(sla, issue_id, 3, decision=Decision.REOPENED, decided_at=started + timedelta(seconds=10))
        )
        sla.clock.advance(timedelta(seconds=10))  # past every escalation step of a new cycle
        await sla.emitted_due()
        view = await view_of(sla, issue_id)
        events = sla.lifecycle_events()
        emitted = sla_events(sla, issue_id)
        reopen = sla.store.state.commands[f"triage:{issue_id}:3:reopen"]
    assert (reopen.outcome, reopen.result["rejection"]["reason"]) == ("rejected", "overtaken")
    assert [(e.action, e.actor) for e in events] == [(LifecycleAction.RESOLVE, "alice")]
    assert (view["status"], view["cycle"]) == ("resolved", 1)
    assert [e.event_id for e in emitted if e.event_id.startswith(f"{issue_id}:2:")] == []


async def test_a_source_acknowledge_read_after_a_persons_later_snooze_keeps_the_snooze() -> None:
    async with sla_service() as sla:
        issue_id = "iss_late_source_ack"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        sla.clock.advance(timedelta(seconds=1))
        acknowledged_at = sla.clock.now()  # an agent acknowledges in the source
        sla.clock.advance(timedelta(seconds=30))
        until = sla.clock.now() + timedelta(hours=2)
        snoozed = await sla.client.post(
            f"/v1/issues/{issue_id}/snooze", headers=AUTH, json={"snooze_until": until.isoformat()}
        )
        assert snoozed.status_code == 200, snoozed.text
        sla.clock.advance(timedelta(seconds=30))
        await sla.triage(
            decision(
                sla,
                issue_id,
                2,
                status=IssueStatus.ACKNOWLEDGED,
                source_action=ReportAction.ACKNOWLEDGE,
                decided_at=acknowledged_at,
            )
        )
        view = await view_of(sla, issue_id)
        events = sla.lifecycle_events()
        acknowledge = sla.store.state.commands[f"triage:{issue_id}:2:acknowledge"]
    assert (acknowledge.outcome, acknowledge.result["rejection"]["reason"]) == ("rejected", "overtaken")
    assert [e.action for e in events] == [LifecycleAction.SNOOZE]
    assert (view["status"], view["snoozed_until"]) == ("snoozed", iso(until))
    # the issue was acknowledged then all the same: the response clock stopped at that instant
    assert view["acknowledged_at"] == iso(acknowledged_at)
    assert clock_state(view, "response") == "met"


async def test_a_source_resolve_read_after_a_persons_later_reopen_leaves_the_issue_open() -> None:
    async with sla_service() as sla:
        issue_id = "iss_late_source_resolve"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        sla.clock.advance(timedelta(minutes=1))
        resolved = await sla.client.post(f"/v1/issues/{issue_id}/resolve", headers=AUTH)
        assert resolved.status_code == 200, resolved.text
        sla.clock.advance(timedelta(seconds=5))
        solved_at = sla.clock.now()  # the ticket is solved in the source too
        sla.clock.advance(timedelta(seconds=40))
        reopened = await sla.client.post(f"/v1/issues/{issue_id}/reopen", headers=AUTH)  # not fixed after all
        assert reopened.status_code == 200, reopened.text
        sla.clock.advance(timedelta(seconds=1))  # read 71 s after it was made, right after the reopen
        await sla.triage(
            decision(
                sla,
                issue_id,
                2,
                status=IssueStatus.RESOLVED,
                source_action=ReportAction.RESOLVE,
                decided_at=solved_at,
            )
        )
        view = await view_of(sla, issue_id)
        events = sla.lifecycle_events()
        resolve = sla.store.state.commands[f"triage:{issue_id}:2:resolve"]
    assert (resolve.outcome, resolve.result["rejection"]["reason"]) == ("rejected", "overtaken")
    assert [e.action for e in events] == [LifecycleAction.RESOLVE, LifecycleAction.REOPEN]
    assert (view["status"], view["cycle"], view["resolved_at"]) == ("open", 2, None)
    assert clock_state(view, "response") == "running"
