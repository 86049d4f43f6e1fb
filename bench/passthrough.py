"""The Kafka side of the benchmark: topics, preloading, offsets, and the raw pass-through ceiling.

The pass-through is the most a Python consumer-producer pair can move on this broker and machine:
consume in batches with ``getmany``, produce every record unchanged with ``send`` and gather the
delivery futures, commit, repeat. No parsing. The producer has the defaults of the services' brokers
(``acks=all``, idempotence, ``linger_ms=2``, 256 KiB batches: what the gateway publishes raw messages
with; the stream services set their linger to 0, as they flush after every batch), so the pipeline is
compared with a ceiling that pays for the same delivery guarantees.
"""

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from hypercare_contracts.topics import HEADER_INGESTED_AT

from bench.generate import RawMessage

SERVICE_PRODUCER = {"acks": "all", "enable_idempotence": True, "linger_ms": 2, "max_batch_size": 256 * 1024}
_PRELOAD_CHUNK = 5000


def producer(bootstrap: str) -> AIOKafkaProducer:
    """A producer with the defaults of the services' brokers (:data:`SERVICE_PRODUCER`): the gateway's
    settings, so the bench's raw messages reach Kafka as the gateway's would."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **SERVICE_PRODUCER)


async def create_topics(bootstrap: str, names: Iterable[str], *, partitions: int) -> None:
    """Create the topics and wait until the broker reports their leaders."""
    names = list(names)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()
    await end_offsets(bootstrap, names, partitions=partitions)


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    """Delete the topics (those that do not exist are ignored by the broker's answer)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def end_offsets(bootstrap: str, names: Sequence[str], *, partitions: int) -> int:
    """Sum of the end offsets of every partition of the topics (= messages written, no transactions)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        offsets = await consumer.end_offsets([TopicPartition(t, p) for t in names for p in range(partitions)])
        return sum(offsets.values())
    finally:
        await consumer.stop()


class OffsetWatcher:
    """Cheap progress probes: a group's committed offsets and topics' end offsets, on one connection each."""

    def __init__(self, bootstrap: str, *, partitions: int) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._partitions = partitions

    async def start(self) -> None:
        """Connect."""
        await self._admin.start()
        await self._consumer.start()

    async def stop(self) -> None:
        """Disconnect."""
        await self._consumer.stop()
        await self._admin.close()

    async def committed(self, group_id: str, names: Sequence[str]) -> int:
        """Sum of the group's committed offsets on the topics (0 before its first commit)."""
        offsets = await self._admin.list_consumer_group_offsets(group_id)
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic in names and meta.offset > 0)

    async def end(self, names: Sequence[str]) -> int:
        """Sum of the topics' end offsets."""
        parts = [TopicPartition(t, p) for t in names for p in range(self._partitions)]
        return sum((await self._consumer.end_offsets(parts)).values())


async def preload(
    bootstrap: str, messages: Sequence[RawMessage], topic_of: Callable[[RawMessage], str]
) -> float:
    """Produce the messages as fast as possible, stamped with their send time; returns seconds taken."""
    out = producer(bootstrap)
    await out.start()
    started = time.perf_counter()
    try:
        for i in range(0, len(messages), _PRELOAD_CHUNK):
            futures = []
            for message in messages[i : i + _PRELOAD_CHUNK]:
                stamp = f"{time.time():.6f}".encode()
                futures.append(
                    await out.send(
                        topic_of(message),
                        message.value,
                        key=message.key,
                        headers=[(HEADER_INGESTED_AT, stamp)],
                    )
                )
            await asyncio.gather(*futures)
    finally:
        await out.stop()
    return time.perf_counter() - started


@dataclass(frozen=True)
class PassthroughResult:
    """How fast raw bytes cross Kafka through one Python consumer-producer pair."""

    messages: int
    seconds: float
    preload_seconds: float
    mib: float

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds if self.seconds else 0.0


async def passthrough(
    bootstrap: str,
    messages: Sequence[RawMessage],
    *,
    source: str,
    target: str,
    group_id: str,
    max_records: int = 1000,
    limit_s: float = 600.0,
) -> PassthroughResult:
    """Preload ``messages`` on ``source``, then time moving them all to ``target``.

    The clock starts when the first batch arrives (the consumer group join is excluded, as it is for
    the pipeline) and stops when the last produced batch is acknowledged and its offsets committed.
    """
    preload_seconds = await preload(bootstrap, messages, lambda _: source)
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    out = producer(bootstrap)
    await out.start()
    await consumer.start()
    moved, started, deadline = 0, 0.0, time.monotonic() + limit_s
    try:
        while moved < len(messages):
            if time.monotonic() > deadline:
                raise TimeoutError(f"pass-through moved {moved} of {len(messages)} in {limit_s} s")
            batch = await consumer.getmany(timeout_ms=100, max_records=max_records)
            if not batch:
                continue
            if not started:
                started = time.perf_counter()
            futures = [
                await out.send(target, r.value, key=r.key, headers=list(r.headers))
                for records in batch.values()
                for r in records
            ]
            await asyncio.gather(*futures)
            await consumer.commit()
            moved += len(futures)
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
        await out.stop()
    mib = sum(len(m.value) for m in messages) / 2**20
    return PassthroughResult(messages=moved, seconds=seconds, preload_seconds=preload_seconds, mib=mib)
