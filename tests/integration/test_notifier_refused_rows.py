"""A batch PostgreSQL refuses one message's row of, on the real Kafka, PostgreSQL and Redis: the other
messages of the batch are delivered, the refused one is dead-lettered, and the partition goes on."""

import asyncpg
import pytest
import redis.asyncio as aioredis
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.triaged import TriagedIssue
from hypercare_notifier.app import create_app
from hypercare_runtime.db import apply_migrations, open_pool

from tests.support.kafka import wait_for
from tests.support.receivers import NotifierStack, make_decision
from tests.support.services import running

pytestmark = pytest.mark.integration


async def refuse_snapshot_of(database_url: str, issue_id: str) -> None:
    """Make PostgreSQL refuse the notifier's snapshot row of ``issue_id`` (a ``CHECK``: SQLSTATE class 23).

    It stands for any value the database refuses that no check before the write knew of. A ``version``
    past PostgreSQL's ``integer`` (2147483648) was one, until the contract bounded it (``Int32``): such a
    decision is now a schema violation, dead-lettered before the store is reached.
    """
    pool = await open_pool(database_url, max_size=1)
    try:
        await apply_migrations(pool)
        await pool.execute(
            f"ALTER TABLE notifier_issues ADD CONSTRAINT refused_by_the_test CHECK (issue_id <> '{issue_id}')"
        )
    finally:
        await pool.close()


async def sent_log(database_url: str, count: int) -> dict[str, str] | None:
    """Issue id -> status of each row of the delivery log, once it holds ``count`` rows all ``sent``."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT issue_id, status FROM deliveries")
    finally:
        await conn.close()
    log = {r["issue_id"]: r["status"] for r in rows}
    return log if len(log) == count and set(log.values()) == {"sent"} else None


async def storm_count(stack: NotifierStack) -> int:
    """What the notifier's storm counters in Redis have counted, all routes and windows."""
    client = aioredis.from_url(stack.endpoints.redis_url)
    try:
        names = [name async for name in client.scan_iter(match=f"{stack.prefix}:storm:*")]
        return sum([await client.hlen(name) for name in names])
    finally:
        await client.aclose()


async def test_a_message_postgresql_refuses_is_dead_lettered_and_the_rest_of_its_batch_delivered(
    stack: NotifierStack, group_id: str
) -> None:
    first, refused, last = make_decision(), make_decision(), make_decision()
    await refuse_snapshot_of(stack.database_url, refused.issue_id)
    for decision in (first, refused, last):
        # One key: one partition, in this order, read in one poll when the notifier starts.
        await stack.kafka.send(stack.topics["triaged"], decision.model_dump_json(), key=b"one-partition")

    app = create_app(stack.settings(group_id, stack.policy()))
    async with running(app):
        await wait_for(lambda: len(stack.receiver.on("/hook")) == 2, what="the two webhook calls")
        dead = await stack.kafka.collect([stack.topics["deadletter"]], count=1, timeout=30, settle=0.5)
        log = await wait_for(lambda: sent_log(stack.database_url, 2), what="two deliveries marked sent")

    told = sorted(r.json()["trigger_id"] for r in stack.receiver.on("/hook"))
    assert told == sorted([first.decision_id, last.decision_id])
    assert log == {first.issue_id: "sent", last.issue_id: "sent"}, "nothing recorded for the refused one"
    assert len(dead) == 1
    letter = DeadLetter.model_validate_json(dead[0].value)
    assert (letter.error_class, letter.source_topic, letter.offset) == (
        ErrorClass.PROCESSING_ERROR,
        stack.topics["triaged"],
        1,
    )
    assert "CheckViolationError" in letter.reason
    assert TriagedIssue.model_validate_json(letter.original) == refused
    assert dead[0].headers["hypercare-deadletter-reason"] == ErrorClass.PROCESSING_ERROR.value
    assert await storm_count(stack) == 3, "each decision counted once, not again when recorded one by one"
