"""Emits each due milestone exactly once, on time, from any number of instances.

The loop claims due milestones in the store (``FOR UPDATE SKIP LOCKED`` plus a lease, so two instances never
claim the same row), publishes their events and waits for the broker's acknowledgement, then marks them
emitted. The event id is the milestone key, so in the one window where a crash can repeat an event (after
the publish, before the mark) consumers drop the duplicate.

It sleeps until the earliest pending due instant, never longer than ``max_sleep`` (other instances plan
milestones this one does not hear of), and wakes at once when this process planned something new. After a
restart it finds every milestone whose due time passed while it was down and emits it, flagged ``late``,
with its true ``due_at``.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
from aiokafka.errors import KafkaError
from hypercare_contracts.sla import SlaEvent
from hypercare_domain.sla import LATE_AFTER, Clock
from hypercare_runtime.logging import get_logger
from hypercare_store.sla import StoredMilestone

from hypercare_sla.metrics import SlaMetrics
from hypercare_sla.ports import EventSink, SlaStore

log = get_logger(__name__)

_TRANSIENT = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError, KafkaError)
"""Failures of the database or the broker: the loop logs them and tries again."""


class Scheduler:
    """The milestone emission loop of one instance."""

    def __init__(
        self,
        *,
        store: SlaStore,
        sink: EventSink,
        clock: Clock,
        metrics: SlaMetrics,
        owner: str,
        lease: timedelta,
        batch: int = 100,
        max_sleep: float = 1.0,
        retry_after: float = 1.0,
    ) -> None:
        self._store = store
        self._sink = sink
        self._clock = clock
        self._metrics = metrics
        self._owner = owner
        self._lease = lease
        self._batch = batch
        self._max_sleep = max_sleep
        self._retry_after = retry_after
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the schedule now (a milestone was planned in this process)."""
        self._wake.set()

    async def emit_due(self) -> list[SlaEvent]:
        """Claim, publish and mark one batch of due milestones; returns the events sent."""
        claimed = await self._store.claim_due(
            owner=self._owner, now=self._clock.now(), lease=self._lease, limit=self._batch
        )
        if not claimed:
            return []
        emitted_at = self._clock.now()
        events = [_dated(m, emitted_at) for m in claimed]
        try:
            await self._sink.sla(events)
        except _TRANSIENT:
            await self._store.release(owner=self._owner, keys=[m.key for m in claimed])
            raise
        await self._store.mark_emitted([(m.key, emitted_at) for m in claimed])
        self._record(events)
        return events

    async def run(self) -> None:
        """Emit due milestones until cancelled."""
        log.info("scheduler.start", owner=self._owner)
        while True:
            try:
                sent = await self.emit_due()
                if len(sent) >= self._batch:
                    continue
                delay = await self._delay()
            except _TRANSIENT as exc:
                log.warning("scheduler.retry", error=type(exc).__name__, detail=str(exc)[:200])
                delay = self._retry_after
            await self._sleep(delay)

    async def _delay(self) -> float:
        now = self._clock.now()
        state = await self._store.schedule_state(now)
        self._metrics.pending.set(state.pending)
        if state.next_due is None:
            return self._max_sleep
        return min(self._max_sleep, max(0.0, (state.next_due - now).total_seconds()))

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            self._wake.clear()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    def _record(self, events: Sequence[SlaEvent]) -> None:
        for event in events:
            self._metrics.sla_events.labels(
                event.kind.value, event.target.value if event.target else ""
            ).inc()
            delay = (event.emitted_at - event.due_at).total_seconds()
            self._metrics.emit_delay.observe(max(0.0, delay))
            log.info(
                "sla.emitted",
                issue_id=event.issue_id,
                key=event.event_id,
                kind=event.kind.value,
                due_at=event.due_at.isoformat(),
                delay_seconds=round(delay, 3),
                late=event.late,
            )


def _dated(milestone: StoredMilestone, emitted_at: datetime) -> SlaEvent:
    """The stored event, sent now: ``due_at`` stays the true instant; ``late`` past the grace period."""
    return milestone.event.model_copy(
        update={"emitted_at": emitted_at, "late": emitted_at - milestone.due_at > LATE_AFTER}
    )
