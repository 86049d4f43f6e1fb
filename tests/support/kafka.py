"""Kafka helpers for integration tests: per-test topics, producing, and polling with deadlines."""

import asyncio
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


@dataclass(frozen=True)
class Received:
    """A consumed message, decoded."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        """The value parsed as JSON."""
        return json.loads(self.value)


class KafkaTestKit:
    """Creates uniquely named topics and reads them back with deadlines."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._created: list[str] = []

    async def start(self) -> None:
        """Connect the shared producer."""
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=0)
        await self._producer.start()

    async def stop(self) -> None:
        """Delete the topics this kit created and close the producer."""
        if self._producer is not None:
            await self._producer.stop()
        if self._created:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                await admin.delete_topics(self._created)
            finally:
                await admin.close()

    async def topics(self, *names: str, partitions: int = 3) -> dict[str, str]:
        """Create one unique topic per logical name; returns name -> real topic."""
        suffix = uuid.uuid4().hex[:10]
        mapping = {name: f"test.{name}.{suffix}" for name in names}
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in mapping.values()]
            )
        finally:
            await admin.close()
        self._created.extend(mapping.values())
        return mapping

    async def send(
        self,
        topic: str,
        value: bytes | str | Mapping[str, Any] | list[Any],
        *,
        key: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Produce one message and wait for the broker's acknowledgement."""
        assert self._producer is not None, "KafkaTestKit.start() first"
        if isinstance(value, bytes):
            payload = value
        elif isinstance(value, str):
            payload = value.encode()
        else:
            payload = json.dumps(value).encode()
        await self._producer.send_and_wait(
            topic,
            payload,
            key=key,
            headers=[(k, v.encode()) for k, v in (headers or {}).items()],
        )

    async def collect(
        self,
        topics: Iterable[str],
        *,
        count: int,
        timeout: float = 30.0,
        settle: float = 0.0,
    ) -> list[Received]:
        """Read the topics from the beginning until ``count`` messages arrived or the deadline passed.

        With ``settle`` > 0, keep reading that long after reaching ``count`` to catch unexpected extras.
        """
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.bootstrap,
            group_id=f"test-reader-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        received: list[Received] = []
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        try:
            while True:
                now = time.monotonic()
                if settle_until is None and len(received) >= count:
                    settle_until = now + settle
                if settle_until is not None and now >= settle_until:
                    break
                if now >= deadline:
                    break
                batch = await consumer.getmany(timeout_ms=200, max_records=1000)
                for records in batch.values():
                    received.extend(
                        Received(
                            r.topic,
                            r.partition,
                            r.offset,
                            r.key,
                            r.value or b"",
                            {k: v.decode() for k, v in r.headers},
                        )
                        for r in records
                    )
        finally:
            await consumer.stop()
        return received


async def wait_for(
    predicate: Any, *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll an async or sync predicate until it returns a truthy value, failing at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
