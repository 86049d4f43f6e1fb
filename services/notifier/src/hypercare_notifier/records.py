"""Outcome records (``hypercare.notifications``) and delivery dead letters: built, written to the outbox
with the change they report, and relayed to Kafka.

The worker and the intake write a record (and a delivery's dead letter) to ``notifier_outbox`` in the
transaction that changes the delivery row it reports; :class:`OutboxRelay` publishes the outbox and
deletes what Kafka acknowledged. Kafka failing after the commit delays a record and never loses it;
a record can be published twice (the process died between Kafka's acknowledgement and the delete), as
the same bytes: consumers drop repeats of (``idempotency_key``, ``outcome``, ``attempt``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from faststream.kafka import KafkaBroker
from hypercare_contracts import ErrorClass
from hypercare_contracts.notifications import DeliveryOutcome, NotificationRecord
from hypercare_runtime.deadletter import dead_letter, dead_letter_headers
from hypercare_runtime.kafka import BatchPublisher
from hypercare_store.deliveries import ClaimedDelivery
from hypercare_store.notifier_outbox import OutboxMessage, Publish

from hypercare_notifier.loops import DEFAULT_BACKOFF, Backoff, Failures
from hypercare_notifier.metrics import SERVICE, NotifierMetrics


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
    """Builds the outbox messages of outcome records and delivery dead letters."""

    def __init__(self, topics: RecordTopics) -> None:
        self.topics = topics

    def record(self, record: NotificationRecord) -> OutboxMessage:
        """One outcome record, keyed by issue id."""
        return OutboxMessage(self.topics.notifications, record.issue_id, record.model_dump_json())

    def delivery_failed(self, row: ClaimedDelivery, reason: str) -> OutboxMessage:
        """The dead letter of a delivery that failed for good: the trigger it carried, and why."""
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
        return OutboxMessage(
            self.topics.deadletter, row.issue_id, record.model_dump_json(), dead_letter_headers(record)
        )


class Outbox(Protocol):
    """The relay's view of the outbox (``hypercare_store.notifier_outbox.NotifierOutbox``)."""

    async def relay_outbox(self, *, limit: int, publish: Publish) -> int: ...


class OutboxRelay:
    """Publishes the outbox to Kafka, oldest first, whenever woken and every ``poll_seconds``.

    A failed round (Kafka or the database unreachable, a message Kafka refuses) is logged and counted
    (``hypercare_notifier_loop_failures_total{loop="records"}``) and tried again after a backoff
    (:mod:`hypercare_notifier.loops`); its messages stay in the outbox meanwhile. Deliveries do not wait
    for it: a Kafka outage delays records, never notifications.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        outbox: Outbox,
        metrics: NotifierMetrics,
        *,
        poll_seconds: float,
        batch: int = 500,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self._broker = broker
        self._outbox = outbox
        self._metrics = metrics
        self._poll = poll_seconds
        self._batch = batch
        self._backoff = backoff
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Relay now (called after something was written to the outbox)."""
        self._wake.set()

    async def relay_once(self) -> int:
        """Publish one batch of the outbox; returns how many messages went out."""
        return await self._outbox.relay_outbox(limit=self._batch, publish=self._publish)

    async def run(self) -> None:
        """Relay until cancelled."""
        failures = Failures("records", self._backoff, self._metrics.loop_failures)
        task = asyncio.current_task()
        while True:
            self._wake.clear()  # before the round: a wake during it is for rows it may not have seen
            try:
                relayed = await self.relay_once()
            except Exception as exc:  # logged by kind; the rows stay and are tried after the backoff
                if task is not None and task.cancelling():
                    # Cancelled, and something on the way out (a rollback, a client) raised in place of
                    # the CancelledError: the loop ends all the same, as cancelled.
                    raise asyncio.CancelledError from exc
                await asyncio.sleep(failures.failed(exc))
                continue
            failures.succeeded()
            if relayed >= self._batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    async def _publish(self, messages: Sequence[OutboxMessage]) -> None:
        """Publish ``messages`` and wait for Kafka's acknowledgement of each.

        Only a round whose messages were all queued waits for them: one that failed or was cancelled
        (Kafka down, a stop) drops what it queued and raises at once, its rows staying in the outbox.
        Waiting for those would hold a stop up for Kafka's timeouts and put their error in the place
        of the cancellation.
        """
        publisher = BatchPublisher(self._broker)
        try:
            for message in messages:
                await publisher.add(
                    message.topic,
                    message.value.encode(),
                    key=None if message.key is None else message.key.encode(),
                    headers=message.headers or None,
                )
            await publisher.flush()
        except BaseException:
            publisher.discard()  # the rows stay in the outbox and are relayed again
            raise
        for topic, count in Counter(m.topic for m in messages).items():
            self._metrics.count_produced(topic, count)
