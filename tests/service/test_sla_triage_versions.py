"""Triage decisions are applied in version order, once: a replay or a late decision changes nothing."""

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.normalized import ReportAction
from hypercare_contracts.triaged import Decision, TriagedIssue

from tests.factories.sla import make_triaged
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


async def test_a_decision_overtaken_by_a_later_one_neither_rerates_nor_acts() -> None:
    async with sla_service() as sla:
        issue_id = "iss_late"
        await sla.triage(decision(sla, issue_id, 1, decision=Decision.CREATED, severity=Severity.LOW))
        sla.clock.advance(timedelta(milliseconds=200))
        resolved = decision(sla, issue_id, 2, severity=Severity.LOW, source_action=ReportAction.RESOLVE)
        sla.clock.advance(timedelta(milliseconds=200))
        await sla.triage(decision(sla, issue_id, 3, decision=Decision.RAISED, severity=Severity.CRITICAL))
        latest = await what_people_see(sla, issue_id)
        await sla.triage(resolved)  # published late by triage's outbox sweep, after version 3
        after = await what_people_see(sla, issue_id)
        events = sla.lifecycle_events()
    assert (latest["severity"], latest["status"]) == ("critical", "open")
    assert after == latest
    assert events == []


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
