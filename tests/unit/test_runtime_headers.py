"""Consumed records' headers: FastStream's parsing after their values were made text (``text_headers``),
and a header name that is not UTF-8, which aiokafka cannot read (``HeaderSafeConsumer``)."""

import collections
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.consumer.fetcher import READ_UNCOMMITTED, FetchResult, PartitionRecords
from aiokafka.errors import CorruptRecordException, KafkaError, KafkaTimeoutError
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy, _DefaultRecordBatchPy
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import ConsumerRecord, TopicPartition
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaBatchParser, AioKafkaParser
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.topics import HEADER_DEADLETTER_REASON
from hypercare_runtime.consumer import DeadLetteringError, SetAside, guard_fetcher
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


class PurePythonRecords:
    """A message set read by aiokafka's pure-Python batches, as aiokafka reads it without its compiled
    extension (``AIOKAFKA_NO_EXTENSIONS=1``, or no wheel for the platform) whichever this process loaded.

    That reader wraps a header name's ``UnicodeDecodeError`` in ``CorruptRecordException``.
    """

    def __init__(self, data: bytes) -> None:
        self._batches: list[memoryview] = []
        pos = 0
        while len(data) - pos >= 12:
            end = pos + 12 + struct.unpack_from(">i", data, pos + 8)[0]
            if end > len(data):
                break
            self._batches.append(memoryview(data)[pos:end])
            pos = end

    def has_next(self) -> bool:
        return bool(self._batches)

    def next_batch(self) -> _DefaultRecordBatchPy:
        return _DefaultRecordBatchPy(self._batches.pop(0))


Reader = Callable[[bytes], Any]
READERS = [pytest.param(MemoryRecords, id="aiokafka"), pytest.param(PurePythonRecords, id="pure-python")]
"""aiokafka's reading of a message set: the one this process loaded (its compiled extension, unless
``AIOKAFKA_NO_EXTENSIONS`` is set), and the pure-Python one."""


async def fetched(
    data: bytes,
    *,
    assignment: Assignment,
    flag: Callable[[Any], None] | None = None,
    reader: Reader = MemoryRecords,
) -> FetchResult:
    """The fetcher's result for ``data`` fetched at the assignment's position, as aiokafka stores it;
    guarded with ``flag`` unless it is None."""
    fetcher = Fetcher(Client(FetchResponse(data)))
    if flag is not None:
        guard_fetcher(fetcher, flag)
    await fetcher._client.send(1, FetchResponse(data))  # what the fetcher does, then it stores the result
    start = assignment.state.position
    records = PartitionRecords(TP, reader(data), [], start, None, None, True, READ_UNCOMMITTED)
    fetcher._records[TP] = FetchResult(TP, assignment=assignment, partition_records=records, backoff=0)
    result: FetchResult = fetcher._records[TP]
    return result


GOOD = [TRACE]
BAD = [(RawName(b"\xff\xfe"), b"v"), TRACE]
ONE_BAD_IN_THE_MIDDLE = message_set(
    (0, [(b"r0", GOOD), (b"r1", BAD), (b"r2", GOOD)]),
    (3, [(b"r3", GOOD), (b"r4", GOOD)]),
)


@pytest.mark.parametrize(
    ("reader", "error"),
    [
        pytest.param(MemoryRecords, (UnicodeDecodeError, CorruptRecordException), id="aiokafka"),
        pytest.param(PurePythonRecords, CorruptRecordException, id="pure-python"),
    ],
)
async def test_aiokafka_fails_on_a_header_name_that_is_not_utf8_and_its_position_does_not_move(
    reader: Reader, error: Any
) -> None:
    assignment = Assignment()
    for _ in range(2):  # fetched again from the same position: the same failure, for good
        result = await fetched(ONE_BAD_IN_THE_MIDDLE, assignment=assignment, reader=reader)
        with pytest.raises(error) as failure:
            result.getall()
        if failure.type is CorruptRecordException:
            assert isinstance(failure.value.__cause__, UnicodeDecodeError)
        assert assignment.state.position == 0, "not even r0, read before it, is handed over"


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("gzip", [False, True])
async def test_a_guarded_fetch_hands_over_every_record_and_flags_the_one_at_fault(
    gzip: bool, reader: Reader
) -> None:
    assignment = Assignment()
    data = message_set(*((0, [(b"r0", GOOD), (b"r1", BAD), (b"r2", GOOD)]), (3, [(b"r3", GOOD)])), gzip=gzip)
    flagged: list[Any] = []
    result = await fetched(data, assignment=assignment, flag=flagged.append, reader=reader)

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


@pytest.mark.parametrize("reader", READERS)
async def test_a_guarded_fetch_read_from_the_middle_of_a_batch_goes_on_from_there(reader: Reader) -> None:
    assignment = Assignment(Position(position=1))  # r0 was handed over by an earlier fetch
    flagged: list[Any] = []
    result = await fetched(ONE_BAD_IN_THE_MIDDLE, assignment=assignment, flag=flagged.append, reader=reader)

    assert [(r.offset, r.value) for r in result.getall()] == [(1, b"r1"), (2, b"r2"), (3, b"r3"), (4, b"r4")]
    assert [r.offset for r in flagged] == [1]
    assert assignment.state.position == 5


@pytest.mark.parametrize("reader", READERS)
async def test_a_guarded_fetch_without_a_bad_name_is_aiokafka_s_own_reading(reader: Reader) -> None:
    data = message_set((0, [(b"r0", GOOD), (b"r1", [])]), (2, [(b"r2", GOOD)]))
    plain = await fetched(data, assignment=Assignment(), reader=reader)
    flagged: list[Any] = []
    guarded = await fetched(data, assignment=Assignment(), flag=flagged.append, reader=reader)

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


# ``SetAside``: what ``HeaderSafeConsumer`` does with the records its guarded fetcher flags.

TWO_BAD = message_set(
    (0, [(b"r0", GOOD), (b"r1", BAD), (b"r2", GOOD)]),
    (3, [(b"r3", BAD), (b"r4", GOOD)]),
)


@dataclass
class DeadLetters:
    """An ``unreadable`` handler: the offsets it was handed, call by call. It raises the failure given
    for an offset the first time it is handed that offset (after taking note of it)."""

    failures: dict[int, BaseException] = field(default_factory=dict)
    calls: list[list[int]] = field(default_factory=list)

    async def __call__(self, records: Sequence[Any]) -> None:
        self.calls.append([record.offset for record in records])
        for record in records:
            if record.offset in self.failures:
                raise self.failures.pop(record.offset)


@dataclass
class Seeks:
    """The consumer's rewind: seeks the partition back to the earliest offset given."""

    assignment: Assignment

    def __call__(self, records: Iterable[Any]) -> None:
        self.assignment.state.position = min(record.offset for record in records)


async def poll(set_aside: SetAside, assignment: Assignment, max_records: int | None = None) -> list[bytes]:
    """One ``getmany`` of a consumer over ``TWO_BAD`` fetched at the assignment's position: the values it
    returns."""
    result = await fetched(TWO_BAD, assignment=assignment, flag=set_aside.flag)
    records = result.getall(max_records=max_records)
    taken = await set_aside.take(records) if set_aside else set()
    return [record.value for record in records if id(record) not in taken]


async def test_a_record_set_aside_is_dead_lettered_once_however_often_it_is_fetched_again() -> None:
    assignment = Assignment()
    dead_letters = DeadLetters()
    set_aside = SetAside(dead_letters, rewind=Seeks(assignment))

    assert await poll(set_aside, assignment, max_records=2) == [b"r0"]
    assignment.state.position = 0  # the service's batch failed: it seeks back (OffsetCommitter.rewind)
    assert await poll(set_aside, assignment) == [b"r0", b"r2", b"r4"]
    assignment.state.position = 0
    assert await poll(set_aside, assignment) == [b"r0", b"r2", b"r4"]

    assert dead_letters.calls == [[1], [3]], "r1 once; r3, past it, once too"


async def test_a_failed_dead_letter_rewinds_and_only_it_is_written_again() -> None:
    assignment = Assignment()
    dead_letters = DeadLetters(failures={3: KafkaTimeoutError("the dead-letter topic did not answer")})
    set_aside = SetAside(dead_letters, rewind=Seeks(assignment))

    with pytest.raises(KafkaTimeoutError):
        await poll(set_aside, assignment)
    assert assignment.state.position == 0, "every record of the poll is fetched again"
    assert await poll(set_aside, assignment) == [b"r0", b"r2", b"r4"]

    assert dead_letters.calls == [[1], [3], [3]]


@pytest.mark.parametrize("error", [TypeError("not serializable"), ValueError("incorrect label count")])
async def test_an_error_that_is_not_kafka_s_is_raised_as_one_so_that_faststream_pauses(
    error: Exception,
) -> None:
    assignment = Assignment()
    dead_letters = DeadLetters(failures={1: error})
    set_aside = SetAside(dead_letters, rewind=Seeks(assignment))

    with pytest.raises(DeadLetteringError) as failure:
        await poll(set_aside, assignment)

    assert isinstance(failure.value, KafkaError), "FastStream's consume loop waits 5 s after a KafkaError"
    assert failure.value.__cause__ is error
    assert assignment.state.position == 0
    assert await poll(set_aside, assignment) == [b"r0", b"r2", b"r4"]
    assert dead_letters.calls == [[1], [1], [3]]
