"""A Kafka header name that is not UTF-8, written by a librdkafka producer (kcat), on the real broker.

aiokafka fails to read such a record below FastStream: without ``HeaderSafeConsumer`` every poll of its
partition fails, for good, and no record of it is handled again (nor the ones fetched with it).
"""

import asyncio
import json
import shutil
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import TopicPartition
from faststream import AckPolicy
from hypercare_contracts import DeadLetter, ErrorClass, NormalizedReport
from hypercare_normalizer.app import create_app
from hypercare_normalizer.settings import NormalizerSettings
from hypercare_runtime.consumer import HeaderSafeConsumer
from hypercare_runtime.kafka import RawRecord, create_stream_broker, raw_records
from hypercare_runtime.metrics import PipelineMetrics
from hypercare_runtime.settings import StreamSettings
from prometheus_client import CollectorRegistry, Counter

from tests.factories.raw import make_generic_ticket
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, wait_for
from tests.support.services import running

KCAT = shutil.which("kcat")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        KCAT is None,
        reason="kcat is needed: it writes a header name from raw bytes (librdkafka); aiokafka's producer cannot",
    ),
]

BAD_HEADER = b"\xff\xfe=v"
"""``name=value`` for kcat's ``-H``: the name is the bytes FF FE, which are not UTF-8."""


async def kcat_produce(bootstrap: str, topic: str, *values: bytes, header: bytes) -> None:
    """Produce ``values`` to partition 0 in one kcat run (one batch when they are several), each with the
    header ``header``, and wait until Kafka acknowledged them."""
    assert KCAT is not None
    process = await asyncio.create_subprocess_exec(
        KCAT, "-P", "-b", bootstrap, "-t", topic, "-p", "0", "-H", header,
        stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(b"\n".join(values)), timeout=30)
    assert process.returncode == 0, stderr.decode(errors="replace")


def ticket(ticket_id: str) -> bytes:
    """A raw desk ticket the normalizer turns into one report."""
    return json.dumps(make_generic_ticket(id=ticket_id)).encode()


async def test_the_normalizer_dead_letters_reports_with_such_a_header_and_goes_on(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str
) -> None:
    names = await kafka.topics("tickets", "feedback", "social", "alerts", "normalized", "deadletter")
    settings = NormalizerSettings(
        kafka_bootstrap=endpoints.kafka_bootstrap,
        group_id=group_id,
        raw_tickets_topic=names["tickets"],
        raw_feedback_topic=names["feedback"],
        raw_social_topic=names["social"],
        raw_alerts_topic=names["alerts"],
        normalized_topic=names["normalized"],
        deadletter_topic=names["deadletter"],
    )
    bootstrap, tickets = endpoints.kafka_bootstrap, names["tickets"]
    await kcat_produce(bootstrap, tickets, ticket("T-1"), header=b"hypercare-trace-id=trace-1")
    await kcat_produce(bootstrap, tickets, ticket("T-2"), ticket("T-3"), header=BAD_HEADER)
    await kcat_produce(bootstrap, tickets, ticket("T-4"), header=b"hypercare-trace-id=trace-4")

    async with running(create_app(settings)):
        reports = await kafka.collect([names["normalized"]], count=2, timeout=30, settle=1.0)
        dead = await kafka.collect([names["deadletter"]], count=2, timeout=10, settle=1.0)

    assert sorted(NormalizedReport.model_validate_json(m.value).trace_id for m in reports) == [
        "trace-1",
        "trace-4",
    ]
    letters = sorted((DeadLetter.model_validate_json(m.value) for m in dead), key=lambda d: d.offset or 0)
    assert [(d.offset, d.error_class, d.service) for d in letters] == [
        (1, ErrorClass.INVALID_ENCODING, "normalizer"),
        (2, ErrorClass.INVALID_ENCODING, "normalizer"),
    ]
    assert [json.loads(d.original)["id"] for d in letters] == ["T-2", "T-3"]
    assert letters[0].original_headers == {"\\xff\\xfe": "v"}
    assert "b'\\xff\\xfe'" in letters[0].reason
    assert {m.headers["hypercare-deadletter-reason"] for m in dead} == {"invalid_encoding"}


class LifecycleLikeSettings(StreamSettings):
    """A consuming service's settings: they name its dead-letter topic."""

    deadletter_topic: str


async def test_a_one_record_subscriber_skips_it_to_the_dead_letters_and_counts_it(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str
) -> None:
    names = await kafka.topics("commands", "deadletter", partitions=1)
    settings = LifecycleLikeSettings(
        kafka_bootstrap=endpoints.kafka_bootstrap, deadletter_topic=names["deadletter"]
    )
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry, service="lifecycle")
    broker = create_stream_broker(
        settings,
        service="lifecycle",
        registry=registry,
        deadletter_topic=settings.deadletter_topic,
        dead_letters=metrics.dead_letters,
    )
    handled: list[bytes | None] = []

    # As triage subscribes to lifecycle commands: one record at a time, acknowledged unless it raises.
    @broker.subscriber(
        names["commands"],
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_records,
    )
    async def on_command(record: RawRecord) -> None:
        handled.append(record.value)

    for value, header in ((b"c-1", b"x=1"), (b"c-2", BAD_HEADER), (b"c-3", b"x=3")):
        await kcat_produce(endpoints.kafka_bootstrap, names["commands"], value, header=header)
    async with broker:
        await broker.start()
        await wait_for(lambda: len(handled) >= 2, timeout=30, what="the records around the one at fault")
        dead = await kafka.collect([names["deadletter"]], count=1, timeout=10, settle=0.5)

    assert handled == [b"c-1", b"c-3"]
    assert [(DeadLetter.model_validate_json(m.value).offset, m.key) for m in dead] == [(1, None)]
    labels = {"service": "lifecycle", "reason": "invalid_encoding"}
    assert registry.get_sample_value("hypercare_dead_letters_total", labels) == 1.0


async def test_records_whose_dead_letter_failed_are_fetched_again(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str
) -> None:
    topic = (await kafka.topics("raw", partitions=1))["raw"]
    for value, header in ((b"r-0", b"x=0"), (b"r-1", BAD_HEADER), (b"r-2", b"x=2")):
        await kcat_produce(endpoints.kafka_bootstrap, topic, value, header=header)
    attempts: list[list[int]] = []

    async def dead_letters(records: Any) -> None:
        attempts.append([record.offset for record in records])
        if len(attempts) == 1:
            raise KafkaTimeoutError("the dead-letter topic did not answer")

    consumer = HeaderSafeConsumer(
        topic,
        bootstrap_servers=endpoints.kafka_bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        unreadable=dead_letters,
    )
    await consumer.start()
    try:
        with pytest.raises(KafkaTimeoutError):
            await wait_for(lambda: consumer.getmany(timeout_ms=500), timeout=30, what="a first fetch")
        fetched = await wait_for(lambda: consumer.getmany(timeout_ms=500), timeout=30, what="a second fetch")
    finally:
        await consumer.stop()

    assert attempts == [[1], [1]]
    assert [record.value for records in fetched.values() for record in records] == [b"r-0", b"r-2"]


async def test_a_record_dead_lettered_once_is_not_again_when_the_service_fetches_its_batch_again(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str
) -> None:
    topic = (await kafka.topics("raw", partitions=1))["raw"]
    for value, header in ((b"r-0", b"x=0"), (b"r-1", BAD_HEADER), (b"r-2", b"x=2")):
        await kcat_produce(endpoints.kafka_bootstrap, topic, value, header=header)
    attempts: list[list[int]] = []

    async def dead_letters(records: Any) -> None:
        attempts.append([record.offset for record in records])

    consumer = HeaderSafeConsumer(
        topic,
        bootstrap_servers=endpoints.kafka_bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        unreadable=dead_letters,
    )
    await consumer.start()
    try:
        first = await values_up_to(consumer, b"r-2")
        consumer.seek(TopicPartition(topic, 0), 0)  # as OffsetCommitter.rewind does when a batch failed
        again = await values_up_to(consumer, b"r-2")
    finally:
        await consumer.stop()

    assert first == again == [b"r-0", b"r-2"]
    assert attempts == [[1]], "one dead letter, however often the record is fetched"


async def values_up_to(consumer: HeaderSafeConsumer, last: bytes) -> list[bytes | None]:
    """The values ``consumer.getmany`` returns, poll after poll, until ``last`` is among them."""
    values: list[bytes | None] = []

    async def polled() -> bool:
        fetched = await consumer.getmany(timeout_ms=500)
        values.extend(record.value for records in fetched.values() for record in records)
        return last in values

    await wait_for(polled, timeout=30, what=f"the records up to {last!r}")
    return values


async def test_a_dead_letter_failing_on_a_defect_is_retried_after_faststream_s_pause_not_at_once(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str
) -> None:
    names = await kafka.topics("commands", "deadletter", partitions=1)
    settings = LifecycleLikeSettings(
        kafka_bootstrap=endpoints.kafka_bootstrap, deadletter_topic=names["deadletter"]
    )
    # A defect after the dead letter was written: a counter without the ``reason`` label raises ValueError.
    mislabelled = Counter("hypercare_dead_letters", "dead letters", ["service"], registry=CollectorRegistry())
    broker = create_stream_broker(
        settings,
        service="lifecycle",
        registry=CollectorRegistry(),
        deadletter_topic=settings.deadletter_topic,
        dead_letters=mislabelled,
    )

    @broker.subscriber(
        names["commands"],
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_records,
    )
    async def on_command(record: RawRecord) -> None:
        pass

    await kcat_produce(endpoints.kafka_bootstrap, names["commands"], b"c-1", header=BAD_HEADER)
    async with broker:
        await broker.start()
        dead = await kafka.collect([names["deadletter"]], count=2, timeout=30)

    letters = [DeadLetter.model_validate_json(m.value) for m in dead[:2]]
    assert [d.offset for d in letters] == [0, 0], "written again: the consumer fetched it again"
    pause = (letters[1].failed_at - letters[0].failed_at).total_seconds()
    assert pause >= 4.0, f"FastStream waits 5 s after a Kafka error; it restarted after {pause:.3f} s"
