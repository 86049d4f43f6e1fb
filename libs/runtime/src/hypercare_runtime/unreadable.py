"""Dead letters for records a consumer could not read: a Kafka header name that is not UTF-8.

:class:`~hypercare_runtime.consumer.HeaderSafeConsumer` sets such records aside; every service's broker
(:func:`hypercare_runtime.kafka.create_broker`) hands them to :class:`UnreadableRecords`, which sends
them to the service's dead-letter topic (``invalid_encoding``) before the records after them are
processed, counts them in ``hypercare_dead_letters_total`` and logs each.
"""

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from hypercare_contracts import DeadLetter, ErrorClass
from prometheus_client import Counter

from hypercare_runtime.deadletter import dead_letter_headers, record_dead_letter
from hypercare_runtime.logging import get_logger
from hypercare_runtime.records import undecodable_header_names
from hypercare_runtime.tracing import header_map, trace_id_of

log = get_logger(__name__)

Publish = Callable[..., Awaitable[Any]]
"""``publish(body, topic, key=..., headers=...)``, returning once Kafka acknowledged the message."""


class UnreadableRecords:
    """Sends the records a service's consumers set aside to its dead-letter topic, one by one, each
    acknowledged by Kafka before the next (an exception propagates: the consumer fetches them again)."""

    def __init__(self, publish: Publish, *, service: str, topic: str, counter: Counter | None) -> None:
        """``publish``: the broker's (:meth:`KafkaBroker.publish`, which waits for Kafka's acknowledgement);
        ``counter``: the service's ``hypercare_dead_letters_total`` (labels service, reason; None: not
        counted)."""
        self._publish = publish
        self._service = service
        self._topic = topic
        self._counter = counter

    async def __call__(self, records: Sequence[Any]) -> None:
        """Dead-letter ``records`` (aiokafka ``ConsumerRecord``)."""
        for record in records:
            dead = unreadable_dead_letter(record, service=self._service)
            log.error(
                "kafka.record_unreadable",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                header_names=[repr(name) for name in undecodable_header_names(record.headers)],
                deadletter_topic=self._topic,
            )
            await self._publish(
                dead.model_dump_json().encode(),
                self._topic,
                key=record.key,
                headers=dead_letter_headers(dead),
            )
            if self._counter is not None:
                self._counter.labels(self._service, ErrorClass.INVALID_ENCODING.value).inc()


def unreadable_dead_letter(record: Any, *, service: str, failed_at: datetime | None = None) -> DeadLetter:
    """The dead letter of a consumed record with a header name that is not UTF-8 (``invalid_encoding``).

    Its headers are kept as text, the bytes of such a name written as ``\\xNN`` escapes: redriving it
    sends them so, which every Kafka client can read.
    """
    names = ", ".join(repr(name) for name in undecodable_header_names(record.headers))
    headers = [(_text(name), value) for name, value in record.headers]
    trace_id = trace_id_of(
        header_map(headers), topic=record.topic, partition=record.partition, offset=record.offset
    )
    return record_dead_letter(
        dataclasses.replace(record, headers=tuple(headers)),
        service=service,
        error_class=ErrorClass.INVALID_ENCODING,
        reason=(
            f"a Kafka header name is not UTF-8 ({names}), which Kafka clients cannot read: the producer"
            " wrote raw bytes as a header name (librdkafka, kcat -H); fix the producer. In"
            " original_headers such a name has its bytes as \\x escapes, and a redrive sends it so"
        ),
        trace_id=trace_id,
        failed_at=failed_at,
    )


def _text(name: str) -> str:
    """A header name read with ``surrogateescape`` as valid text: its undecodable bytes as ``\\xNN``."""
    return name.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")
