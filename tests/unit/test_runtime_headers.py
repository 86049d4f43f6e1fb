"""FastStream's parsing of consumed records, after their headers were made text (``text_headers``)."""

from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaBatchParser, AioKafkaParser
from hypercare_runtime.kafka import text_headers

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
