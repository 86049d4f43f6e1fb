"""Consumed records' headers: FastStream's parsing after their values were made text (``text_headers``),
and a header name that is not UTF-8, which aiokafka cannot read (``HeaderSafeConsumer``)."""

import collections
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.consumer.fetcher import READ_UNCOMMITTED, FetchResult, PartitionRecords
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import ConsumerRecord, TopicPartition
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaBatchParser, AioKafkaParser
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.topics import HEADER_DEADLETTER_REASON
from hypercare_runtime.consumer import guard_fetcher
from hypercare_runtime.kafka import text_headers
from hypercare_runtime.metrics import PipelineMetrics
from hypercare_runtime.records import LenientMemoryRecords, undecodable_header_names
from hypercare_runtime.unreadable import UnreadableRecords, unreadable_dead_letter
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.unit


def _record(offset: int, headers: Any) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=b"{}",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=2,
        headers=headers,
    )


async def test_a_batch_with_headers_faststream_cannot_decode_is_parsed_all_the_same() -> None:
    batch = (
        _record(0, (("x-empty", None),)),
        _record(1, (("x-bin", b"caf\xe9"),)),
        _record(2, (("hypercare-trace-id", b"t-1"),)),
    )
    parser = AioKafkaBatchParser(KafkaMessage, None)
    with pytest.raises((AttributeError, UnicodeDecodeError)):
        await parser.parse_batch(batch)  # what failed the batch before any handler ran

    message = await text_headers(batch, parser.parse_batch)

    assert message.batch_headers == [{"x-empty": ""}, {"x-bin": "caf\ufffd"}, {"hypercare-trace-id": "t-1"}]
    assert [record.offset for record in message.raw_message] == [0, 1, 2]
    assert message.raw_message[2] is batch[2], "a record whose headers are ASCII passes as it is"


async def test_a_single_record_is_parsed_the_same_way() -> None:
    parser = AioKafkaParser(KafkaMessage, None)

    message = await text_headers(_record(5, (("x-empty", None),)), parser.parse_message)

    assert message.headers == {"x-empty": ""}


# A Kafka header *name* that is not UTF-8, which aiokafka fails on below FastStream, while it reads a
# fetched batch (``HeaderSafeConsumer``). The message sets are made here as a fetch response holds them;
# the real broker and a librdkafka producer are in tests/integration/test_runtime_header_names.py.

TP = TopicPartition("raw", 0)
TRACE = ("hypercare-trace-id", b"t-1")


class RawName(str):
    """A header name whose bytes are ``raw``, as a producer taking bytes writes it (librdkafka)."""

    raw: bytes

    def __new__(cls, raw: bytes) -> "RawName":
        name = super().__new__(cls, raw.decode("latin-1"))
        name.raw = raw
        return name

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


def message_set(
    *batches: tuple[int, list[tuple[bytes, list[tuple[str, bytes]]]]], gzip: bool = False
) -> bytes:
    """Record batches (format v2) at the given first offsets, each record a (value, headers)."""
    data = bytearray()
    for base_offset, records in batches:
        # aiokafka's pure-Python builder: it encodes a header name with ``str.encode``, so a RawName
        # writes its bytes (its C builder, and so its producer, cannot write them).
        builder = _DefaultRecordBatchBuilderPy(2, 1 if gzip else 0, 0, -1, -1, -1, 1 << 20)
        for delta, (value, headers) in enumerate(records):
            builder.append(delta, timestamp=1_700_000_000_000 + delta, key=b"k", value=value, headers=headers)
        built = builder.build()
        built[0:8] = base_offset.to_bytes(8, "big", signed=True)
        data += built
    return bytes(data)


@dataclass
class Position:
    """A partition's fetch state, as aiokafka's ``FetchResult`` reads and moves it."""

    position: int = 0
    paused: bool = False

    def consumed_to(self, offset: int) -> None:
        self.position = offset


@dataclass
class Assignment:
    """aiokafka's assignment of one partition, for ``FetchResult``."""

    state: Position = field(default_factory=Position)
    active: bool = True

    def state_value(self, tp: TopicPartition) -> Position:
        return self.state


@dataclass
class FetchResponse:
    """One partition's part of a fetch response (v11: last stable offset, log start, aborted, replica)."""

    message_set: bytes
    API_KEY: int = 1

    @property
    def topics(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        return [(TP.topic, [(TP.partition, 0, 100, 100, 0, [], -1, self.message_set)])]


@dataclass
class Client:
    """The fetcher's client: answers every request with ``response``."""

    response: FetchResponse

    async def send(self, node_id: int, request: Any) -> FetchResponse:
        return self.response


@dataclass
class Fetcher:
    """What ``guard_fetcher`` changes of aiokafka's ``Fetcher``."""

    _client: Any
    _records: Any = field(default_factory=collections.OrderedDict)


async def fetched(data: bytes, *, guard: bool, assignment: Assignment) -> tuple[FetchResult, list[Any]]:
    """The fetcher's result for ``data`` fetched at the assignment's position, as aiokafka stores it."""
    fetcher = Fetcher(Client(FetchResponse(data)))
    flagged: list[Any] = []
    if guard:
        guard_fetcher(fetcher, flagged.append)
    await fetcher._client.send(1, FetchResponse(data))  # what the fetcher does, then it stores the result
    start = assignment.state.position
    records = PartitionRecords(TP, MemoryRecords(data), [], start, None, None, True, READ_UNCOMMITTED)
    fetcher._records[TP] = FetchResult(TP, assignment=assignment, partition_records=records, backoff=0)
    result: FetchResult = fetcher._records[TP]
    return result, flagged


GOOD = [TRACE]
BAD = [(RawName(b"\xff\xfe"), b"v"), TRACE]
ONE_BAD_IN_THE_MIDDLE = message_set(
    (0, [(b"r0", GOOD), (b"r1", BAD), (b"r2", GOOD)]),
    (3, [(b"r3", GOOD), (b"r4", GOOD)]),
)


async def test_aiokafka_fails_on_a_header_name_that_is_not_utf8_and_its_position_does_not_move() -> None:
    assignment = Assignment()
    for _ in range(2):  # fetched again from the same position: the same failure, for good
        result, _ = await fetched(ONE_BAD_IN_THE_MIDDLE, guard=False, assignment=assignment)
        with pytest.raises(UnicodeDecodeError):
            result.getall()
        assert assignment.state.position == 0, "not even r0, read before it, is handed over"


@pytest.mark.parametrize("gzip", [False, True])
async def test_a_guarded_fetch_hands_over_every_record_and_flags_the_one_at_fault(gzip: bool) -> None:
    assignment = Assignment()
    data = message_set(*((0, [(b"r0", GOOD), (b"r1", BAD), (b"r2", GOOD)]), (3, [(b"r3", GOOD)])), gzip=gzip)
    result, flagged = await fetched(data, guard=True, assignment=assignment)

    first = result.getall(max_records=2)
    assert [r.value for r in first] == [b"r0", b"r1"]
    assert assignment.state.position == 2, "the position moves past the record at fault"
    rest = result.getall()

    assert [r.value for r in rest] == [b"r2", b"r3"]
    assert assignment.state.position == 4
    assert [(r.offset, r.value) for r in flagged] == [(1, b"r1")]
    assert flagged[0].headers == (("\udcff\udcfe", b"v"), TRACE)
    assert undecodable_header_names(flagged[0].headers) == [b"\xff\xfe"]
    assert rest[0].headers == (TRACE,)
    assert rest[0].key == b"k"
    assert rest[0].timestamp == 1_700_000_000_002


async def test_a_guarded_fetch_read_from_the_middle_of_a_batch_goes_on_from_there() -> None:
    assignment = Assignment(Position(position=1))  # r0 was handed over by an earlier fetch
    result, flagged = await fetched(ONE_BAD_IN_THE_MIDDLE, guard=True, assignment=assignment)

    assert [(r.offset, r.value) for r in result.getall()] == [(1, b"r1"), (2, b"r2"), (3, b"r3"), (4, b"r4")]
    assert [r.offset for r in flagged] == [1]
    assert assignment.state.position == 5


async def test_a_guarded_fetch_without_a_bad_name_is_aiokafka_s_own_reading() -> None:
    data = message_set((0, [(b"r0", GOOD), (b"r1", [])]), (2, [(b"r2", GOOD)]))
    plain, _ = await fetched(data, guard=False, assignment=Assignment())
    guarded, flagged = await fetched(data, guard=True, assignment=Assignment())

    assert guarded.getall() == plain.getall()
    assert flagged == []


@pytest.mark.parametrize("gzip", [False, True])
@pytest.mark.parametrize("start", [0, 1])  # a fetch response starts with the batch holding its offset
def test_the_lenient_reading_is_aiokafka_s_reading_of_the_same_bytes(gzip: bool, start: int) -> None:
    data = message_set(
        (0, [(b"r0", GOOD), (b"r1", [("empty", None)])]),  # type: ignore[list-item]  # Kafka allows it
        (2, [(b"r2", GOOD), (b"", [])]),
        gzip=gzip,
    )

    def read(records: Any) -> list[Any]:
        partition = PartitionRecords(TP, records, [], start, None, None, True, READ_UNCOMMITTED)
        return [*partition, partition.next_fetch_offset]

    assert read(LenientMemoryRecords(data, from_offset=start)) == read(MemoryRecords(data))


def test_the_lenient_reading_leaves_out_batches_before_its_start_and_an_incomplete_last_one() -> None:
    data = message_set((0, [(b"r0", GOOD), (b"r1", GOOD)]), (2, [(b"r2", GOOD)]), (3, [(b"r3", GOOD)]))

    records = LenientMemoryRecords(data[:-5], from_offset=2)

    batch = records.next_batch()
    assert batch.base_offset == 2
    assert batch.validate_crc()
    assert [r.value for r in batch] == [b"r2"]
    assert not records.has_next()


def unreadable_record(**overrides: Any) -> ConsumerRecord[bytes, bytes]:
    """A record as ``HeaderSafeConsumer`` sets it aside: a header name read with surrogateescape."""
    fields: dict[str, Any] = {
        "topic": "hypercare.raw.tickets",
        "partition": 2,
        "offset": 41,
        "timestamp": 0,
        "timestamp_type": 0,
        "key": b"T-1",
        "value": b'{"id": "T-1"}',
        "checksum": None,
        "serialized_key_size": 3,
        "serialized_value_size": 13,
        "headers": (("\udcff\udcfe", b"v"), ("hypercare-trace-id", b"trace-7")),
    }
    return ConsumerRecord(**{**fields, **overrides})


def test_the_dead_letter_of_an_unreadable_record_names_the_bytes_and_keeps_the_message() -> None:
    dead = unreadable_dead_letter(unreadable_record(), service="normalizer")

    assert dead.error_class is ErrorClass.INVALID_ENCODING
    assert "b'\\xff\\xfe'" in dead.reason
    assert (dead.source_topic, dead.partition, dead.offset, dead.key) == (
        "hypercare.raw.tickets",
        2,
        41,
        "T-1",
    )
    assert (dead.original, dead.original_encoding) == ('{"id": "T-1"}', "utf-8")
    assert dead.original_headers == {"\\xff\\xfe": "v", "hypercare-trace-id": "trace-7"}
    assert dead.trace_id == "trace-7"
    assert DeadLetter.model_validate_json(dead.model_dump_json()) == dead, "it can be written as JSON"


async def test_unreadable_records_are_published_one_by_one_and_counted() -> None:
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry, service="normalizer")
    published: list[tuple[Any, ...]] = []

    async def publish(body: bytes, topic: str, *, key: bytes | None, headers: dict[str, str]) -> None:
        published.append((DeadLetter.model_validate_json(body).offset, topic, key, headers))

    dead_letters = UnreadableRecords(publish, service="normalizer", topic="dl", counter=metrics.dead_letters)
    await dead_letters([unreadable_record(offset=41), unreadable_record(offset=43, key=None)])

    assert [(offset, topic, key) for offset, topic, key, _ in published] == [
        (41, "dl", b"T-1"),
        (43, "dl", None),
    ]
    assert published[0][3][HEADER_DEADLETTER_REASON] == "invalid_encoding"
    labels = {"service": "normalizer", "reason": "invalid_encoding"}
    assert registry.get_sample_value("hypercare_dead_letters_total", labels) == 2.0
