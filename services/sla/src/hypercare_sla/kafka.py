"""Kafka edges of the SLA service: the event sink and the two subscribers (triage decisions, commands)."""

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy
from hypercare_contracts import ErrorClass
from hypercare_contracts.lifecycle import LifecycleCommand, LifecycleEvent
from hypercare_contracts.sla import SlaEvent
from hypercare_contracts.topics import HEADER_MESSAGE_KIND, MESSAGE_KIND_EVENT
from hypercare_contracts.triaged import TriagedIssue
from hypercare_runtime.deadletter import (
    NUL_REASON,
    dead_letter_headers,
    defect_reason,
    holds_nul,
    is_defect,
    record_dead_letter,
)
from hypercare_runtime.kafka import BatchPublisher, keep_raw_bytes
from hypercare_runtime.logging import get_logger
from hypercare_runtime.tracing import header_map
from pydantic import BaseModel, ValidationError

from hypercare_sla.metrics import SERVICE, SlaMetrics
from hypercare_sla.settings import SlaSettings

log = get_logger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


class KafkaEventSink:
    """Publishes lifecycle events and SLA events keyed by issue id, waiting for the broker's acknowledgement.

    Each call returns once Kafka acknowledged every message it sent and raises (aiokafka's ``KafkaError``)
    when any write failed, so callers acknowledge or commit nothing past output that was not confirmed.
    """

    def __init__(self, broker: KafkaBroker, *, settings: SlaSettings, metrics: SlaMetrics) -> None:
        self._broker = broker
        self._lifecycle_topic = settings.lifecycle_topic
        self._sla_topic = settings.sla_events_topic
        self._metrics = metrics

    async def lifecycle(self, event: LifecycleEvent) -> None:
        """Publish a lifecycle event on the lifecycle topic, marked as an event."""
        out = BatchPublisher(self._broker)
        await out.add(
            self._lifecycle_topic,
            event.model_dump_json().encode(),
            key=event.issue_id.encode(),
            headers={HEADER_MESSAGE_KIND: MESSAGE_KIND_EVENT},
        )
        await out.flush()
        self._metrics.count_produced(self._lifecycle_topic)

    async def sla(self, events: Sequence[SlaEvent]) -> None:
        """Publish SLA events; returns once every one was acknowledged (raises if any write failed)."""
        out = BatchPublisher(self._broker)
        for event in events:
            await out.add(self._sla_topic, event.model_dump_json().encode(), key=event.issue_id.encode())
        await out.flush()
        self._metrics.count_produced(self._sla_topic, len(events))


def add_subscribers(
    broker: KafkaBroker,
    settings: SlaSettings,
    metrics: SlaMetrics,
    *,
    on_triaged: Callable[[TriagedIssue], Awaitable[object]],
    on_command: Callable[[LifecycleCommand], Awaitable[bool]],
) -> None:
    """Subscribe to triage decisions and lifecycle commands (``on_command`` answers whether the command's
    issue is known).

    Error policy: a message that is not a valid contract, or that PostgreSQL could not store (a string
    holding U+0000), goes to the dead-letter topic, and so does one whose handling raised a defect
    (:func:`~hypercare_runtime.deadletter.is_defect`: ``processing_error``, the exception in the reason);
    a database or broker failure raises, the message is not acknowledged and is delivered again
    (handling is idempotent). A command for an issue this service does not know goes to the dead-letter
    topic as ``unknown_issue``: acknowledged and dropped, a person's acknowledge would be lost while the
    issue went on escalating; redriven once the issue exists, it applies. Events this service published
    itself on the lifecycle topic are skipped.
    """

    async def send_to_dead_letters(record: ConsumerRecord, error_class: ErrorClass, reason: str) -> None:
        dead = record_dead_letter(
            record, service=SERVICE, error_class=error_class, reason=reason, trace_id=None
        )
        await broker.publish(
            dead.model_dump_json().encode(), settings.deadletter_topic, headers=dead_letter_headers(dead)
        )
        metrics.dead_letters.labels(SERVICE, dead.error_class.value).inc()
        metrics.count_produced(settings.deadletter_topic)
        log.warning("sla.dead_letter", topic=record.topic, offset=record.offset, reason=reason[:300])

    async def parse(message: KafkaMessage, model: type[ModelT]) -> ModelT | None:
        record = _record(message)
        metrics.count_consumed([record.topic])
        raw: bytes = record.value or b""
        try:
            parsed = model.model_validate_json(raw)
        except ValidationError as exc:
            error_class = ErrorClass.SCHEMA_VIOLATION
            reason = f"not a valid {model.__name__}: {exc.errors(include_url=False)[:3]}"
        else:
            if not holds_nul(raw):
                return parsed
            error_class, reason = ErrorClass.CONTROL_CHARACTERS, NUL_REASON
        await send_to_dead_letters(record, error_class, reason)
        return None

    async def handle(message: KafkaMessage, work: Awaitable[T]) -> T | None:
        """Await ``work``, the handling of ``message``, and return what it returns: a defect it raises
        sends the message to the dead-letter topic (delivered again, it would raise again and hold up its
        partition for good) and returns None; anything else raises, and the message is delivered again."""
        try:
            return await work
        except Exception as exc:
            if not is_defect(exc):
                raise
            record = _record(message)
            log.exception("sla.message_failed", topic=record.topic, offset=record.offset)
            await send_to_dead_letters(record, ErrorClass.PROCESSING_ERROR, defect_reason(SERVICE, exc))
            return None

    @broker.subscriber(
        settings.triaged_topic,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=keep_raw_bytes,
    )
    async def triaged(message: KafkaMessage) -> None:
        issue = await parse(message, TriagedIssue)
        if issue is not None:
            await handle(message, on_triaged(issue))

    @broker.subscriber(
        settings.lifecycle_topic,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=keep_raw_bytes,
    )
    async def lifecycle(message: KafkaMessage) -> None:
        if header_map(_record(message).headers).get(HEADER_MESSAGE_KIND) == MESSAGE_KIND_EVENT:
            return
        command = await parse(message, LifecycleCommand)
        if command is not None and await handle(message, on_command(command)) is False:
            reason = (
                f"issue {command.issue_id} is unknown to the SLA service: the command came before the"
                " issue's first triage decision reached it, or names no issue; redrive it once the issue"
                " exists (hypercare dead-letters redrive --error-class unknown_issue)"
            )
            await send_to_dead_letters(_record(message), ErrorClass.UNKNOWN_ISSUE, reason)


def _record(message: KafkaMessage) -> ConsumerRecord:
    record = message.raw_message
    assert not isinstance(record, tuple), "subscribers take one message at a time"
    return record
