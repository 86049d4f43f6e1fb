"""The notifier on real Kafka, PostgreSQL and Redis, delivering to real HTTP and SMTP receivers."""

import socket
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.notifications import DeliveryOutcome
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, IssueStatus, Route, TriagedIssue
from hypercare_domain.notify.signing import verify_webhook
from hypercare_notifier.app import create_app

from tests.support.kafka import wait_for
from tests.support.receivers import (
    NOW,
    ROUTING_KEY,
    WEBHOOK_SECRET,
    NotifierStack,
    Reply,
    make_decision,
)
from tests.support.services import running

pytestmark = pytest.mark.integration

ALL_CHANNELS = ["webhook", "slack-payments", "pagerduty-payments", "email-leads"]
SETTLE = 1.5


def on_all_channels(**overrides: Any) -> TriagedIssue:
    return make_decision(channels=ALL_CHANNELS, **overrides)


async def test_created_critical_decision_reaches_every_channel_once_and_resolve_resolves_pagerduty(
    stack: NotifierStack, group_id: str
) -> None:
    created = on_all_channels()
    resolved = created.model_copy(
        update={
            "decision": Decision.RESOLVED,
            "version": 2,
            "decision_id": "res-1",
            "status": IssueStatus.RESOLVED,
        }
    )
    async with running(create_app(stack.settings(group_id, stack.policy()))):
        await stack.decide(created)
        await wait_for(
            lambda: len(stack.mailbox.messages) == 1 and len(stack.receiver.on("/pd")) == 1, timeout=30
        )
        await stack.decide(resolved)
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 2, timeout=30, what="the PagerDuty resolve")
        records = await stack.records(8)

    hooks = stack.receiver.on("/hook")
    assert len(hooks) == 2, "one trigger and one resolve on the webhook"
    key = verify_webhook(hooks[0].headers, hooks[0].body, WEBHOOK_SECRET, datetime.now(UTC))
    assert hooks[0].json()["kind"] == "trigger"
    assert hooks[0].json()["issue_id"] == created.issue_id
    assert len(stack.receiver.key_counts("/hook")) == 2
    assert stack.receiver.key_counts("/hook")[key] == 1
    slack = stack.receiver.on("/slack")[0].json()
    assert slack["blocks"][0]["type"] == "header"
    assert "Checkout fails" in slack["text"]
    trigger, resolve = (r.json() for r in stack.receiver.on("/pd"))
    assert (trigger["event_action"], trigger["dedup_key"], trigger["routing_key"]) == (
        "trigger",
        created.issue_id,
        ROUTING_KEY,
    )
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", created.issue_id)
    mail = stack.mailbox.messages[0]
    assert mail["Subject"] == "[CRITICAL] Checkout fails for card payments"
    assert len(stack.mailbox.messages) == 2
    assert sorted((r.channel, r.outcome) for r in records) == sorted(
        (c, DeliveryOutcome.SENT) for c in ALL_CHANNELS * 2
    )
    assert {r.trigger_id for r in records} == {created.decision_id, "res-1"}


async def test_failing_receivers_retry_fail_and_dead_letter_while_others_deliver_promptly(
    stack: NotifierStack, group_id: str
) -> None:
    stack.receiver.script("/slack", Reply(status=429, headers={"Retry-After": "1"}), Reply(status=200))
    stack.receiver.script("/hook", Reply(status=500), Reply(status=500), Reply(status=200))
    stack.receiver.script("/pd", Reply(hang=True))
    policy = stack.policy(
        retry={"max_attempts": 3},
        channel_overrides={"pagerduty-payments": {"timeout_seconds": 1, "retry": {"max_attempts": 2}}},
    )
    decision = on_all_channels()
    async with running(create_app(stack.settings(group_id, policy))):
        started = datetime.now(UTC).timestamp()
        await stack.decide(decision)
        records = await stack.records(8, timeout=45)
        dead = await stack.kafka.collect([stack.topics["deadletter"]], count=1, timeout=30)

    by = {(r.channel, r.outcome, r.attempt): r for r in records}
    assert set(by) == {
        ("slack-payments", DeliveryOutcome.RETRIED, 1),
        ("slack-payments", DeliveryOutcome.SENT, 2),
        ("webhook", DeliveryOutcome.RETRIED, 1),
        ("webhook", DeliveryOutcome.RETRIED, 2),
        ("webhook", DeliveryOutcome.SENT, 3),
        ("pagerduty-payments", DeliveryOutcome.RETRIED, 1),
        ("pagerduty-payments", DeliveryOutcome.FAILED, 2),
        ("email-leads", DeliveryOutcome.SENT, 1),
    }
    assert by[("slack-payments", DeliveryOutcome.RETRIED, 1)].status_code == 429
    assert by[("webhook", DeliveryOutcome.RETRIED, 2)].status_code == 500
    assert by[("pagerduty-payments", DeliveryOutcome.FAILED, 2)].error is not None
    slack_times = [r.at for r in stack.receiver.on("/slack")]
    assert slack_times[1] - slack_times[0] >= 0.9, "Retry-After: 1 was honoured"
    assert stack.receiver.key_counts("/hook").most_common() == [(stack.receiver.on("/hook")[0].key, 1)]
    letter = DeadLetter.model_validate_json(dead[0].value)
    assert letter.error_class is ErrorClass.DELIVERY_FAILED
    assert "pagerduty-payments" in letter.reason
    assert TriagedIssue.model_validate_json(letter.original).issue_id == decision.issue_id
    assert stack.mailbox.received_at, "e-mail delivered"
    assert by[("pagerduty-payments", DeliveryOutcome.FAILED, 2)].at.timestamp() - started >= 2
    assert stack.mailbox.received_at[0] < min(r.at for r in stack.receiver.on("/pd")) + 1.0


async def test_replaying_the_triaged_topic_with_a_new_group_sends_nothing_again(
    stack: NotifierStack, group_id: str
) -> None:
    decisions = [make_decision() for _ in range(5)]
    policy = stack.policy()
    async with running(create_app(stack.settings(group_id, policy))):
        await stack.decide(*decisions)
        first = await stack.records(5, settle=0)
    assert len(first) == 5
    async with running(create_app(stack.settings(f"{group_id}-replay", policy))):
        records = await stack.records(5, settle=3.0)

    assert len(stack.receiver.on("/hook")) == 5
    assert len(records) == 5, "no record beyond the first run's five"


async def test_escalation_names_its_target_and_stops_once_acknowledged(
    stack: NotifierStack, group_id: str
) -> None:
    decision = make_decision(
        route=Route(name="payments-urgent", team="t", escalation_policy="p", channels=["webhook"])
    )

    def escalation(step: int) -> SlaEvent:
        return SlaEvent(
            event_id=f"esc-{decision.issue_id}-{step}",
            kind=SlaEventKind.ESCALATION,
            issue_id=decision.issue_id,
            severity=decision.severity,
            route=decision.route.name,
            target=SlaTarget.RESPONSE,
            due_at=NOW,
            emitted_at=NOW,
            business_elapsed_seconds=900,
            policy="payments-oncall",
            escalation_step=step,
            escalation_target="cto",
        )

    met = escalation(9).model_copy(update={"kind": SlaEventKind.MET, "event_id": "met-1"})
    async with running(create_app(stack.settings(group_id, stack.policy()))):
        await stack.decide(decision)
        await wait_for(lambda: len(stack.receiver.on("/hook")) == 1, timeout=30)
        await stack.kafka.send(
            stack.topics["sla"], escalation(1).model_dump_json(), key=decision.issue_id.encode()
        )
        await wait_for(lambda: len(stack.receiver.on("/hook")) == 2, timeout=30)
        await stack.kafka.send(stack.topics["sla"], met.model_dump_json(), key=decision.issue_id.encode())
        await stack.kafka.send(
            stack.topics["sla"], escalation(2).model_dump_json(), key=decision.issue_id.encode()
        )
        await stack.records(2, settle=SETTLE)
        conn = await asyncpg.connect(stack.database_url)
        try:
            skipped = await wait_for(
                lambda: conn.fetch("SELECT trigger_id, last_error FROM deliveries WHERE status = 'skipped'"),
                timeout=15,
            )
        finally:
            await conn.close()

    hooks = stack.receiver.on("/hook")
    assert len(hooks) == 2
    body = hooks[1].json()
    assert body["title"].startswith("[ESCALATION · CRITICAL] Checkout fails")
    assert "to cto" in body["headline"]
    assert [(r["trigger_id"], r["last_error"]) for r in skipped] == [
        (escalation(2).event_id, "skipped: issue acknowledged")
    ]


async def test_pages_go_out_once_while_redis_is_down(stack: NotifierStack, group_id: str) -> None:
    with socket.socket() as sock:  # a port nothing listens on: Redis is down from the start
        sock.bind(("127.0.0.1", 0))
        down = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    created = on_all_channels()
    async with running(create_app(stack.settings(group_id, stack.policy(), redis_url=down))):
        await stack.decide(created)
        await wait_for(
            lambda: len(stack.mailbox.messages) == 1 and len(stack.receiver.on("/pd")) == 1,
            timeout=30,
            what="delivery without Redis",
        )
        await stack.decide(created)  # a redelivery: the delivery log alone must stop it
        records = await stack.records(4)

    assert len(stack.receiver.on("/pd")) == 1
    assert len(stack.receiver.on("/hook")) == 1
    assert len(stack.receiver.on("/slack")) == 1
    assert {r.outcome for r in records} == {DeliveryOutcome.SENT}
