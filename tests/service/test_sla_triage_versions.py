"""Triage decisions are applied in version order, once: a replay changes nothing, and of a decision published
after a later one only what its source did still applies, unless a later change overtook it."""

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction
from hypercare_contracts.normalized import ReportAction
from hypercare_contracts.triaged import Decision, IssueStatus, Route, TriagedIssue

from tests.factories.sla import make_command, make_triaged
from tests.support.sla_in_memory import AUTH, Harness, sla_service

pytestmark = pytest.mark.service


def decision(sla: Harness, issue_id: str, version: int, **overrides: Any) -> TriagedIssue:
    """A decision of ``issue_id`` at ``version``, identified as triage identifies it, decided now."""
    fields: dict[str, Any] = {"decision": Decision.UPDATED, "decided_at": sla.clock.now()}
    fields.update(overrides)
    return make_triaged(issue_id=issue_id, decision_id=f"{issue_id}:{version}", version=version, **fields)


async def what_people_see(sla: Harness, issue_id: str) -> dict[str, Any]:
    """Severity, clocks, milestones and audit trail from the API, and everything the service published."""
    view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
    return {
        "severity": view["severity"],
        "status": view["status"],
        "clocks": [(c["target"], c["policy"], c["target_seconds"], c["due_at"]) for c in view["clocks"]],
        "milestones": [(m["key"], m["due_at"], m["emitted_at"]) for m in view["milestones"]],
        "audit": [(a["action"], a["event_id"]) for a in view["audit"]],
        "published": list(sla.sent),
    }


async def test_replayed_decisions_leave_the_clocks_of_the_latest_and_a_newer_one_still_applies() -> None:
    async with sla_service() as sla:
        v1 = decision(sla, "iss_replay", 1, decision=Decision.CREATED, severity=Severity.LOW)
        await sla.triage(v1)
        sla.clock.advance(timedelta(milliseconds=500))
        v2 = decision(
            sla,
            v1.issue_id,
            2,
            decision=Decision.RAISED,
            severity=Severity.CRITICAL,
            previous_severity=Severity.LOW,
        )
        await sla.triage(v2)
        latest = await what_people_see(sla, v1.issue_id)
        sla.clock.advance(timedelta(milliseconds=500))
        for replayed in (v1, v2, v1):
            await sla.triage(replayed)
        after_replay = await what_people_see(sla, v1.issue_id)
        v3 = decision(sla, v1.issue_id, 3, severity=Severity.HIGH, previous_severity=Severity.CRITICAL)
        await sla.triage(v3)
        after_v3 = await what_people_see(sla, v1.issue_id)
    assert latest["severity"] == "critical"
    assert [c[:3] for c in latest["clocks"]] == [
        ("response", "critical/response@always", 6.0),
        ("resolution", "critical/resolution@always", 20.0),
    ]
    assert latest["audit"] == [("sla.started", "iss_replay:1"), ("sla.rerated", "iss_replay:2")]
    assert after_replay == latest
    assert after_v3["severity"] == "high"
    assert after_v3["audit"] == [*latest["audit"], ("sla.rerated", "iss_replay:3")]


async def test_an_overtaken_decision_neither_rerates_nor_reroutes_nor_resolves_by_itself() -> None:
    async with sla_service() as sla:
        issue_id = "iss_late"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED, severity=Severity.LOW))
        sla.clock.advance(timedelta(milliseconds=200))
        resolved = decision(
            sla,
            issue_id,
            2,
            decision=Decision.RESOLVED,
            status=IssueStatus.RESOLVED,
            severity=Severity.HIGH,
            route=Route(name="identity", team="identity-team", escalation_policy="default", channels=[]),
        )
        sla.clock.advance(timedelta(milliseconds=200))
        await sla.triage(decision(sla, issue_id, 3, decision=Decision.RAISED, severity=Severity.CRITICAL))
        latest = await what_people_see(sla, issue_id)
        await sla.triage(resolved)  # published late by triage's outbox sweep, after version 3
        after = await what_people_see(sla, issue_id)
        events = sla.lifecycle_events()
    assert (latest["severity"], latest["status"]) == ("critical", "open")
    assert after == latest
    assert events == []
    assert sla.store.state.issues[issue_id].triage_version == 3


async def test_an_overtaken_decision_still_applies_the_acknowledge_of_its_source_once() -> None:
    async with sla_service() as sla:
        issue_id = "iss_zendesk"
        opened = sla.clock.now()
        await sla.triage(decision(sla, issue_id, 4, decision=Decision.CREATED, severity=Severity.CRITICAL))
        sla.clock.advance(timedelta(seconds=1))
        acknowledged = decision(
            sla, issue_id, 5, status=IssueStatus.ACKNOWLEDGED, source_action=ReportAction.ACKNOWLEDGE
        )
        sla.clock.advance(timedelta(seconds=1))
        report = decision(sla, issue_id, 6, status=IssueStatus.ACKNOWLEDGED, severity=Severity.HIGH)
        await sla.triage(report)
        sla.clock.advance(timedelta(seconds=1))
        await sla.triage(acknowledged)  # published late by triage's outbox sweep, after version 6
        await sla.emitted_due()
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        once = await what_people_see(sla, issue_id)
        await sla.triage(acknowledged)  # and delivered again
        await sla.emitted_due()
        again = await what_people_see(sla, issue_id)
        events = sla.lifecycle_events()
        metrics = (await sla.client.get("/metrics")).text
    assert [(e.action, e.via.value, e.actor, e.at) for e in events] == [
        (LifecycleAction.ACKNOWLEDGE, "source", "source", acknowledged.decided_at)
    ]
    assert (view["status"], view["severity"], view["acknowledged_at"]) == (
        "acknowledged",
        "high",
        acknowledged.decided_at.isoformat().replace("+00:00", "Z"),
    )
    response = next(c for c in view["clocks"] if c["target"] == "response")
    assert (response["state"], response["business_elapsed_seconds"]) == ("met", 1.0)
    assert view["opened_at"] == opened.isoformat().replace("+00:00", "Z")
    assert [a[0] for a in once["audit"]] == ["sla.started", "acknowledge", "sla.rerated"]  # by instant
    assert again == once
    assert sla.store.state.issues[issue_id].triage_version == 6
    assert 'hypercare_sla_triage_decisions_total{outcome="applied"} 2.0' in metrics
    assert 'hypercare_sla_triage_decisions_total{outcome="overtaken"} 2.0' in metrics
    for outcome in ("applied", "replayed"):
        sample = (
            f'hypercare_lifecycle_commands_total{{action="acknowledge",outcome="{outcome}",via="source"}} 1.0'
        )
        assert sample in metrics


async def test_an_overtaken_source_resolve_does_not_resolve_the_issue_triage_reopened_after_it() -> None:
    async with sla_service() as sla:
        issue_id = "iss_reopened"
        await sla.triage(decision(sla, issue_id, 4, decision=Decision.CREATED))
        sla.clock.advance(timedelta(seconds=1))
        resolved = decision(
            sla,
            issue_id,
            5,
            decision=Decision.RESOLVED,
            status=IssueStatus.RESOLVED,
            source_action=ReportAction.RESOLVE,
        )
        sla.clock.advance(timedelta(seconds=1))
        await sla.triage(decision(sla, issue_id, 6, decision=Decision.REOPENED))
        await sla.triage(resolved)  # the resolve the reopen followed, published late
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        events = sla.lifecycle_events()
    assert view["status"] == "open"
    assert view["resolved_at"] is None
    assert events == []


async def test_an_overtaken_pending_does_not_pause_clocks_its_source_resumed_after_it() -> None:
    async with sla_service() as sla:
        issue_id = "iss_pending"
        await sla.triage(decision(sla, issue_id, 4, decision=Decision.CREATED))
        sla.clock.advance(timedelta(seconds=1))
        pending = decision(sla, issue_id, 5, source_action=ReportAction.PENDING)
        sla.clock.advance(timedelta(seconds=1))
        await sla.triage(decision(sla, issue_id, 6, source_action=ReportAction.RESUMED))
        await sla.triage(pending)
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        events = sla.lifecycle_events()
    assert view["waiting_on_customer"] is False
    assert all(c["due_at"] is not None for c in view["clocks"])
    assert events == []


async def test_an_overtaken_acknowledge_applies_while_a_later_pending_keeps_the_clocks_paused() -> None:
    async with sla_service() as sla:
        issue_id = "iss_ack_then_pending"
        await sla.triage(decision(sla, issue_id, 4, decision=Decision.CREATED))
        sla.clock.advance(timedelta(seconds=1))
        acknowledged = decision(sla, issue_id, 5, source_action=ReportAction.ACKNOWLEDGE)
        sla.clock.advance(timedelta(seconds=1))
        await sla.triage(decision(sla, issue_id, 6, source_action=ReportAction.PENDING))
        await sla.triage(acknowledged)
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        events = sla.lifecycle_events()
    assert [(e.action, e.at) for e in events] == [
        (LifecycleAction.PAUSE, acknowledged.decided_at + timedelta(seconds=1)),
        (LifecycleAction.ACKNOWLEDGE, acknowledged.decided_at),
    ]
    assert (view["status"], view["waiting_on_customer"]) == ("acknowledged", True)


async def test_a_kafka_acknowledge_made_before_a_reopen_does_not_acknowledge_the_new_cycle() -> None:
    async with sla_service() as sla:
        issue_id = "iss_old_ack"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED))
        sla.clock.advance(timedelta(seconds=1))
        made_before = make_command(issue_id, LifecycleAction.ACKNOWLEDGE, at=sla.clock.now())
        sla.clock.advance(timedelta(seconds=10))  # more than the clocks' skew (5s) before the reopen
        for action in ("resolve", "reopen"):
            response = await sla.client.post(f"/v1/issues/{issue_id}/{action}", headers=AUTH)
            assert response.status_code == 200, response.text
        sla.clock.advance(timedelta(seconds=1))
        await sla.broker.publish(made_before.model_dump_json().encode(), sla.settings.lifecycle_topic)
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        events = sla.lifecycle_events()
        stored = sla.store.state.commands[made_before.command_id]
    assert [e.action for e in events] == [LifecycleAction.RESOLVE, LifecycleAction.REOPEN]
    assert (view["status"], view["cycle"], view["acknowledged_at"]) == ("open", 2, None)
    response = next(c for c in view["clocks"] if c["target"] == "response")
    assert response["state"] == "running"
    assert (stored.outcome, stored.result["rejection"]["reason"]) == ("rejected", "overtaken")


async def test_an_issue_stored_before_versions_were_recorded_applies_its_next_decision() -> None:
    async with sla_service() as sla:
        issue_id = "iss_legacy"
        await sla.triage(decision(sla, issue_id, 7, decision=Decision.CREATED, severity=Severity.CRITICAL))
        stored = sla.store.state.issues[issue_id]
        sla.store.state.issues[issue_id] = replace(stored, triage_version=None)  # as migration 0010 left it
        sla.clock.advance(timedelta(milliseconds=200))
        await sla.triage(decision(sla, issue_id, 4, severity=Severity.LOW))
        first = await what_people_see(sla, issue_id)
        await sla.triage(decision(sla, issue_id, 4, severity=Severity.LOW))
        again = await what_people_see(sla, issue_id)
    assert first["severity"] == "low"
    assert sla.store.state.issues[issue_id].triage_version == 4
    assert again == first
