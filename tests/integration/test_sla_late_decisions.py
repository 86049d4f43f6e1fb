"""Triage decisions and commands that come in late, on the real broker and database.

Triage publishes decisions through an outbox, so version 5 of an issue can reach the SLA service after
version 6: its severity, route and status are stale, but what its source did (a Zendesk agent acknowledged)
still happened and must stop the clocks, unless a later change overtook it. Targets of seconds
(tests/data/policy-fast): critical response 6s (at risk at 4.5s), escalation steps at 1.5s, 3s and 5s.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_contracts.normalized import ReportAction
from hypercare_contracts.sla import SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, IssueStatus, TriagedIssue

from tests.factories.sla import make_command, make_triaged
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, wait_for
from tests.support.sla import AUTH, Stack, in_process, make_stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def stack(kafka: KafkaTestKit, endpoints: Endpoints, database_url: str, group_id: str) -> Stack:
    return await make_stack(kafka, endpoints.kafka_bootstrap, database_url, group_id)


def decision(issue_id: str, version: int, at: datetime, **overrides: Any) -> TriagedIssue:
    """A decision of ``issue_id`` at ``version``, identified as triage identifies it."""
    fields: dict[str, Any] = {"decision": Decision.UPDATED, "severity": Severity.CRITICAL}
    fields.update(overrides)
    return make_triaged(
        issue_id=issue_id, decision_id=f"{issue_id}:{version}", version=version, decided_at=at, **fields
    )


async def lifecycle_events(stack: Stack, issue_id: str, *, count: int) -> list[LifecycleEvent]:
    """The lifecycle events the service published for the issue (commands on the topic left out)."""
    messages = await stack.kafka.collect([stack.lifecycle_topic], count=count, timeout=20, settle=1.0)
    events = [
        LifecycleEvent.model_validate_json(m.value)
        for m in messages
        if m.headers.get("hypercare-message") == "event"
    ]
    return [e for e in events if e.issue_id == issue_id]


async def issue_row(stack: Stack, issue_id: str) -> asyncpg.Record:
    [row] = await stack.fetch(
        "SELECT status, cycle, acknowledged_at, resolved_at, triage_version, status_changed_at, reopened_at,"
        " reopened_version FROM sla_issues WHERE issue_id = $1",
        issue_id,
    )
    return row


async def test_a_source_acknowledge_published_after_a_later_decision_still_stops_the_clocks_once(
    stack: Stack,
) -> None:
    issue_id = f"iss_{uuid.uuid4().hex[:12]}"
    opened = datetime.now(UTC)
    created = decision(issue_id, 4, opened, decision=Decision.CREATED)
    acknowledged = decision(
        issue_id,
        5,
        opened + timedelta(milliseconds=200),
        severity=Severity.LOW,  # stale by the time it arrives: must not re-rate the issue
        status=IssueStatus.ACKNOWLEDGED,
        source_action=ReportAction.ACKNOWLEDGE,
    )
    report = decision(issue_id, 6, opened + timedelta(milliseconds=400), status=IssueStatus.ACKNOWLEDGED)
    async with in_process(stack.settings()) as client:
        await stack.warm_up()
        for published in (created, report, acknowledged):  # version 5 after version 6, one partition
            await stack.triage(published)
        await stack.wait_consumed()
        acknowledged_by = datetime.now(UTC)
        await stack.triage(acknowledged)  # and delivered again
        await stack.wait_consumed()
        view = (await client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        # read on past the would-be response breach (6s), with a margin
        past_breach = (opened + timedelta(seconds=7) - datetime.now(UTC)).total_seconds()
        sla_events = await stack.sla_events(count=1, timeout=20, settle=max(1.0, past_breach))
    events = await lifecycle_events(stack, issue_id, count=1)
    row = await issue_row(stack, issue_id)

    assert [(e.action, e.via, e.actor, e.at, e.command_id) for e in events] == [
        (
            LifecycleAction.ACKNOWLEDGE,
            Via.SOURCE,
            "source",
            acknowledged.decided_at,
            f"triage:{issue_id}:5:acknowledge",
        )
    ]
    assert (view["status"], view["severity"]) == ("acknowledged", "critical")
    response = next(c for c in view["clocks"] if c["target"] == "response")
    assert (response["state"], response["business_elapsed_seconds"]) == ("met", 0.2)
    sla_events = [e for e in sla_events if e.issue_id == issue_id]
    assert [e.kind for e in sla_events if e.target is SlaTarget.RESPONSE] == [SlaEventKind.MET]
    assert all(e.emitted_at < acknowledged_by for e in sla_events if e.kind is SlaEventKind.ESCALATION)
    assert (row["status"], row["acknowledged_at"], row["triage_version"]) == (
        "acknowledged",
        acknowledged.decided_at,
        6,
    )
    assert row["status_changed_at"] == acknowledged.decided_at


async def test_a_source_resolve_published_after_the_reopen_that_followed_it_resolves_nothing(
    stack: Stack,
) -> None:
    issue_id = f"iss_{uuid.uuid4().hex[:12]}"
    opened = datetime.now(UTC)
    resolved = decision(
        issue_id,
        5,
        opened + timedelta(milliseconds=200),
        decision=Decision.RESOLVED,
        status=IssueStatus.RESOLVED,
        source_action=ReportAction.RESOLVE,
    )
    reopened = decision(issue_id, 6, opened + timedelta(milliseconds=400), decision=Decision.REOPENED)
    async with in_process(stack.settings()) as client:
        await stack.warm_up()
        for published in (decision(issue_id, 4, opened, decision=Decision.CREATED), reopened, resolved):
            await stack.triage(published)
        await stack.wait_consumed()
        view = (await client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
    row = await issue_row(stack, issue_id)
    handled = await stack.fetch(
        "SELECT command_id, outcome, result->'rejection'->>'reason' AS reason FROM lifecycle_commands"
        " WHERE issue_id = $1 ORDER BY command_id",
        issue_id,
    )

    assert (view["status"], view["resolved_at"]) == ("open", None)
    assert (row["status"], row["resolved_at"], row["reopened_at"]) == ("open", None, reopened.decided_at)
    # the reopen confirmed by version 6 orders version 5's resolve before it, 200 ms apart (within the skew)
    assert row["reopened_version"] == 6
    assert [(r["command_id"], r["outcome"], r["reason"]) for r in handled] == [
        (f"triage:{issue_id}:5:resolve", "rejected", "overtaken"),
        (f"triage:{issue_id}:6:reopen", "rejected", "already_done"),
    ]
    assert await lifecycle_events(stack, issue_id, count=0) == []


async def test_a_kafka_acknowledge_made_before_a_reopen_and_read_after_it_leaves_the_new_cycle_open(
    stack: Stack,
) -> None:
    async with in_process(stack.settings()) as client:
        await stack.warm_up()
        issue = make_triaged(decided_at=datetime.now(UTC) - timedelta(seconds=30))
        await stack.triage(issue)
        await stack.wait_known(issue.issue_id)
        # made more than the clocks' skew (5s) before the resolve and reopen below
        made_before = make_command(
            issue.issue_id, LifecycleAction.ACKNOWLEDGE, at=datetime.now(UTC) - timedelta(seconds=20)
        )
        for action in ("resolve", "reopen"):
            response = await client.post(f"/v1/issues/{issue.issue_id}/{action}", headers=AUTH)
            assert response.status_code == 200, response.text
        await stack.kafka.send(
            stack.lifecycle_topic,
            made_before.model_dump_json().encode(),
            headers={"hypercare-message": "command"},
        )

        async def handled() -> list[asyncpg.Record]:
            return await stack.fetch(
                "SELECT outcome, result->'rejection'->>'reason' AS reason FROM lifecycle_commands"
                " WHERE command_id = $1",
                made_before.command_id,
            )

        [outcome] = await wait_for(handled, timeout=20, what="the service to handle the late acknowledge")
        view = (await client.get(f"/v1/issues/{issue.issue_id}", headers=AUTH)).json()
    events = await lifecycle_events(stack, issue.issue_id, count=2)

    assert (outcome["outcome"], outcome["reason"]) == ("rejected", "overtaken")
    assert [e.action for e in events] == [LifecycleAction.RESOLVE, LifecycleAction.REOPEN]
    assert (view["status"], view["cycle"], view["acknowledged_at"]) == ("open", 2, None)
    response = next(c for c in view["clocks"] if c["target"] == "response")
    assert response["state"] == "running"


async def test_triage_reopening_on_a_clock_behind_right_after_a_person_resolved_starts_a_new_cycle(
    stack: Stack,
) -> None:
    issue_id = f"iss_{uuid.uuid4().hex[:12]}"
    async with in_process(stack.settings()) as client:
        await stack.warm_up()
        await stack.triage(decision(issue_id, 1, datetime.now(UTC), decision=Decision.CREATED))
        await stack.wait_known(issue_id)
        response = await client.post(f"/v1/issues/{issue_id}/resolve", headers=AUTH)
        assert response.status_code == 200, response.text
        # a new report right after, decided by triage on a clock 1 s behind the service's
        behind = datetime.now(UTC) - timedelta(seconds=1)
        await stack.triage(decision(issue_id, 2, behind, decision=Decision.REOPENED))
        await stack.wait_consumed()
        view = (await client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
    events = await lifecycle_events(stack, issue_id, count=2)
    row = await issue_row(stack, issue_id)

    assert [(e.action, e.at) for e in events][1:] == [(LifecycleAction.REOPEN, behind)]
    assert (view["status"], view["cycle"]) == ("open", 2)
    assert (row["status"], row["cycle"], row["reopened_at"], row["reopened_version"]) == (
        "open",
        2,
        behind,
        2,
    )


async def test_a_kafka_acknowledge_made_before_a_snooze_and_read_after_it_still_stops_the_response_clock(
    stack: Stack,
) -> None:
    async with in_process(stack.settings()) as client:
        await stack.warm_up()
        opened = datetime.now(UTC) - timedelta(seconds=10)
        issue = make_triaged(decided_at=opened)
        await stack.triage(issue)
        await stack.wait_known(issue.issue_id)
        # made 4s after the opening (the response target is 6s), more than the clocks' skew (5s) before the
        # snooze below, and read after it
        made_before = make_command(
            issue.issue_id, LifecycleAction.ACKNOWLEDGE, at=opened + timedelta(seconds=4)
        )
        until = datetime.now(UTC) + timedelta(minutes=10)
        response = await client.post(
            f"/v1/issues/{issue.issue_id}/snooze", headers=AUTH, json={"snooze_until": until.isoformat()}
        )
        assert response.status_code == 200, response.text
        await stack.kafka.send(
            stack.lifecycle_topic,
            made_before.model_dump_json().encode(),
            headers={"hypercare-message": "command"},
        )

        async def handled() -> list[asyncpg.Record]:
            return await stack.fetch(
                "SELECT outcome, result->'rejection'->>'reason' AS reason FROM lifecycle_commands"
                " WHERE command_id = $1",
                made_before.command_id,
            )

        [outcome] = await wait_for(handled, timeout=20, what="the service to handle the late acknowledge")
        view = (await client.get(f"/v1/issues/{issue.issue_id}", headers=AUTH)).json()
    row = await issue_row(stack, issue.issue_id)
    audit = await stack.fetch(
        "SELECT action, actor FROM audit_log WHERE issue_id = $1 ORDER BY audit_id", issue.issue_id
    )
    milestones = await stack.fetch(
        "SELECT key FROM sla_milestones WHERE issue_id = $1 AND emitted_at IS NULL ORDER BY key",
        issue.issue_id,
    )
    events = await lifecycle_events(stack, issue.issue_id, count=1)

    assert (outcome["outcome"], outcome["reason"]) == ("rejected", "overtaken")
    assert [e.action for e in events] == [LifecycleAction.SNOOZE]
    assert (row["status"], row["acknowledged_at"]) == ("snoozed", made_before.at)
    assert (view["status"], next(c["state"] for c in view["clocks"] if c["target"] == "response")) == (
        "snoozed",
        "met",
    )
    assert ("sla.response_stopped", "alice") in [(r["action"], r["actor"]) for r in audit]
    # no escalation step or re-notification left to page anyone
    assert not [r["key"] for r in milestones if ":escalation:" in r["key"] or ":renotify:" in r["key"]]


async def test_a_triage_reopen_read_after_a_persons_later_resolve_leaves_the_issue_resolved(
    stack: Stack,
) -> None:
    issue_id = f"iss_{uuid.uuid4().hex[:12]}"
    opened = datetime.now(UTC) - timedelta(seconds=30)
    # triage resolved at +5 s and reopened at +10 s (a new report); the pipeline lagged: both are read only
    # after a person resolved the issue through the API, some 20 s after the reopen
    resolved = decision(
        issue_id, 2, opened + timedelta(seconds=5), decision=Decision.RESOLVED, status=IssueStatus.RESOLVED
    )
    reopened = decision(issue_id, 3, opened + timedelta(seconds=10), decision=Decision.REOPENED)
    async with in_process(stack.settings()) as client:
        await stack.warm_up()
        await stack.triage(decision(issue_id, 1, opened, decision=Decision.CREATED))
        await stack.wait_known(issue_id)
        response = await client.post(f"/v1/issues/{issue_id}/resolve", headers=AUTH)
        assert response.status_code == 200, response.text
        for published in (resolved, reopened):
            await stack.triage(published)
        await stack.wait_consumed()
        view = (await client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        # a new cycle opened 20 s ago would have its escalation steps (1.5 s, 3 s, 5 s) published at once
        sla_events = await stack.sla_events(count=1, timeout=20, settle=2.0)
    events = await lifecycle_events(stack, issue_id, count=1)
    row = await issue_row(stack, issue_id)
    [reopen] = await stack.fetch(
        "SELECT outcome, result->'rejection'->>'reason' AS reason FROM lifecycle_commands WHERE command_id = $1",
        f"triage:{issue_id}:3:reopen",
    )
    [marks] = await stack.fetch(
        "SELECT status_version, status_set_by FROM sla_issues WHERE issue_id = $1", issue_id
    )

    assert (reopen["outcome"], reopen["reason"]) == ("rejected", "overtaken")
    assert [(e.action, e.via) for e in events] == [(LifecycleAction.RESOLVE, Via.API)]
    assert (view["status"], view["cycle"]) == ("resolved", 1)
    assert (row["status"], row["cycle"], row["triage_version"]) == ("resolved", 1, 3)
    # version 2's resolve confirmed the status, but the person's resolve set its instant
    assert (marks["status_version"], marks["status_set_by"]) == (2, None)
    assert [e.event_id for e in sla_events if e.event_id.startswith(f"{issue_id}:2:")] == []
