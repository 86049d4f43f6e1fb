"""Consumer lag, as the services' own consumers see it: end of each assigned partition minus position."""

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from hypercare_runtime.metrics import PipelineMetrics


async def consumer_lag(consumer: AIOKafkaConsumer) -> dict[str, int]:
    """Messages behind the end, summed per topic over the partitions this consumer owns.

    Partitions whose end or position is not known yet (no fetch so far) are left out.
    """
    lag: dict[str, int] = defaultdict(int)
    for partition in consumer.assignment():
        end = consumer.highwater(partition)
        if end is None:
            continue
        position = await consumer.position(partition)
        lag[partition.topic] += max(0, end - position)
    return dict(lag)


def _consumers(broker: KafkaBroker) -> Iterable[AIOKafkaConsumer]:
    subscribers: Iterable[Any] = broker.subscribers
    for subscriber in subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if isinstance(consumer, AIOKafkaConsumer):
            yield consumer


async def report_consumer_lag(
    broker: KafkaBroker, metrics: PipelineMetrics, *, interval: float = 5.0
) -> None:
    """Refresh ``hypercare_consumer_lag_messages`` for every subscriber of ``broker`` until cancelled."""
    while True:
        for consumer in _consumers(broker):
            with contextlib.suppress(KafkaError, TimeoutError, AssertionError):
                # AssertionError: aiokafka asserts a partition is still assigned during a rebalance.
                lag = await asyncio.wait_for(consumer_lag(consumer), timeout=interval)
                for topic, value in lag.items():
                    metrics.consumer_lag.labels(metrics.service, topic).set(value)
        await asyncio.sleep(interval)
