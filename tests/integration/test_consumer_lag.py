"""Consumer lag as the services export it, measured on the real broker."""

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hypercare_runtime.lag import consumer_lag

from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, wait_for

pytestmark = pytest.mark.integration


async def test_lag_is_the_end_of_the_partition_minus_the_position(
    kafka: KafkaTestKit, endpoints: Endpoints
) -> None:
    topic = (await kafka.topics("lag", partitions=1))["lag"]
    for n in range(10):
        await kafka.send(topic, {"n": n})
    consumer = AIOKafkaConsumer(bootstrap_servers=endpoints.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        assert await consumer_lag(consumer) == {}, "nothing is known before the first fetch"
        fetched = await consumer.getmany(partition, timeout_ms=5000, max_records=3)
        assert len(fetched[partition]) == 3
        assert await wait_for(lambda: consumer.highwater(partition) == 10, timeout=10, what="highwater")
        assert await consumer_lag(consumer) == {topic: 7}
    finally:
        await consumer.stop()
