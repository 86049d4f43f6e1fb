"""Exactly-once effect: a notifier killed mid-burst, and two notifiers on the same topics and database."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypercare_contracts.notifications import DeliveryOutcome, NotificationRecord
from hypercare_notifier.app import create_app
from hypercare_notifier.planning import idempotency_key

from tests.support.kafka import wait_for
from tests.support.receivers import SECRET_ENV, NotifierStack, Reply, make_decision
from tests.support.services import running

pytestmark = pytest.mark.integration

NO_STORM_LIMIT = {"max_per_window": 10_000}


@asynccontextmanager
async def notifier_process(
    stack: NotifierStack, group_id: str, policy: Path, *, instance: str, **extra: Any
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m hypercare_notifier`` with its settings in the environment; killed if still running after."""
    values = {**stack.env_values(group_id, policy), "instance_id": instance, "http_port": 0, **extra}
    env = {**os.environ, **SECRET_ENV, **{f"HYPERCARE_{k.upper()}": str(v) for k, v in values.items()}}
    log = (stack.tmp / f"{instance}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hypercare_notifier", env=env, stdout=log, stderr=log
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=30)
        log.close()


async def fetch(database_url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def test_kill_9_mid_burst_then_restart_delivers_every_notification(
    stack: NotifierStack, group_id: str
) -> None:
    """What is asserted, precisely.

    * Every one of the 50 notifications reached the receiver (its set of accepted idempotency keys is
      exactly the 50 expected keys) and the delivery log holds exactly 50 rows, all ``sent``.
    * A key the receiver accepted twice is one that was in flight (claimed by the killed process and
      still pending in the log) at the moment of the kill: the documented crash window, which the
      receiver closes by deduplicating on the key. No other key is ever delivered twice.
    * No key has two different ``sent`` records on the notifications topic. Records are relayed from an
      outbox at least once: one the killed process published but had not yet taken out of the outbox
      is published again, as the same bytes, for consumers to drop.
    """
    stack.receiver.script("/hook", Reply(status=200, delay=0.15))
    policy = stack.policy(storm=NO_STORM_LIMIT)
    decisions = [make_decision() for _ in range(50)]
    expected = {idempotency_key(d.issue_id, d.decision_id, 0, "webhook") for d in decisions}
    await stack.decide(*decisions)

    async with notifier_process(
        stack, group_id, policy, instance="first", concurrency=4, claim_seconds=2
    ) as first:
        await wait_for(lambda: len(stack.receiver.key_counts("/hook")) >= 12, timeout=60, what="a third sent")
        first.send_signal(signal.SIGKILL)
        await first.wait()
    in_flight = {
        r["key"]
        for r in await fetch(
            stack.database_url, "SELECT key FROM deliveries WHERE status = 'pending' AND claimed_by = 'first'"
        )
    }
    delivered_before_restart = set(stack.receiver.key_counts("/hook"))
    assert len(delivered_before_restart) < 50, "the kill happened mid-burst"

    async with notifier_process(stack, group_id, policy, instance="second", claim_seconds=2):
        await wait_for(lambda: set(stack.receiver.key_counts("/hook")) == expected, timeout=60, what="all 50")
        published = await stack.kafka.collect(
            [stack.topics["notifications"]], count=50, timeout=30, settle=2.0
        )
    rows = await fetch(stack.database_url, "SELECT key, status FROM deliveries")

    counts = stack.receiver.key_counts("/hook")
    assert set(counts) == expected
    twice = {key for key, n in counts.items() if n > 1}
    assert twice <= in_flight, "only deliveries in flight at the kill may reach the receiver twice"
    assert len(in_flight) <= 4, "never more in flight than the concurrency"
    assert sorted((r["key"], r["status"]) for r in rows) == sorted((k, "sent") for k in expected)
    sent: dict[str, set[bytes]] = {}
    for message in published:
        record = NotificationRecord.model_validate_json(message.value)
        if record.outcome is DeliveryOutcome.SENT:
            sent.setdefault(record.idempotency_key, set()).add(message.value)
    assert set(sent) == expected, "every delivery's sent record was published"
    assert all(len(values) == 1 for values in sent.values()), "no key recorded as sent twice differently"


async def test_two_instances_on_the_same_topics_and_database_deliver_each_notification_once(
    stack: NotifierStack, group_id: str
) -> None:
    stack.receiver.script("/hook", Reply(status=200, delay=0.02))
    policy = stack.policy(storm=NO_STORM_LIMIT)
    decisions = [make_decision() for _ in range(40)]
    # Separate consumer groups: both instances consume every decision and race for every delivery.
    first = create_app(stack.settings(f"{group_id}-a", policy, instance_id="a", concurrency=8))
    second = create_app(stack.settings(f"{group_id}-b", policy, instance_id="b", concurrency=8))
    async with running(first), running(second):
        await stack.decide(*decisions)
        await wait_for(lambda: len(stack.receiver.key_counts("/hook")) == 40, timeout=60)
        records = await stack.records(40, settle=2.0)
    claimants = await fetch(stack.database_url, "SELECT DISTINCT claimed_by FROM deliveries")

    counts = stack.receiver.key_counts("/hook")
    assert len(stack.receiver.on("/hook")) == 40
    assert set(counts.values()) == {1}
    assert sorted(r.idempotency_key for r in records) == sorted(counts)
    assert {r["claimed_by"] for r in claimants} <= {"a", "b"}


async def test_one_group_gives_each_instance_the_same_partitions_of_all_three_topics(
    stack: NotifierStack, group_id: str
) -> None:
    """Decisions, SLA events and lifecycle events are keyed by issue id: an issue's three streams must
    meet in one instance, or two instances would update its snapshot at once."""
    policy = stack.policy()
    apps = [create_app(stack.settings(group_id, policy, instance_id=name)) for name in ("a", "b")]
    streams = {stack.topics[name] for name in ("triaged", "sla", "lifecycle")}

    def assignments() -> list[dict[str, set[int]]]:
        found = []
        for app in apps:
            broker: Any = app.broker
            (subscriber,) = broker.subscribers
            consumer = subscriber.consumer
            owned: dict[str, set[int]] = {}
            for tp in consumer.assignment() if consumer is not None else ():
                owned.setdefault(tp.topic, set()).add(tp.partition)
            found.append(owned)
        return found

    def settled() -> list[dict[str, set[int]]] | None:
        found = assignments()
        covered = sum(len(p) for owned in found for p in owned.values())
        return found if covered == 3 * len(streams) and all(found) else None

    async with running(apps[0]), running(apps[1]):
        found = await wait_for(settled, timeout=60, what="both instances assigned")

    for owned in found:
        assert set(owned) == streams
        assert len({frozenset(parts) for parts in owned.values()}) == 1, owned
