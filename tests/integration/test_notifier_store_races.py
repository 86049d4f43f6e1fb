"""Two notifier instances on one PostgreSQL, as during a rebalance or with several replicas: a snapshot
the other instance wrote since it was read is never overwritten, and one relay at a time publishes the
outbox, so one delivery's records keep their order. On the real PostgreSQL, through the store's adapters."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import timedelta

import asyncpg
import pytest
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_store.deliveries import DeliveryStore, IssueSnapshotRow, NewDelivery, SnapshotChanged
from hypercare_store.notifier_outbox import NotifierOutbox, OutboxMessage, write_outbox

from tests.support.kafka import wait_for
from tests.support.receivers import NOW, make_decision

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    opened = await open_pool(database_url, max_size=4)
    try:
        await apply_migrations(opened)
        yield opened
    finally:
        await opened.close()


def paged_snapshot(issue_id: str) -> IssueSnapshotRow:
    """The snapshot after the issue's first decision paged PagerDuty (not stored yet)."""
    issue = make_decision(issue_id=issue_id)
    return IssueSnapshotRow(issue_id, 1, issue.model_dump_json(), False, False, ("pagerduty-payments",))


def delivery(issue_id: str, key: str) -> NewDelivery:
    return NewDelivery(
        key, issue_id, f"{key}-trigger", "sla", 1, "pagerduty-payments", "payments", None, "pending", "{}"
    )


async def stored(pool: asyncpg.Pool, issue_id: str) -> IssueSnapshotRow:
    return (await DeliveryStore(pool).snapshots([issue_id]))[issue_id]


async def test_a_snapshot_the_other_instance_wrote_since_it_was_read_is_not_overwritten(
    pool: asyncpg.Pool,
) -> None:
    old_owner, new_owner = DeliveryStore(pool), DeliveryStore(pool)
    await old_owner.record_intake(snapshots=[paged_snapshot("iss-race")], deliveries=[], windows=[])
    read_by_old = await stored(pool, "iss-race")

    # The new owner takes in a person's acknowledge (no new version) ...
    read_by_new = await stored(pool, "iss-race")
    acknowledged = replace(
        read_by_new, acknowledged=True, lifecycle_action="acknowledge", lifecycle_at=NOW, cycle_at=NOW
    )
    await new_owner.record_intake(snapshots=[acknowledged], deliveries=[], windows=[])

    # ... and the old owner, still holding the partition, writes what it planned on the same version.
    escalated = replace(read_by_old, paged_channels=("pagerduty-payments", "webhook"))
    with pytest.raises(SnapshotChanged) as refused:
        await old_owner.record_intake(
            snapshots=[escalated], deliveries=[delivery("iss-race", "k-escalation")], windows=[]
        )

    assert refused.value.issue_ids == ("iss-race",)
    row = await stored(pool, "iss-race")
    assert (row.acknowledged, row.lifecycle_action, row.lifecycle_at, row.cycle_at) == (
        True,
        "acknowledge",
        NOW,
        NOW,
    ), "the acknowledge stands"
    assert row.paged_channels == ("pagerduty-payments",)
    assert await old_owner.existing_keys(["k-escalation"]) == set(), "nothing of the refused batch is stored"

    # Planned again on what is stored now, the old owner's batch goes through.
    await old_owner.record_intake(
        snapshots=[replace(row, paged_channels=("pagerduty-payments", "webhook"))],
        deliveries=[delivery("iss-race", "k-escalation")],
        windows=[],
    )
    assert (await stored(pool, "iss-race")).acknowledged
    assert await old_owner.existing_keys(["k-escalation"]) == {"k-escalation"}


async def test_a_first_snapshot_both_instances_planned_is_written_once(pool: asyncpg.Pool) -> None:
    first, second = DeliveryStore(pool), DeliveryStore(pool)
    await first.record_intake(
        snapshots=[replace(paged_snapshot("iss-new"), lifecycle_action="resolve", resolved=True)],
        deliveries=[],
        windows=[],
    )
    with pytest.raises(SnapshotChanged):
        await second.record_intake(snapshots=[paged_snapshot("iss-new")], deliveries=[], windows=[])
    assert (await stored(pool, "iss-new")).resolved


async def add_records(pool: asyncpg.Pool, *values: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await write_outbox(conn, [OutboxMessage("notifications", "iss-1", v) for v in values])


async def test_one_relay_at_a_time_so_a_deliverys_records_keep_their_order(pool: asyncpg.Pool) -> None:
    await add_records(pool, "retried #1", "retried #2", "sent")
    published: list[str] = []
    kafka_asked, kafka_answers = asyncio.Event(), asyncio.Event()

    async def slow_kafka(messages: Sequence[OutboxMessage]) -> None:
        kafka_asked.set()
        await kafka_answers.wait()
        published.extend(m.value for m in messages)

    async def quick_kafka(messages: Sequence[OutboxMessage]) -> None:
        published.extend(m.value for m in messages)

    first = asyncio.create_task(NotifierOutbox(pool).relay_outbox(limit=2, publish=slow_kafka))
    try:
        await wait_for(kafka_asked.is_set, timeout=10, what="the first relay waiting for Kafka")
        # Another instance's relay, while the first waits for Kafka: it would publish 'sent' first.
        relayed_meanwhile = await NotifierOutbox(pool).relay_outbox(limit=500, publish=quick_kafka)
        published_meanwhile = list(published)
    finally:
        kafka_answers.set()
        first_relayed = await asyncio.wait_for(first, timeout=10)

    assert (relayed_meanwhile, published_meanwhile, first_relayed) == (0, [], 2)
    assert await NotifierOutbox(pool).relay_outbox(limit=500, publish=quick_kafka) == 1
    assert published == ["retried #1", "retried #2", "sent"]


async def test_a_relay_whose_instance_froze_mid_round_gives_the_lock_up_after_its_idle_timeout(
    pool: asyncpg.Pool,
) -> None:
    await add_records(pool, "retried #1", "sent")
    published: list[str] = []
    kafka_asked, thawed = asyncio.Event(), asyncio.Event()

    async def frozen(messages: Sequence[OutboxMessage]) -> None:
        kafka_asked.set()
        await thawed.wait()  # the host is suspended: its transaction sits idle, holding the lock

    async def quick_kafka(messages: Sequence[OutboxMessage]) -> None:
        published.extend(m.value for m in messages)

    stuck = asyncio.create_task(
        NotifierOutbox(pool, idle_timeout=timedelta(seconds=0.5)).relay_outbox(limit=500, publish=frozen)
    )
    try:
        await wait_for(kafka_asked.is_set, timeout=10, what="the frozen relay holding the lock")
        assert await NotifierOutbox(pool).relay_outbox(limit=500, publish=quick_kafka) == 0, "locked"

        async def relayed_by_another() -> bool:
            return await NotifierOutbox(pool).relay_outbox(limit=500, publish=quick_kafka) > 0

        await wait_for(relayed_by_another, timeout=10, what="PostgreSQL ending the idle session")
    finally:
        thawed.set()
        with pytest.raises(asyncpg.InterfaceError):  # its session is gone: it deletes nothing
            await asyncio.wait_for(stuck, timeout=10)

    assert published == ["retried #1", "sent"]
    assert await NotifierOutbox(pool).relay_outbox(limit=500, publish=quick_kafka) == 0
