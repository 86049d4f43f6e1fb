"""SLA clocks on the real broker and database, with targets of seconds (tests/data/policy-fast).

Critical: response 6s (at risk at 4.5s), resolution 20s; escalation steps at 1.5s, 3s and 5s; a
re-notification every 4s.
"""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_domain.notify.links import Action, sign_action

from tests.factories.sla import make_command, make_triaged
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit
from tests.support.sla import (
    AUTH,
    LINK_SECRET,
    Stack,
    in_process,
    make_stack,
    seconds_between,
)

pytestmark = pytest.mark.integration

ON_TIME = 2.0
"""Every event must go out within this many seconds of its due instant."""


@pytest.fixture
async def stack(kafka: KafkaTestKit, endpoints: Endpoints, database_url: str, group_id: str) -> Stack:
    return await make_stack(kafka, endpoints.kafka_bootstrap, database_url, group_id)


async def until(instant: datetime) -> None:
    """Sleep until a wall-clock instant (used to let deadlines pass; the assertions poll)."""
    await asyncio.sleep(max(0.0, seconds_between(datetime.now(UTC), instant)))


def of(events: list[SlaEvent], issue_id: str) -> list[SlaEvent]:
    return [e for e in events if e.issue_id == issue_id]


def kinds(events: list[SlaEvent], target: SlaTarget | None) -> list[SlaEventKind]:
    return [e.kind for e in events if e.target is target]


async def test_unacknowledged_critical_issue_is_at_risk_then_breached_on_time(stack: Stack) -> None:
    async with in_process(stack.settings()):
        await stack.warm_up()
        issue = make_triaged(decided_at=datetime.now(UTC))
        await stack.triage(issue)
        # escalation 1, 2, renotify 1, at_risk, escalation 3, breached: six events by 6s
        events = of(await stack.sla_events(count=6, timeout=20, settle=0.3), issue.issue_id)
    response = [e for e in events if e.target is SlaTarget.RESPONSE]
    assert [e.kind for e in response] == [SlaEventKind.AT_RISK, SlaEventKind.BREACHED]
    at_risk, breached = response
    assert at_risk.due_at == issue.decided_at + timedelta(seconds=4.5)
    assert breached.due_at == issue.decided_at + timedelta(seconds=6)
    assert (at_risk.business_elapsed_seconds, breached.business_elapsed_seconds) == (4.5, 6.0)
    assert (breached.target_seconds, breached.policy) == (6.0, "critical/response@always")
    assert breached.event_id == f"{issue.issue_id}:1:response:breached"
    for event in events:
        assert 0 <= seconds_between(event.due_at, event.emitted_at) < ON_TIME, event
        assert event.late is False
    rows = await stack.fetch(
        "SELECT emitted_at FROM sla_milestones WHERE key = $1", f"{issue.issue_id}:1:response:breached"
    )
    assert rows[0]["emitted_at"] == breached.emitted_at


async def acknowledge_by_api(stack: Stack, client: httpx.AsyncClient, issue_id: str) -> str:
    response = await client.post(f"/v1/issues/{issue_id}/acknowledge", headers=AUTH)
    assert response.status_code == 200, response.text
    return "alice"


async def acknowledge_by_kafka(stack: Stack, client: httpx.AsyncClient, issue_id: str) -> str:
    command = make_command(issue_id, LifecycleAction.ACKNOWLEDGE, actor="bob")
    await stack.kafka.send(
        stack.lifecycle_topic, command.model_dump_json().encode(), headers={"hypercare-message": "command"}
    )
    return "bob"


async def acknowledge_by_link(stack: Stack, client: httpx.AsyncClient, issue_id: str) -> str:
    token = sign_action(issue_id, Action.ACKNOWLEDGE, datetime.now(UTC) + timedelta(hours=1), LINK_SECRET)
    assert (await client.get(f"/v1/actions/{token}")).status_code == 200
    response = await client.post(f"/v1/actions/{token}")
    assert response.status_code == 200, response.text
    return "action-link"


@pytest.mark.parametrize(
    "acknowledge",
    [acknowledge_by_api, acknowledge_by_kafka, acknowledge_by_link],
    ids=["api", "kafka", "link"],
)
async def test_acknowledged_in_time_is_met_never_breached_and_audited(
    stack: Stack, acknowledge: object
) -> None:
    assert callable(acknowledge)
    async with in_process(stack.settings()) as client:
        await stack.warm_up()
        issue = make_triaged(decided_at=datetime.now(UTC))
        await stack.triage(issue)
        await stack.wait_known(issue.issue_id)
        actor = await acknowledge(stack, client, issue.issue_id)
        # past the would-be breach (6s) and renotify 2 (8s), with a margin
        await until(issue.decided_at + timedelta(seconds=9))
        events = of(await stack.sla_events(count=1, timeout=10, settle=1.0), issue.issue_id)
        view = (await client.get(f"/v1/issues/{issue.issue_id}", headers=AUTH)).json()
    lifecycle = [
        LifecycleEvent.model_validate_json(m.value)
        for m in await stack.lifecycle_messages(count=1)
        if m.headers.get("hypercare-message") == "event"
    ]
    assert [(e.issue_id, e.action, e.actor) for e in lifecycle] == [
        (issue.issue_id, LifecycleAction.ACKNOWLEDGE, actor)
    ]
    acknowledged_at = lifecycle[0].at
    assert kinds(events, SlaTarget.RESPONSE) == [SlaEventKind.MET]
    met = next(e for e in events if e.kind is SlaEventKind.MET)
    assert met.due_at == acknowledged_at
    assert seconds_between(met.due_at, met.emitted_at) < ON_TIME
    assert all(e.due_at < acknowledged_at for e in events if e.kind is SlaEventKind.ESCALATION)
    assert view["status"] == "acknowledged"
    audit = await stack.fetch(
        "SELECT action, actor, event_id FROM audit_log WHERE issue_id = $1 AND action = 'acknowledge'",
        issue.issue_id,
    )
    assert [(r["actor"], r["event_id"]) for r in audit] == [(actor, lifecycle[0].event_id)]


async def test_escalation_steps_go_out_in_order_until_acknowledged_and_none_after(stack: Stack) -> None:
    async with in_process(stack.settings()) as client:
        await stack.warm_up()
        issue = make_triaged(decided_at=datetime.now(UTC))
        await stack.triage(issue)
        early = await stack.sla_events(count=2, timeout=15)  # steps 1 (1.5s) and 2 (3s)
        response = await client.post(f"/v1/issues/{issue.issue_id}/acknowledge", headers=AUTH)
        assert response.status_code == 200, response.text
        acknowledged_at = datetime.fromisoformat(response.json()["event"]["at"])
        await until(issue.decided_at + timedelta(seconds=9))
        events = of(await stack.sla_events(count=3, timeout=10, settle=1.0), issue.issue_id)
    assert [e.escalation_step for e in early] == [1, 2]
    assert seconds_between(issue.decided_at, acknowledged_at) < 4, "acknowledged too late for this scenario"
    steps = [e for e in events if e.kind is SlaEventKind.ESCALATION]
    assert [(e.escalation_step, e.escalation_target) for e in steps] == [
        (1, "primary-oncall"),
        (2, "secondary-oncall"),
    ]
    assert [e.due_at for e in steps] == [issue.decided_at + timedelta(seconds=s) for s in (1.5, 3)]
    assert [e.kind for e in events if e.emitted_at > acknowledged_at] == [SlaEventKind.MET]


async def test_two_instances_emit_every_event_exactly_once(stack: Stack) -> None:
    async with in_process(stack.settings()), in_process(stack.settings()):
        await stack.warm_up()
        opened = datetime.now(UTC)
        issues = [make_triaged(decided_at=opened) for _ in range(5)]
        for issue in issues:
            await stack.triage(issue)
        await until(opened + timedelta(seconds=7))
        # per issue by 7s: escalation 1-3, renotify 1, response at_risk and breached
        events = await stack.sla_events(count=6 * len(issues), timeout=20, settle=2.0)
    duplicates = {key: n for key, n in Counter(e.event_id for e in events).items() if n > 1}
    assert duplicates == {}
    for issue in issues:
        mine = of(events, issue.issue_id)
        assert kinds(mine, SlaTarget.RESPONSE) == [SlaEventKind.AT_RISK, SlaEventKind.BREACHED]
        assert [e.escalation_step for e in mine if e.kind is SlaEventKind.ESCALATION] == [1, 2, 3]
    assert all(seconds_between(e.due_at, e.emitted_at) < ON_TIME for e in events)
