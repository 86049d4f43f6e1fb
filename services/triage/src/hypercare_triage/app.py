"""Composition root of the triage service: normalized reports in, decisions out, issues in PostgreSQL."""

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from hypercare_contracts import DeadLetter, ErrorClass, LifecycleEvent
from hypercare_contracts.topics import HEADER_MESSAGE_KIND, MESSAGE_KIND_COMMAND, MESSAGE_KIND_EVENT
from hypercare_domain.exit import load_exit_policy
from hypercare_domain.triage import load_triage_policies
from hypercare_runtime.cache import open_redis
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_runtime.deadletter import (
    NUL_REASON,
    dead_letter_headers,
    defect_reason,
    holds_nul,
    is_defect,
    record_dead_letter,
)
from hypercare_runtime.http import create_service_app
from hypercare_runtime.kafka import (
    BatchPublisher,
    OffsetCommitter,
    batch_subscriber,
    create_stream_broker,
    raw_records,
)
from hypercare_runtime.logging import configure_logging, get_logger
from hypercare_runtime.process import BatchCollector
from hypercare_runtime.tracing import header_map
from hypercare_store.exit_metrics import ExitReadinessCollector, refresh_exit_metrics
from hypercare_store.issues import PgIssueStore
from hypercare_store.ports import IssueStore, OutgoingDecision
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from hypercare_triage.hints import IssueHints, NoHints, RedisHints
from hypercare_triage.metrics import SERVICE, TriageMetrics
from hypercare_triage.pipeline import Clock, Decided, Outcome, TriagePipeline, parse_records
from hypercare_triage.records import RawRecord
from hypercare_triage.settings import TriageSettings

log = get_logger(__name__)


class _Publisher:
    """Publishes committed decisions (and dead letters), then marks the decisions published."""

    def __init__(self, broker: KafkaBroker, settings: TriageSettings, metrics: TriageMetrics) -> None:
        self._broker, self._settings, self._metrics = broker, settings, metrics

    async def publish(
        self, store: IssueStore, decisions: Sequence[OutgoingDecision], dead: Sequence[DeadLetter] = ()
    ) -> None:
        out = BatchPublisher(self._broker)
        for item in decisions:
            await out.add(
                self._settings.triaged_topic,
                item.payload.encode(),
                key=item.decision.issue_id.encode(),
                headers=item.headers,
            )
        for record in dead:
            await out.add(
                self._settings.deadletter_topic,
                record.model_dump_json().encode(),
                key=None,
                headers=dead_letter_headers(record),
            )
        await out.flush()
        await store.mark_published(decision_ids=[item.decision.decision_id for item in decisions])
        self._metrics.count_produced(self._settings.triaged_topic, len(decisions))
        self._metrics.count_produced(self._settings.deadletter_topic, len(dead))
        self._metrics.count_decisions(item.decision for item in decisions)
        for record in dead:
            self._metrics.dead_letters.labels(SERVICE, record.error_class.value).inc()


def _record_batch(metrics: TriageMetrics, outcome: Outcome, consumed: Sequence[str], started: float) -> None:
    metrics.count_consumed(consumed)
    metrics.reports_skipped.inc(outcome.skipped)
    metrics.stale_reads.inc(outcome.stale_reads)
    metrics.batches_split.inc(outcome.split)
    metrics.overlap_redone.labels("retriaged").inc(outcome.retriaged)
    for rule, count in Counter(link.rule.value for link in outcome.result.report_links).items():
        metrics.reports_merged.labels(rule).inc(count)
    metrics.observe_end_to_end("triaged", outcome.ingested_at)
    metrics.stage_seconds.labels(SERVICE, "triage").observe(time.perf_counter() - started)
    for step, seconds in outcome.seconds.items():
        metrics.stage_seconds.labels(SERVICE, f"triage.{step}").observe(seconds)


class _ExitReadiness:
    """Hypercare exit readiness, computed live from the issue store and exported as gauges."""

    def __init__(self, settings: TriageSettings, registry: CollectorRegistry) -> None:
        self.collector = ExitReadinessCollector(registry)
        self.policy = load_exit_policy(settings.resolved_policy_dir())
        self.every = settings.exit_refresh_seconds
        self.pool: asyncpg.Pool | None = None
        self._last = -float("inf")

    async def refresh(self) -> None:
        """Re-evaluate the criteria when the refresh interval has passed (never without a database)."""
        if self.pool is None or time.monotonic() - self._last < self.every:
            return
        self._last = time.monotonic()
        await refresh_exit_metrics(self.pool, self.collector, self.policy)


_TAKE_EVERY_S = 0.002
"""How often the consumer is polled while a batch is written in turn."""
_TAKE_FOR_S = 1.0
"""How long into a write in turn the consumer is polled (writes take milliseconds)."""


class BatchAbandonedError(Exception):
    """The batch written before this one failed: both are fetched again."""


@dataclass
class _InFlight:
    """A batch being written (and then published) in the background."""

    decided: Decided
    records: Sequence[RawRecord]
    task: asyncio.Task[None] | None = None
    failed: bool = False


class _Service:
    """The service's parts and behaviour; :func:`create_app` wires its handlers to the broker."""

    def __init__(
        self,
        settings: TriageSettings,
        broker: KafkaBroker,
        metrics: TriageMetrics,
        committer: OffsetCommitter,
        *,
        store: IssueStore | None,
        hints: IssueHints | None,
        clock: Clock,
        collector: BatchCollector | None = None,
        consumer: Callable[[], AIOKafkaConsumer | None] = lambda: None,
    ) -> None:
        self.settings, self.metrics, self.now = settings, metrics, clock
        self.consumer = consumer
        self.policies = load_triage_policies(settings.resolved_policy_dir())
        self.out = _Publisher(broker, settings, metrics)
        self.committer = committer
        self._given_store, self._given_hints = store, hints
        self._store: IssueStore | None = None
        self._pipeline: TriagePipeline | None = None
        self.exit = _ExitReadiness(settings, metrics.registry)
        self.collector = collector
        self._writing: _InFlight | None = None
        self._overlap_from = settings.overlap_from
        self._draining = False

    def ready(self) -> tuple[IssueStore, TriagePipeline]:
        """The store and pipeline the lifespan opened."""
        if self._store is None or self._pipeline is None:
            raise RuntimeError("the triage service was used before its lifespan started")
        return self._store, self._pipeline

    async def on_reports(self, records: Sequence[RawRecord]) -> None:
        """Triage one batch; write it, publish its decisions and dead letters, then commit its offsets.

        A large batch (``overlap_from`` records) is written in the background once the one before is
        done: the handler returns, and the next batch is fetched and triaged meanwhile, on top of this
        one's states. If the batch before failed, both are fetched again (:class:`BatchAbandonedError`).
        A smaller batch is written in turn, and the records fetched meanwhile are the next batch.
        """
        while records:
            records = await self._handle(records)

    async def _handle(self, records: Sequence[RawRecord]) -> Sequence[RawRecord]:
        """One batch; returns the records taken in while it was written in turn (else none)."""
        started = time.perf_counter()
        before = self._writing
        try:
            _, pipeline = self.ready()
            parsed = parse_records(records, service=SERVICE)
            if before is not None and before.failed:
                self._give_up()
            decided = await pipeline.decide(
                parsed.items, after=before.decided if before is not None else None
            )
            if before is not None:
                if before.task is not None:
                    # Waits without cancelling the write (a cancelled handler leaves it to finish).
                    await asyncio.wait([before.task])
                self._writing = None
                if before.failed:
                    self._give_up()
        except BaseException:
            # This batch is fetched again; so is the one before if it failed (both rewound together,
            # to the earliest offsets).
            self.committer.rewind([*(before.records if before and before.failed else ()), *records])
            raise
        writing = _InFlight(decided, records)
        if len(records) < self._overlap_from:
            return await self._write_taking_fetched(writing, parsed.dead, started)
        writing.task = asyncio.create_task(self._write_in_background(writing, parsed.dead, started))
        self._writing = writing
        return ()

    async def _write_taking_fetched(
        self, writing: _InFlight, dead: Sequence[DeadLetter], started: float
    ) -> list[RawRecord]:
        """Write a batch in turn while taking in what Kafka fetched meanwhile; returns what was taken.

        aiokafka fetches again only once every record it fetched was taken, and FastStream takes them
        only between two batches: records that arrived while this batch was triaged and written would
        otherwise wait for one more batch (at 1,000 reports/s, nearly every report did). So while the
        write runs, the consumer is polled without waiting (``getmany`` is never cancelled: aiokafka's
        poll-interval bookkeeping does not survive that), for at most ``_TAKE_FOR_S``, so that a hung
        write still stops polling and lets the group rebalance its partitions. A failed write rewinds
        what was taken with the batch; an error of a poll is raised once the batch is written, with
        what was taken rewound. Records of a partition no longer assigned are left to its next owner.
        On shutdown (``drain``) nothing more is taken.
        """
        consumer = self.consumer()
        if consumer is None or self._draining:
            await self._write(writing, dead, started)
            return []
        limit = self.settings.batch_max_records
        taken: list[RawRecord] = []
        failed: KafkaError | ConsumerStoppedError | None = None
        until = time.monotonic() + _TAKE_FOR_S
        write = asyncio.ensure_future(self._write(writing, dead, started))
        try:
            while failed is None and len(taken) < limit and time.monotonic() < until:
                await asyncio.wait([write], timeout=_TAKE_EVERY_S)
                try:
                    fetched = await consumer.getmany(timeout_ms=0, max_records=limit - len(taken))
                except (KafkaError, ConsumerStoppedError) as exc:
                    failed = exc
                else:
                    taken.extend(record for part in fetched.values() for record in part)
                if write.done():
                    break
            await write
        except BaseException:
            write.cancel()  # a cancelled handler cancels its write, as before (settle rewinds the batch)
            self.committer.rewind([*writing.records, *taken])  # each partition back to its earliest
            raise
        assigned = consumer.assignment()
        taken = [record for record in taken if TopicPartition(record.topic, record.partition) in assigned]
        if failed is not None:
            self.committer.rewind(taken)  # the batch is written; what was taken is fetched again
            raise failed
        self.metrics.records_taken.inc(len(taken))
        return taken

    def _give_up(self) -> None:
        """After the batch before failed: forget it and what it taught the candidate index, and raise.

        It is no longer in flight: both are rewound, and the batches fetched again are handled afresh
        (kept as the one in flight, it would make every later batch give up too, for good)."""
        self._writing = None
        self.metrics.overlap_redone.labels("failed").inc()
        self.ready()[1].abandon()
        raise BatchAbandonedError("the batch before this one was not written; both are fetched again")

    async def _write(self, writing: _InFlight, dead: Sequence[DeadLetter], started: float) -> None:
        store, pipeline = self.ready()
        with self.committer.settle(writing.records):
            outcome = await pipeline.save(
                writing.decided, publish=lambda decisions: self.out.publish(store, decisions)
            )
            published = time.perf_counter()
            await self.out.publish(store, outcome.decisions, [*dead, *outcome.dead])
            outcome.seconds["publish"] += time.perf_counter() - published
        _record_batch(self.metrics, outcome, [r.topic for r in writing.records], started)
        if self.collector is not None:
            self.collector.after_batch()

    async def _write_in_background(
        self, writing: _InFlight, dead: Sequence[DeadLetter], started: float
    ) -> None:
        try:
            await self._write(writing, dead, started)
        except BaseException as exc:
            # Rewound by settle(); the next batch sees ``failed``, starts the candidate index over and is
            # fetched again after it. Marked on cancellation too: whether the write committed is
            # unknown, so nothing may pass it.
            writing.failed = True
            if not isinstance(exc, Exception):
                raise
            log.exception("triage.batch_failed", records=len(writing.records))

    async def drain(self) -> None:
        """Finish writing the batch in flight and write later ones before their handler returns (on
        shutdown, before the broker stops). The batch stays the one in flight: should its write fail, a
        batch handled after this still sees it and is fetched again with it. Nothing more is taken in
        while a batch is written."""
        self._overlap_from, self._draining = sys.maxsize, True
        writing = self._writing
        if writing is not None and writing.task is not None:
            await asyncio.wait([writing.task])

    async def on_lifecycle(self, record: RawRecord) -> None:
        """Apply a lifecycle event; commands on the same topic are not ours and are skipped.

        An event that is not one, holds a string PostgreSQL cannot store, or raises a defect
        (:func:`~hypercare_runtime.deadletter.is_defect`) goes to the dead-letter topic; a failure of the
        database or Kafka raises, and the event is delivered again.
        """
        kind = header_map(record.headers).get(HEADER_MESSAGE_KIND)
        if kind == MESSAGE_KIND_COMMAND:
            return
        problem = await self._apply_lifecycle(kind, record)
        if problem is None:
            return
        error_class, reason = problem
        dead = record_dead_letter(
            record,
            service=SERVICE,
            error_class=error_class,
            reason=reason,
            trace_id=None,
            failed_at=self.now(),
        )
        await self.out.publish(self.ready()[0], [], [dead])

    async def _apply_lifecycle(self, kind: str | None, record: RawRecord) -> tuple[ErrorClass, str] | None:
        """Apply the event ``record`` holds; returns why it goes to the dead-letter topic instead (None:
        applied, or not an event and none of ours)."""
        body = record.value or b""
        try:
            event = LifecycleEvent.model_validate_json(body)
        except ValidationError as exc:
            if kind != MESSAGE_KIND_EVENT:
                return None  # a command sent without the header: the SLA service's business
            return (
                ErrorClass.SCHEMA_VIOLATION,
                f"marked as a lifecycle event but not one ({exc.error_count()} errors)",
            )
        if holds_nul(body):
            return ErrorClass.CONTROL_CHARACTERS, NUL_REASON
        try:
            await self.ready()[1].lifecycle(event)
        except Exception as exc:
            if not is_defect(exc):
                raise
            log.exception("triage.lifecycle_failed", topic=record.topic, offset=record.offset)
            return ErrorClass.PROCESSING_ERROR, defect_reason(SERVICE, exc)
        return None

    async def tick(self) -> None:
        """Store the hints of the last batches if no batch came to take them along, release ended
        suppressions, publish decisions left unconfirmed, and refresh the gauges.

        Each step fails alone: an issue that no longer reads back stops its release, not the sweep of
        the outbox, whose decisions would otherwise never be published."""
        for step in (self._flush_hints, self._release, self._sweep_outbox, self._refresh_gauges):
            try:
                await step()
            except (asyncpg.PostgresError, OSError, KafkaError) as exc:
                log.warning(
                    "triage.timer_failed", step=step.__name__, error=type(exc).__name__, detail=str(exc)
                )
            except Exception:  # a bug in one step must not stop the others, or the next ticks
                log.exception("triage.timer_error", step=step.__name__)

    async def _flush_hints(self) -> None:
        await self.ready()[1].flush_hints()

    async def _release(self) -> None:
        store, pipeline = self.ready()
        await self.out.publish(store, await pipeline.release())

    async def _sweep_outbox(self) -> None:
        store, _ = self.ready()
        late = await store.unpublished(older_than_seconds=self.settings.outbox_sweep_after, limit=500)
        await self.out.publish(store, late)

    async def _refresh_gauges(self) -> None:
        self.metrics.set_open(await self.ready()[0].open_counts())
        await self.exit.refresh()

    async def _timer(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.settings.release_interval)

    async def database_ready(self) -> bool:
        """Whether the store answers."""
        store, _ = self.ready()
        await store.open_counts()
        return True

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Open PostgreSQL (migrated) and Redis unless given, start the timer; close all at the end."""
        settings = self.settings
        async with contextlib.AsyncExitStack() as stack:
            store, hints = self._given_store, self._given_hints
            if store is None:
                # Migrations take a session lock: on a pool of their own, which resets its connections.
                async with contextlib.AsyncExitStack() as migrating:
                    admin = await open_pool(settings.database_url.get_secret_value(), max_size=1)
                    migrating.push_async_callback(admin.close)
                    await apply_migrations(admin)
                pool = await open_pool(
                    settings.database_url.get_secret_value(),
                    max_size=settings.database_pool_max,
                    session_state=False,
                )
                stack.push_async_callback(pool.close)
                store = PgIssueStore(pool, cache_weight=settings.state_cache_weight)
                self.exit.pool = pool
                if hints is None and settings.use_redis:
                    # Hints are a shortcut: no retries, a short timeout (see RedisHints).
                    client = open_redis(settings.redis_url.get_secret_value(), timeout_s=0.5, retries=0)
                    stack.push_async_callback(client.aclose)
                    hints = RedisHints(
                        client, prefix=settings.redis_prefix, ttl_seconds=settings.hint_ttl_seconds
                    )
            self._store = store
            self._pipeline = TriagePipeline(
                store,
                hints or NoHints(),
                self.policies,
                clock=self.now,
                max_attempts=settings.max_attempts,
                hints_pending_max=settings.hints_pending_max,
                on_hints_dropped=self.metrics.hints_dropped.inc,
            )
            task = asyncio.create_task(self._timer(), name="triage-timer")
            log.info("triage.start", topic=settings.normalized_topic, group=settings.group_id)
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await self.drain()  # already done on shutdown, unless the broker never started
                await self._pipeline.flush_hints()
                self._pipeline.close()
                log.info("triage.stop")


def create_app(
    settings: TriageSettings,
    *,
    store: IssueStore | None = None,
    hints: IssueHints | None = None,
    clock: Clock | None = None,
    collector: BatchCollector | None = None,
) -> AsgiFastStream:
    """Build the triage service: subscribers, the release timer, metrics and operational endpoints.

    Args:
        settings: the service settings.
        store: an issue store to use instead of PostgreSQL (service tests pass an in-memory fake).
        hints: a hint cache to use instead of Redis (none when ``store`` is given and this is not).
        clock: the decision clock (defaults to the wall clock).
        collector: cycle collection between batches (``python -m hypercare_triage`` passes one; tests
            leave the interpreter's collector alone).
    """
    configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
    registry = CollectorRegistry()
    metrics = TriageMetrics(registry)
    # As in the normalizer: handlers get the consumer records themselves, and offsets are committed in
    # the background once a batch is stored and its decisions sent.
    broker = create_stream_broker(
        settings,
        service=SERVICE,
        registry=registry,
        deadletter_topic=settings.deadletter_topic,
        dead_letters=metrics.dead_letters,
    )
    reports = batch_subscriber(
        broker,
        settings.normalized_topic,
        group_id=settings.group_id,
        wait_ms=settings.batch_timeout_ms,
        max_records=settings.batch_max_records,
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_records,
    )
    committer = OffsetCommitter(lambda: reports.consumer, interval_s=settings.commit_interval_ms / 1000)
    service = _Service(
        settings,
        broker,
        metrics,
        committer,
        store=store,
        hints=hints,
        clock=clock or (lambda: datetime.now(UTC)),
        collector=collector,
        consumer=lambda: reports.consumer,
    )

    @reports
    async def on_normalized(records: tuple[RawRecord, ...]) -> None:
        await service.on_reports(records)

    @broker.subscriber(
        settings.lifecycle_topic,
        group_id=settings.lifecycle_group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_records,
    )
    async def on_lifecycle(record: RawRecord) -> None:
        await service.on_lifecycle(record)

    app = create_service_app(
        broker,
        registry=registry,
        lifespan=service.lifespan,
        ready_checks=[("postgres", service.database_ready)],
        metrics=metrics,
    )
    # Before the broker stops: the batch still being written is published and its offsets committed.
    app.on_shutdown(service.drain)
    app.on_shutdown(committer.close)
    # A batch whose handler was still running commits once the broker stopped (or is fetched again).
    app.after_shutdown(committer.close)
    return app
