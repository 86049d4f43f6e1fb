"""Outcome records and delivery dead letters survive Kafka failing right after the delivery log's commit:
on the real Kafka, PostgreSQL, Redis and HTTP receivers."""

from collections import defaultdict

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.notifications import DeliveryOutcome, NotificationRecord
from hypercare_contracts.triaged import Route
from hypercare_notifier.app import create_app
from hypercare_notifier.planning import idempotency_key

from tests.support.kafka import wait_for
from tests.support.receivers import QUIET, NotifierStack, Reply, make_decision, metric
from tests.support.services import running

pytestmark = pytest.mark.integration

KAFKA_DEFAULT_MAX_MESSAGE_BYTES = "1048588"


async def limit_message_bytes(stack: NotifierStack, limit: str, *names: str) -> None:
    """Set ``max.message.bytes`` of the stack's topics ``names``: below a record's size, Kafka refuses
    every message produced to them (``MessageSizeTooLargeError``) until it is raised again."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.endpoints.kafka_bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, stack.topics[name], {"max.message.bytes": limit})
                for name in names
            ]
        )
    finally:
        await admin.close()


async def unfinished(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'"))
    finally:
        await conn.close()


async def test_records_and_dead_letters_committed_while_kafka_refuses_them_are_published_once_it_takes_them(
    stack: NotifierStack, group_id: str
) -> None:
    """A sent notification, one folded into a digest, the digest and a failed one each commit their
    outcome while Kafka refuses the notifications and dead-letter topics; every record and the dead
    letter arrive once Kafka takes them again (a repeat, if any, is the same bytes)."""
    stack.receiver.script("/slack", Reply(status=400, body=b"channel_not_found"))
    policy = stack.policy(storm={"window_seconds": 2, "max_per_window": 1, "digest_grace_seconds": 0.2})
    told, folded = make_decision(), make_decision()
    failing = make_decision(
        channels=["slack-payments"],
        route=Route(name="payments-chat", team="t", escalation_policy="p", channels=["slack-payments"]),
    )

    async def finished() -> bool:
        return await unfinished(stack.database_url) == 0

    await limit_message_bytes(stack, "64", "notifications", "deadletter")
    app = create_app(stack.settings(group_id, policy))
    async with running(app):
        await stack.decide(told, folded, failing)
        await wait_for(lambda: len(stack.receiver.on("/hook")) == 2, what="the decision and the digest sent")
        await wait_for(lambda: len(stack.receiver.on("/slack")) == 1, what="the refused Slack message")
        await wait_for(finished, what="no delivery left pending", timeout=10)
        refused = await stack.kafka.collect(
            [stack.topics["notifications"], stack.topics["deadletter"]], count=1, timeout=QUIET
        )
        assert refused == [], "Kafka took nothing while the topics' limit was below a record's size"

        await limit_message_bytes(stack, KAFKA_DEFAULT_MAX_MESSAGE_BYTES, "notifications", "deadletter")
        published = await stack.kafka.collect([stack.topics["notifications"]], count=4, timeout=45, settle=1)
        dead = await stack.kafka.collect([stack.topics["deadletter"]], count=1, timeout=15, settle=0.5)
        failed_rounds = await metric(
            app, "hypercare_notifier_loop_failures_total", loop="records", kind="surroundings"
        )

    copies: dict[tuple[str, DeliveryOutcome, int], set[bytes]] = defaultdict(set)
    for message in published:
        record = NotificationRecord.model_validate_json(message.value)
        copies[record.idempotency_key, record.outcome, record.attempt].add(message.value)
    assert all(len(values) == 1 for values in copies.values()), "a record published again is the same bytes"
    assert sorted(outcome for _, outcome, _ in copies) == sorted(
        [DeliveryOutcome.SENT, DeliveryOutcome.SENT, DeliveryOutcome.DIGESTED, DeliveryOutcome.FAILED]
    ), "the decision told, the one folded, the digest, the one that failed"
    failed_key = idempotency_key(failing.issue_id, failing.decision_id, 0, "slack-payments")
    assert (failed_key, DeliveryOutcome.FAILED, 1) in copies
    assert len({m.value for m in dead}) == 1, "one dead letter (a repeat is the same bytes)"
    found = DeadLetter.model_validate_json(dead[0].value)
    assert (found.error_class, found.source_topic) == (ErrorClass.DELIVERY_FAILED, stack.topics["triaged"])
    assert failed_key in found.reason
    assert dead[0].headers.get("hypercare-deadletter-reason")
    assert failed_rounds >= 1, "the relay's failed rounds are counted"
