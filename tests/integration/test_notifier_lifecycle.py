"""A person's acknowledge and resolve mirrored to PagerDuty and the webhook, on the real Kafka, PostgreSQL,
Redis and HTTP receivers; once, whatever is replayed."""

from datetime import UTC, datetime
from typing import Any

import pytest
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.lifecycle import LifecycleAction, Via
from hypercare_contracts.triaged import TriagedIssue
from hypercare_notifier import intake as intake_module
from hypercare_notifier import planning
from hypercare_notifier.app import create_app
from hypercare_notifier.planning import Plan

from tests.factories.sla import make_command
from tests.support.environment import Endpoints
from tests.support.kafka import wait_for
from tests.support.receivers import (
    ROUTING_KEY,
    NotifierStack,
    consumed,
    make_decision,
    make_lifecycle_event,
    metric,
    stays,
)
from tests.support.services import running
from tests.support.sla import AUTH, in_process, make_stack

pytestmark = pytest.mark.integration


def paging(**overrides: Any) -> TriagedIssue:
    """A critical ``created`` decision on a route with PagerDuty and the webhook."""
    return make_decision(channels=["pagerduty-payments", "webhook"], **overrides)


def pd_actions(stack: NotifierStack) -> list[tuple[str, str, str]]:
    return [
        (r.json()["event_action"], r.json()["dedup_key"], r.json()["routing_key"])
        for r in stack.receiver.on("/pd")
    ]


async def test_a_persons_acknowledge_and_resolve_reach_pagerduty_once_however_often_replayed(
    stack: NotifierStack, group_id: str
) -> None:
    issue = paging()
    acknowledge = make_lifecycle_event(issue.issue_id, LifecycleAction.ACKNOWLEDGE, via=Via.LINK)
    resolve = make_lifecycle_event(issue.issue_id, LifecycleAction.RESOLVE, actor="bob")
    lifecycle = stack.topics["lifecycle"]
    policy = stack.policy()
    app = create_app(stack.settings(group_id, policy))
    async with running(app):
        await stack.decide(issue)
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 1, what="the page")
        await stack.lifecycle(acknowledge)
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 2, what="the PagerDuty acknowledge")
        await stack.lifecycle(resolve)
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 3, what="the PagerDuty resolve")
        await wait_for(lambda: len(stack.receiver.on("/hook")) == 2, what="the webhook resolve")

        await stack.lifecycle(acknowledge, resolve)
        await stack.decide(issue)
        await consumed(app, lifecycle, 4)
        await stays(lambda: len(stack.receiver.requests), 5)
        assert await metric(app, "hypercare_notifier_lifecycle_messages_total", outcome="applied") == 2
        assert await metric(app, "hypercare_notifier_lifecycle_messages_total", outcome="unchanged") == 2

    replay = create_app(stack.settings(f"{group_id}-replay", policy))
    async with running(replay):
        await consumed(replay, lifecycle, 4)
        await stays(lambda: len(stack.receiver.requests), 5)

    assert pd_actions(stack) == [
        ("trigger", issue.issue_id, ROUTING_KEY),
        ("acknowledge", issue.issue_id, ROUTING_KEY),
        ("resolve", issue.issue_id, ROUTING_KEY),
    ]
    keys = [r.key for r in stack.receiver.on("/pd")]
    assert len(set(keys)) == 3, "one idempotency key per (issue, trigger, step, channel)"
    trigger, resolved = (r.json() for r in stack.receiver.on("/hook"))
    assert trigger["kind"] == "trigger", "the webhook is not a pager: it hears of the resolve only"
    assert (resolved["kind"], resolved["headline"], resolved["trigger_id"]) == (
        "resolve",
        "Resolved by bob via the API",
        resolve.event_id,
    )
    records = await stack.records(5, settle=0.5)
    assert sorted((r.channel, r.trigger_id) for r in records) == sorted(
        [
            ("pagerduty-payments", issue.decision_id),
            ("webhook", issue.decision_id),
            ("pagerduty-payments", acknowledge.event_id),
            ("pagerduty-payments", resolve.event_id),
            ("webhook", resolve.event_id),
        ]
    )


async def test_commands_echoes_and_unknown_issues_send_nothing_and_bad_events_are_dead_lettered(
    stack: NotifierStack, group_id: str
) -> None:
    issue = paging()
    command = make_command(issue.issue_id, LifecycleAction.ACKNOWLEDGE)
    lifecycle = stack.topics["lifecycle"]
    app = create_app(stack.settings(group_id, stack.policy()))
    async with running(app):
        await stack.decide(issue)
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 1, what="the page")
        key = issue.issue_id.encode()
        await stack.kafka.send(
            lifecycle, command.model_dump_json(), key=key, headers={"hypercare-message": "command"}
        )
        await stack.kafka.send(lifecycle, command.model_dump_json(), key=key)
        await stack.lifecycle(make_lifecycle_event(issue.issue_id), marked="command")
        await stack.kafka.send(
            lifecycle, b'{"event_id": "half an event"}', key=key, headers={"hypercare-message": "event"}
        )
        await stack.lifecycle(make_lifecycle_event("iss-never-seen"))
        echo = make_lifecycle_event(issue.issue_id, LifecycleAction.RESOLVE, via=Via.TRIAGE, actor="triage")
        await stack.lifecycle(echo)
        await consumed(app, lifecycle, 6)
        await stays(lambda: len(stack.receiver.requests), 2)
        outcomes = {
            outcome: await metric(app, "hypercare_notifier_lifecycle_messages_total", outcome=outcome)
            for outcome in ("command", "unknown_issue", "echo", "applied", "unchanged")
        }
        dead = await stack.kafka.collect([stack.topics["deadletter"]], count=1, timeout=30, settle=0.5)

    assert outcomes == {"command": 3, "unknown_issue": 1, "echo": 1, "applied": 0, "unchanged": 0}
    assert len(dead) == 1
    letter = DeadLetter.model_validate_json(dead[0].value)
    assert (letter.error_class, letter.source_topic) == (ErrorClass.SCHEMA_VIOLATION, lifecycle)
    assert "command_id" in letter.reason
    assert dead[0].headers.get("hypercare-deadletter-reason")
    assert [a for a, _, _ in pd_actions(stack)] == ["trigger"]


async def test_a_decision_postgresql_cannot_store_is_dead_lettered_and_the_next_one_pages(
    stack: NotifierStack, group_id: str
) -> None:
    unstorable, issue = paging(title="Checkout down\x00"), paging()
    app = create_app(stack.settings(group_id, stack.policy()))
    async with running(app):
        await stack.decide(unstorable, issue)
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 1, what="the page")
        dead = await stack.kafka.collect([stack.topics["deadletter"]], count=1, timeout=30, settle=0.5)

    assert [key for _, key, _ in pd_actions(stack)] == [issue.issue_id]
    assert len(dead) == 1
    letter = DeadLetter.model_validate_json(dead[0].value)
    assert (letter.error_class, letter.source_topic) == (
        ErrorClass.CONTROL_CHARACTERS,
        stack.topics["triaged"],
    )


async def test_a_decision_the_notifier_fails_on_is_dead_lettered_and_the_next_one_pages(
    stack: NotifierStack, group_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A defect raised while planning one message would be raised on every delivery of its batch.
    failing, issue = paging(), paging()
    plan = planning.plan_decision

    def failing_on_one(decision: TriagedIssue, *args: Any, **kwargs: Any) -> Plan:
        if decision.issue_id == failing.issue_id:
            raise ZeroDivisionError("a defect")
        return plan(decision, *args, **kwargs)

    monkeypatch.setattr(intake_module, "plan_decision", failing_on_one)
    app = create_app(stack.settings(group_id, stack.policy()))
    async with running(app):
        await stack.decide(failing, issue)
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 1, what="the page")
        dead = await stack.kafka.collect([stack.topics["deadletter"]], count=1, timeout=30, settle=0.5)

    assert len(pd_actions(stack)) == 1
    letter = DeadLetter.model_validate_json(dead[0].value)
    assert (letter.error_class, letter.offset) == (ErrorClass.PROCESSING_ERROR, 0)
    assert "ZeroDivisionError: a defect" in letter.reason
    assert TriagedIssue.model_validate_json(letter.original) == failing


async def test_acknowledging_and_resolving_through_the_sla_api_reaches_pagerduty(
    stack: NotifierStack, group_id: str, endpoints: Endpoints, database_url: str
) -> None:
    """End to end: the SLA service's API publishes the lifecycle events the notifier mirrors."""
    sla = await make_stack(stack.kafka, endpoints.kafka_bootstrap, database_url, f"{group_id}-sla")
    notifier = stack.settings(
        group_id,
        stack.policy(),
        triaged_topic=sla.topics["triaged"],
        lifecycle_topic=sla.topics["lifecycle"],
    )
    issue = paging(decided_at=datetime.now(UTC))
    async with in_process(sla.settings()) as api, running(create_app(notifier)):
        await sla.triage(issue)
        await sla.wait_known(issue.issue_id)
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 1, what="the page")
        response = await api.post(f"/v1/issues/{issue.issue_id}/acknowledge", headers=AUTH)
        assert response.status_code == 200, response.text
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 2, what="the PagerDuty acknowledge")
        response = await api.post(f"/v1/issues/{issue.issue_id}/resolve", headers=AUTH)
        assert response.status_code == 200, response.text
        await wait_for(lambda: len(stack.receiver.on("/hook")) == 2, what="the webhook resolve")
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 3, what="the PagerDuty resolve")

    assert [(a, d) for a, d, _ in pd_actions(stack)] == [
        ("trigger", issue.issue_id),
        ("acknowledge", issue.issue_id),
        ("resolve", issue.issue_id),
    ]
    assert stack.receiver.on("/hook")[1].json()["headline"] == "Resolved by alice via the API"
