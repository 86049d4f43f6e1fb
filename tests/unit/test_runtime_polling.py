"""A batch subscriber's poll: records handed over as soon as they are fetched, no sleep after an empty poll.

The subscriber is FastStream's own, driven by FastStream's own consume loop; only the consumer is a fake,
so an upgrade that stops calling ``get_msg`` (or sleeps elsewhere) fails here.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import ConsumerStoppedError
from aiokafka.structs import TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber
from hypercare_runtime.kafka import poll_without_idle_sleep
from hypercare_runtime.settings import StreamSettings
from pydantic import ValidationError

pytestmark = pytest.mark.unit

P0, P1 = TopicPartition("raw", 0), TopicPartition("raw", 1)


@dataclass
class FakeConsumer:
    """Answers each ``getmany`` with the next prepared poll, then stops; records every call."""

    polls: Iterator[dict[TopicPartition, list[str]]]
    calls: list[tuple[float, int | None]] = field(default_factory=list)

    async def getmany(self, timeout_ms: float = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.calls.append((timeout_ms, max_records))
        try:
            return next(self.polls)
        except StopIteration:
            raise ConsumerStoppedError() from None


def subscriber() -> BatchSubscriber:
    return KafkaBroker("127.0.0.1:9092").subscriber("raw", batch=True, group_id="g", max_records=50)


async def run_loop(
    sub: BatchSubscriber, consumer: FakeConsumer, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[tuple[str, ...]], list[float]]:
    """Run FastStream's consume loop until the consumer stops: the batches handed over, and any sleeps."""
    handed: list[tuple[str, ...]] = []
    slept: list[float] = []

    async def consume_one(msg: tuple[str, ...]) -> None:
        handed.append(msg)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(sub, "consume_one", consume_one)
    monkeypatch.setattr("faststream.kafka.subscriber.usecase.anyio.sleep", sleep)
    sub.running = True
    await sub._run_consume_loop(consumer)  # the fake has all the loop uses
    return handed, slept


async def test_empty_polls_are_followed_by_the_next_poll_without_sleeping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sub = subscriber()
    poll_without_idle_sleep(sub, wait_ms=100)
    consumer = FakeConsumer(iter([{}, {}, {P0: ["a", "b"], P1: ["c"]}, {}, {P1: ["d"]}]))

    handed, slept = await run_loop(sub, consumer, monkeypatch)

    assert handed == [("a", "b", "c"), ("d",)]
    assert slept == []
    assert consumer.calls == [(100, 50)] * 6  # five polls, and the one the stopped consumer refused


async def test_faststreams_own_poll_sleeps_after_an_empty_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the replacement is for: without it, every empty poll is followed by a sleep of the timeout."""
    sub = KafkaBroker("127.0.0.1:9092").subscriber("raw", batch=True, group_id="g", batch_timeout_ms=1)
    consumer = FakeConsumer(iter([{}, {P0: ["a"]}, {}]))

    handed, slept = await run_loop(sub, consumer, monkeypatch)

    assert handed == [("a",)]
    assert slept == [0.001, 0.001]


def test_a_poll_that_never_waits_is_refused() -> None:
    with pytest.raises(ValueError, match="wait_ms must be positive"):
        poll_without_idle_sleep(subscriber(), wait_ms=0)


def test_a_poll_wait_of_zero_is_refused_when_the_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERCARE_BATCH_TIMEOUT_MS", "0")
    with pytest.raises(ValidationError, match="batch_timeout_ms"):
        StreamSettings()
