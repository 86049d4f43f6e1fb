"""The SLA service's lifecycle in memory: commands over HTTP and Kafka, triage decisions, the scheduler."""

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand
from hypercare_contracts.normalized import ReportAction
from hypercare_contracts.triaged import Decision, IssueStatus
from hypercare_sla.service import CommandResult, SlaService

from tests.factories.sla import make_command, make_triaged
from tests.support.kafka import wait_for
from tests.support.sla_in_memory import AUTH, opened, sla_service

pytestmark = pytest.mark.service


async def test_acknowledge_publishes_an_event_writes_the_audit_log_and_stops_the_response_clock() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        sla.clock.advance(timedelta(seconds=2))
        response = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=AUTH)
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        keys = sla.store.milestone_keys(issue_id)
        events = sla.lifecycle_events()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "applied"
    assert (body["event"]["actor"], body["event"]["via"], body["event"]["to_status"]) == (
        "alice",
        "api",
        "acknowledged",
    )
    assert [(e.action, e.actor, e.issue_id) for e in events] == [
        (LifecycleAction.ACKNOWLEDGE, "alice", issue_id)
    ]
    assert view["status"] == "acknowledged"
    response_clock = next(c for c in view["clocks"] if c["target"] == "response")
    assert (response_clock["state"], response_clock["business_elapsed_seconds"]) == ("met", 2.0)
    assert [(a["action"], a["actor"]) for a in view["audit"]] == [
        ("sla.started", "triage"),
        ("acknowledge", "alice"),
    ]
    assert f"{issue_id}:1:response:met" in keys
    assert f"{issue_id}:1:response:breached" not in keys
    assert f"{issue_id}:1:resolution:breached" in keys


async def test_snooze_reassign_comment_resolve_reopen_walk_the_lifecycle() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        until = (sla.clock.now() + timedelta(minutes=30)).isoformat()
        steps = [
            ("snooze", {"snooze_until": until}),
            ("reassign", {"team": "identity-team"}),
            ("comment", {"comment": "looking into it"}),
            ("resolve", None),
            ("reopen", None),
        ]
        answers = [
            (await sla.client.post(f"/v1/issues/{issue_id}/{a}", headers=AUTH, json=b)).status_code
            for a, b in steps
        ]
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        events = sla.lifecycle_events()
    assert answers == [200] * 5
    assert [(e.from_status, e.to_status) for e in events] == [
        (IssueStatus.OPEN, IssueStatus.SNOOZED),
        (IssueStatus.SNOOZED, IssueStatus.SNOOZED),
        (IssueStatus.SNOOZED, IssueStatus.SNOOZED),
        (IssueStatus.SNOOZED, IssueStatus.RESOLVED),
        (IssueStatus.RESOLVED, IssueStatus.OPEN),
    ]
    assert (view["status"], view["team"], view["cycle"]) == ("open", "identity-team", 2)
    assert {m["key"].split(":")[1] for m in view["milestones"] if m["emitted_at"] is None} == {"2"}


async def test_a_snooze_that_ran_out_leaves_the_issue_open_again() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        until = (sla.clock.now() + timedelta(minutes=5)).isoformat()
        await sla.client.post(f"/v1/issues/{issue_id}/snooze", headers=AUTH, json={"snooze_until": until})
        sla.clock.advance(timedelta(minutes=6))
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        ack = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=AUTH)
    assert view["status"] == "open"
    assert ack.json()["event"]["from_status"] == "open"


async def test_kafka_commands_apply_once_and_own_events_are_ignored() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        command = make_command(issue_id, LifecycleAction.ACKNOWLEDGE)
        for headers in ({}, {"hypercare-message": "command"}):
            await sla.broker.publish(command.model_dump_json().encode(), "t.lifecycle", headers=headers)
        events = sla.lifecycle_events()
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
    assert [(e.actor, e.via.value, e.command_id) for e in events] == [("alice", "kafka", command.command_id)]
    assert view["status"] == "acknowledged"
    assert len([a for a in view["audit"] if a["action"] == "acknowledge"]) == 1


async def test_an_invalid_command_goes_to_the_dead_letter_topic() -> None:
    async with sla_service() as sla:
        await sla.broker.publish(b'{"action": "acknowledge"}', "t.lifecycle")
        dead = sla.on("t.deadletter")
    assert len(dead) == 1
    assert dead[0].json()["error_class"] == "schema_violation"
    assert dead[0].headers["hypercare-source-topic"] == "t.lifecycle"


async def test_a_command_postgresql_cannot_store_goes_to_the_dead_letter_topic_and_the_next_applies() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        nul = make_command(issue_id, LifecycleAction.COMMENT, comment="on it\x00")
        await sla.broker.publish(nul.model_dump_json().encode(), "t.lifecycle")
        ack = make_command(issue_id, LifecycleAction.ACKNOWLEDGE)
        await sla.broker.publish(ack.model_dump_json().encode(), "t.lifecycle")
        dead = sla.on("t.deadletter")
        events = sla.lifecycle_events()
    assert [(d.json()["error_class"], "U+0000" in d.json()["reason"]) for d in dead] == [
        ("control_characters", True)
    ]
    assert [e.command_id for e in events] == [ack.command_id]


async def test_a_command_dated_past_what_deadlines_can_be_computed_from_goes_to_the_dead_letter_topic() -> (
    None
):
    async with sla_service() as sla:
        issue_id = await opened(sla)
        late = make_command(issue_id, LifecycleAction.ACKNOWLEDGE).model_dump(mode="json")
        await sla.broker.publish(json.dumps({**late, "at": "9999-12-31T23:59:00Z"}).encode(), "t.lifecycle")
        ack = make_command(issue_id, LifecycleAction.ACKNOWLEDGE)
        await sla.broker.publish(ack.model_dump_json().encode(), "t.lifecycle")
        dead = sla.on("t.deadletter")
        events = sla.lifecycle_events()
    assert [d.json()["error_class"] for d in dead] == ["schema_violation"]
    assert [e.command_id for e in events] == [ack.command_id]


async def test_a_command_the_service_fails_on_is_dead_lettered_and_the_next_applies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A defect raised on one message would be raised on every delivery: the partition would stall.
    execute = SlaService.execute

    async def failing_on_comments(self: SlaService, command: LifecycleCommand) -> CommandResult:
        if command.action is LifecycleAction.COMMENT:
            raise ZeroDivisionError("a defect")
        return await execute(self, command)

    monkeypatch.setattr(SlaService, "execute", failing_on_comments)
    async with sla_service() as sla:
        issue_id = await opened(sla)
        comment = make_command(issue_id, LifecycleAction.COMMENT, comment="on it")
        await sla.broker.publish(comment.model_dump_json().encode(), "t.lifecycle")
        ack = make_command(issue_id, LifecycleAction.ACKNOWLEDGE)
        await sla.broker.publish(ack.model_dump_json().encode(), "t.lifecycle")
        dead = sla.on("t.deadletter")
        events = sla.lifecycle_events()
    assert [d.json()["error_class"] for d in dead] == ["processing_error"]
    assert "ZeroDivisionError: a defect" in dead[0].json()["reason"]
    assert [e.command_id for e in events] == [ack.command_id]


async def test_a_command_met_by_a_failing_database_is_not_dead_lettered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def database_down(self: SlaService, command: LifecycleCommand) -> CommandResult:
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(SlaService, "execute", database_down)
    async with sla_service() as sla:
        issue_id = await opened(sla)
        command = make_command(issue_id, LifecycleAction.ACKNOWLEDGE)
        with pytest.raises(ConnectionResetError):  # not acknowledged: delivered again
            await sla.broker.publish(command.model_dump_json().encode(), "t.lifecycle")
        dead = sla.on("t.deadletter")
    assert dead == []


async def test_a_nul_in_an_api_command_is_refused_as_invalid() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        comment = await sla.client.post(
            f"/v1/issues/{issue_id}/comment", headers=AUTH, json={"comment": "on it\x00"}
        )
        unknown = await sla.client.post("/v1/issues/x%00y/acknowledge", headers=AUTH)
        view = await sla.client.get("/v1/issues/x%00y", headers=AUTH)
        events = sla.lifecycle_events()
    assert (comment.status_code, comment.json()["error"]) == (422, "invalid_request")
    assert "U+0000" in comment.json()["reason"]
    assert (unknown.status_code, view.status_code) == (422, 422)
    assert events == []


@pytest.mark.parametrize(
    ("source_action", "status", "waiting"),
    [
        (ReportAction.ACKNOWLEDGE, "acknowledged", False),
        (ReportAction.RESOLVE, "resolved", False),
        (ReportAction.PENDING, "open", True),
    ],
)
async def test_source_actions_in_triage_decisions_act_on_the_clocks(
    source_action: ReportAction, status: str, waiting: bool
) -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        sla.clock.advance(timedelta(seconds=1))
        update = make_triaged(
            issue_id=issue_id,
            decision=Decision.UPDATED,
            version=2,
            decided_at=sla.clock.now(),
            source_action=source_action,
        )
        await sla.triage(update)
        await sla.triage(update)  # redelivered: changes nothing twice
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        events = sla.lifecycle_events()
    assert (view["status"], view["waiting_on_customer"]) == (status, waiting)
    assert [(e.via.value, e.actor) for e in events] == [("source", "source")]
    if waiting:
        assert {c["state"] for c in view["clocks"]} == {"paused"}


async def test_suppressed_issues_get_no_clock_until_released() -> None:
    async with sla_service() as sla:
        suppressed = make_triaged(decision=Decision.SUPPRESSED, decided_at=sla.clock.now(), notify=False)
        await sla.triage(suppressed)
        before = sla.store.milestone_keys(suppressed.issue_id)
        sla.clock.advance(timedelta(minutes=10))
        released = make_triaged(
            issue_id=suppressed.issue_id, decision=Decision.RELEASED, version=2, decided_at=sla.clock.now()
        )
        await sla.triage(released)
        view = (await sla.client.get(f"/v1/issues/{suppressed.issue_id}", headers=AUTH)).json()
    assert before == set()
    assert view["suppressed"] is False
    assert datetime.fromisoformat(view["opened_at"]) == released.decided_at
    assert f"{suppressed.issue_id}:1:response:breached" in {m["key"] for m in view["milestones"]}


async def test_a_raise_moves_deadlines_earlier_and_keeps_keys() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla, severity=Severity.HIGH)
        high = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        raised = make_triaged(
            issue_id=issue_id,
            decision=Decision.RAISED,
            version=2,
            severity=Severity.CRITICAL,
            previous_severity=Severity.HIGH,
            decided_at=sla.clock.now(),
        )
        await sla.triage(raised)
        critical = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()

    def due(view: dict[str, Any]) -> float:
        clock = next(c for c in view["clocks"] if c["target"] == "response")
        return (
            datetime.fromisoformat(clock["due_at"]) - datetime.fromisoformat(view["opened_at"])
        ).total_seconds()

    assert (due(high), due(critical)) == (10.0, 6.0)
    assert critical["severity"] == "critical"
    assert "sla.rerated" in [a["action"] for a in critical["audit"]]


async def test_scheduler_emits_each_due_milestone_once_with_its_true_due_time() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        opened_at = sla.clock.now()
        sla.clock.advance(timedelta(seconds=7))

        def sla_events() -> list[dict[str, Any]]:
            return [s.json() for s in sla.on("t.sla")]

        await wait_for(lambda: len(sla_events()) >= 6, timeout=10, what="six SLA events")
        late_ack = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=AUTH)
        sla.clock.advance(timedelta(seconds=1))
        await asyncio.sleep(1.5)  # a full scheduler sleep: nothing more may fall due before 15s
        events = sla_events()
    assert late_ack.status_code == 200
    emitted = {e["event_id"]: e for e in events}
    assert len(emitted) == len(events)
    assert sorted(emitted) == sorted(
        f"{issue_id}:1:{suffix}"
        for suffix in (
            "escalation:1",
            "escalation:2",
            "escalation:3",
            "renotify:1",
            "response:at_risk",
            "response:breached",
        )
    )
    breached = emitted[f"{issue_id}:1:response:breached"]
    assert datetime.fromisoformat(breached["due_at"]) == opened_at + timedelta(seconds=6)
    assert datetime.fromisoformat(breached["emitted_at"]) == opened_at + timedelta(seconds=7)
    assert breached["late"] is False
    assert emitted[f"{issue_id}:1:escalation:1"]["late"] is True  # due at 1.5s, sent at 7s


async def test_a_kafka_command_for_an_issue_not_known_yet_is_dead_lettered_to_be_redriven() -> None:
    # Acknowledged and dropped, a person's acknowledge sent before the issue's first decision reached
    # this service would be lost, and the issue would go on escalating.
    async with sla_service() as sla:
        early = make_command("iss_not_yet", LifecycleAction.ACKNOWLEDGE)
        await sla.broker.publish(early.model_dump_json().encode(), "t.lifecycle")
        issue_id = await opened(sla)
        ack = make_command(issue_id, LifecycleAction.ACKNOWLEDGE)
        await sla.broker.publish(ack.model_dump_json().encode(), "t.lifecycle")
        dead = sla.on("t.deadletter")
        events = sla.lifecycle_events()
    assert [d.json()["error_class"] for d in dead] == ["unknown_issue"]
    assert "iss_not_yet is unknown" in dead[0].json()["reason"]
    assert LifecycleCommand.model_validate_json(dead[0].json()["original"]) == early, "kept to redrive"
    assert [e.command_id for e in events] == [ack.command_id]
