"""The delivery worker: claim pending deliveries, send each as its own task, record every outcome.

Claims are leases renewed while a delivery runs. A killed instance stops renewing, its leases
expire, and any instance (a restarted one included) claims and sends the rest. The one window that
cannot be closed: a receiver accepted a request and the process died before marking it sent; the
delivery is then sent again with the same ``X-Hypercare-Idempotency-Key``, for the receiver to drop.

Every outcome record and dead letter is written to the outbox in the transaction that records the
outcome in the log (:mod:`hypercare_notifier.records` relays it to Kafka): the worker never talks to
Kafka, so a Kafka failure neither loses a record nor makes a delivery go out again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from hypercare_contracts.notifications import DeliveryOutcome, NotificationRecord
from hypercare_domain.notify.retry import RetryPolicy
from hypercare_runtime.logging import get_logger
from hypercare_store.deliveries import ClaimedDelivery
from hypercare_store.notifier_outbox import OutboxMessage

from hypercare_notifier.channels import AttemptReport, Channel, DeliveryResult, deliver
from hypercare_notifier.loops import DEFAULT_BACKOFF, Backoff, Failures
from hypercare_notifier.metrics import NotifierMetrics
from hypercare_notifier.records import Recorder, outcome_record
from hypercare_notifier.rendering import Renderer, RenderError

log = get_logger(__name__)


def default_instance_id() -> str:
    """``host-pid-random``: unique per process, readable in ``claimed_by``."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How the worker claims, how many deliveries it runs at once, and how it waits after a failed round."""

    instance_id: str
    concurrency: int
    claim_seconds: float
    poll_seconds: float
    shutdown_grace_seconds: float = 10.0
    backoff: Backoff = DEFAULT_BACKOFF


class DeliveryLog(Protocol):
    """The worker's view of the delivery log (``hypercare_store.deliveries.DeliveryStore``)."""

    async def claim(self, *, worker: str, limit: int, lease_seconds: float) -> list[ClaimedDelivery]: ...

    async def extend(self, *, worker: str, keys: Sequence[str], lease_seconds: float) -> None: ...

    async def release(self, *, worker: str, keys: Sequence[str]) -> None: ...

    async def pending_count(self) -> int: ...

    async def record_attempt(
        self,
        key: str,
        *,
        attempts: int,
        status_code: int | None,
        error: str | None,
        outbox: Sequence[OutboxMessage],
    ) -> None: ...

    async def finish(
        self,
        key: str,
        *,
        status: Literal["sent", "failed"],
        attempts: int,
        status_code: int | None,
        error: str | None,
        outbox: Sequence[OutboxMessage],
    ) -> bool: ...


class SentMarker(Protocol):
    """Remembers sent keys for the intake's fast path (``redis_state.SentMarks``)."""

    async def mark(self, key: str) -> None: ...


class DeliveryWorker:
    """Drains the pending deliveries of the log, ``concurrency`` at a time."""

    def __init__(
        self,
        *,
        store: DeliveryLog,
        marks: SentMarker,
        channels: Mapping[str, Channel],
        retry: Mapping[str, RetryPolicy],
        renderer: Renderer,
        recorder: Recorder,
        recorded: Callable[[], None],
        metrics: NotifierMetrics,
        config: WorkerConfig,
    ) -> None:
        """``recorded`` is called once outcome records were written to the outbox (wakes its relay)."""
        self._store = store
        self._marks = marks
        self._channels = channels
        self._retry = retry
        self._renderer = renderer
        self._recorder = recorder
        self._recorded = recorded
        self._metrics = metrics
        self._config = config
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for work now (called after the consumer recorded new pending deliveries)."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and start deliveries until cancelled; renew leases meanwhile.

        A failed round (the database unreachable, a defect) is logged and tried again after a backoff
        (:mod:`hypercare_notifier.loops`): the loop only ends when cancelled.
        """
        renewing = asyncio.create_task(self._renew_leases(), name="renew-leases")
        failures = Failures("claim", self._config.backoff, self._metrics.loop_failures)
        try:
            while True:
                try:
                    more = await self._claim_round()
                except Exception as exc:  # logged by kind; the next round is tried after the backoff
                    await asyncio.sleep(failures.failed(exc))
                    continue
                failures.succeeded()
                if more:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._config.poll_seconds)
        finally:
            renewing.cancel()
            await self._stop_inflight()

    async def _claim_round(self) -> bool:
        """Claim what fits and start it; true when there may be more to claim at once."""
        free = self._config.concurrency - len(self._inflight)
        claimed = await self._store.claim(
            worker=self._config.instance_id, limit=free, lease_seconds=self._config.claim_seconds
        )
        for row in claimed:
            task = asyncio.create_task(self._deliver(row), name=f"deliver-{row.key[:12]}")
            self._inflight[row.key] = task
            task.add_done_callback(self._done(row.key))
        self._metrics.pending.set(await self._store.pending_count())
        return bool(claimed) and len(self._inflight) < self._config.concurrency

    def _done(self, key: str) -> Callable[[asyncio.Task[None]], None]:
        def callback(task: asyncio.Task[None]) -> None:
            self._inflight.pop(key, None)
            self._wake.set()
            error = None if task.cancelled() else task.exception()
            if error is not None:
                # Still pending in the log: claimed again once its lease expires.
                log.error("delivery.crashed", key=key, error=type(error).__name__, exc_info=error)

        return callback

    async def _stop_inflight(self) -> None:
        """Let running deliveries finish within the grace period, then cancel and release the rest."""
        if self._inflight:
            await asyncio.wait(list(self._inflight.values()), timeout=self._config.shutdown_grace_seconds)
        keys = list(self._inflight)
        for task in list(self._inflight.values()):
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        if not keys:
            return
        try:
            await self._store.release(worker=self._config.instance_id, keys=keys)
        except Exception as exc:  # the leases expire by themselves; the shutdown goes on
            log.warning("worker.release_failed", deliveries=len(keys), error=type(exc).__name__)
            return
        log.info("worker.released", deliveries=len(keys))

    async def _renew_leases(self) -> None:
        """Renew the leases of running deliveries every third of a lease until cancelled.

        A failed renewal is tried again after the backoff, but never later than the next regular
        renewal, so that a lease does not lapse under a running delivery (which another claim would
        then send a second time).
        """
        period = self._config.claim_seconds / 3
        failures = Failures("renew", self._config.backoff, self._metrics.loop_failures)
        wait = period
        while True:
            await asyncio.sleep(wait)
            try:
                if self._inflight:
                    await self._store.extend(
                        worker=self._config.instance_id,
                        keys=list(self._inflight),
                        lease_seconds=self._config.claim_seconds,
                    )
            except Exception as exc:  # logged by kind; tried again soon
                wait = min(period, failures.failed(exc))
                continue
            failures.succeeded()
            wait = period

    async def _deliver(self, row: ClaimedDelivery) -> None:
        channel = self._channels.get(row.channel)
        if channel is None:
            await self._fail(row, f"channel {row.channel} is not configured or disabled here", None, 1)
            return
        try:
            rendered = await self._renderer.render(row, datetime.now(UTC))
        except RenderError as exc:
            log.error(
                "delivery.unrenderable", key=row.key, trigger_id=row.trigger_id, error=str(exc), exc_info=exc
            )
            await self._fail(row, str(exc), None, row.attempts + 1)
            return

        async def on_attempt(report: AttemptReport) -> None:
            if report.next_delay is None:
                return
            number = row.attempts + report.number
            error = report.verdict.reason if not report.verdict.delivered else None
            code = report.attempt.status_code
            record = self._record(row, DeliveryOutcome.RETRIED, number, code, error)
            await self._store.record_attempt(
                row.key,
                attempts=number,
                status_code=code,
                error=error,
                outbox=[self._recorder.record(record)],
            )
            self._metrics.notifications.labels(row.channel, DeliveryOutcome.RETRIED.value).inc()
            self._recorded()

        started = time.monotonic()
        result = await deliver(
            channel, rendered.note, row.key, self._policy(row.channel), on_attempt=on_attempt
        )
        self._metrics.delivery_seconds.labels(row.channel).observe(time.monotonic() - started)
        attempts = row.attempts + len(result.attempts)
        if result.outcome is DeliveryOutcome.SENT:
            await self._sent(row, result, attempts, rendered.digest_count)
        else:
            await self._fail(row, result.reason, result.status_code, attempts)

    def _policy(self, channel: str) -> RetryPolicy:
        return self._retry.get(channel, RetryPolicy())

    async def _sent(
        self, row: ClaimedDelivery, result: DeliveryResult, attempts: int, digest_count: int | None
    ) -> None:
        record = self._record(row, DeliveryOutcome.SENT, attempts, result.status_code, None, digest_count)
        moved = await self._store.finish(
            row.key,
            status="sent",
            attempts=attempts,
            status_code=result.status_code,
            error=None,
            outbox=[self._recorder.record(record)],
        )
        await self._marks.mark(row.key)
        if not moved:
            log.warning("delivery.already_finished", key=row.key, channel=row.channel)
            return
        self._recorded()
        self._metrics.notifications.labels(row.channel, DeliveryOutcome.SENT.value).inc()
        if row.ingested_at is not None:
            self._metrics.observe_end_to_end("notified", [row.ingested_at])
        log.info(
            "notification.sent", key=row.key, issue_id=row.issue_id, channel=row.channel, attempts=attempts
        )

    async def _fail(self, row: ClaimedDelivery, reason: str, status_code: int | None, attempts: int) -> None:
        record = self._record(row, DeliveryOutcome.FAILED, attempts, status_code, reason)
        moved = await self._store.finish(
            row.key,
            status="failed",
            attempts=attempts,
            status_code=status_code,
            error=reason,
            outbox=[self._recorder.record(record), self._recorder.delivery_failed(row, reason)],
        )
        if not moved:
            return
        self._recorded()
        self._metrics.notifications.labels(row.channel, DeliveryOutcome.FAILED.value).inc()
        self._metrics.dead_letters.labels(self._metrics.service, "delivery_failed").inc()
        log.warning(
            "notification.failed", key=row.key, issue_id=row.issue_id, channel=row.channel, reason=reason
        )

    @staticmethod
    def _record(  # noqa: PLR0917 - a private helper mirroring the record's fields
        row: ClaimedDelivery,
        outcome: DeliveryOutcome,
        attempt: int,
        status_code: int | None,
        error: str | None,
        digest_count: int | None = None,
    ) -> NotificationRecord:
        return outcome_record(
            key=row.key,
            issue_id=row.issue_id,
            trigger_id=row.trigger_id,
            channel=row.channel,
            route=row.route,
            outcome=outcome,
            attempt=max(attempt, 1),
            status_code=status_code,
            error=error,
            digest_count=digest_count,
        )
