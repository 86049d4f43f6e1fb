"""Outcome records (``hypercare.notifications``) and delivery dead letters, built and published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker
from hypercare_contracts import ErrorClass
from hypercare_contracts.notifications import DeliveryOutcome, NotificationRecord
from hypercare_runtime.deadletter import dead_letter, dead_letter_headers
from hypercare_runtime.kafka import BatchPublisher
from hypercare_store.deliveries import ClaimedDelivery

from hypercare_notifier.metrics import SERVICE


@dataclass(frozen=True, slots=True)
class RecordTopics:
    """Where records go, and the topics a trigger kind came from (for dead letters)."""

    notifications: str
    deadletter: str
    triaged: str
    sla: str
    lifecycle: str

    def source_of(self, trigger_kind: str) -> str:
        """The topic a delivery's trigger was read from (a digest counts as triage output)."""
        return {"sla": self.sla, "lifecycle": self.lifecycle}.get(trigger_kind, self.triaged)


def outcome_record(
    *,
    key: str,
    issue_id: str,
    trigger_id: str,
    channel: str,
    route: str,
    outcome: DeliveryOutcome,
    attempt: int,
    status_code: int | None = None,
    error: str | None = None,
    digest_count: int | None = None,
    at: datetime | None = None,
) -> NotificationRecord:
    """One outcome record (``error`` is cut to a readable length)."""
    return NotificationRecord(
        idempotency_key=key,
        issue_id=issue_id,
        trigger_id=trigger_id,
        channel=channel,
        route=route,
        outcome=outcome,
        attempt=attempt,
        at=at or datetime.now(UTC),
        status_code=status_code,
        error=None if error is None else error[:500],
        digest_count=digest_count,
    )


class Recorder:
    """Publishes records and dead letters, waiting for the broker's acknowledgement of each batch."""

    def __init__(self, broker: KafkaBroker, topics: RecordTopics) -> None:
        self._broker = broker
        self.topics = topics

    async def add_record(self, publisher: BatchPublisher, record: NotificationRecord) -> None:
        """Queue one record on ``publisher`` (keyed by issue id)."""
        await publisher.add(
            self.topics.notifications, record.model_dump_json().encode(), key=record.issue_id.encode()
        )

    async def publish(self, record: NotificationRecord) -> None:
        """Publish one record and wait until the broker has it."""
        publisher = BatchPublisher(self._broker)
        await self.add_record(publisher, record)
        await publisher.flush()

    async def delivery_failed(self, row: ClaimedDelivery, reason: str) -> None:
        """Dead-letter a delivery that failed for good: the trigger it carried, and why."""
        record = dead_letter(
            service=SERVICE,
            raw=row.payload.encode(),
            error_class=ErrorClass.DELIVERY_FAILED,
            reason=f"channel {row.channel}: {reason} (idempotency key {row.key})",
            topic=self.topics.source_of(row.trigger_kind),
            partition=None,
            offset=None,
            key=row.issue_id.encode(),
            failed_at=datetime.now(UTC),
            trace_id=row.trace_id,
        )
        publisher = BatchPublisher(self._broker)
        await publisher.add(
            self.topics.deadletter,
            record.model_dump_json().encode(),
            key=row.issue_id.encode(),
            headers=dead_letter_headers(record),
        )
        await publisher.flush()
