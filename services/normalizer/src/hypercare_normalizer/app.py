"""Composition root of the normalizer: raw topics in, normalized reports and dead letters out."""

import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.asgi import AsgiFastStream
from faststream.middlewares import AckPolicy
from hypercare_contracts import DeadLetter
from hypercare_domain.normalize import InputLimits, load_component_map
from hypercare_runtime.deadletter import dead_letter_headers
from hypercare_runtime.http import create_service_app
from hypercare_runtime.kafka import (
    BatchPublisher,
    OffsetCommitter,
    RawRecord,
    batch_subscriber,
    create_stream_broker,
    raw_records,
)
from hypercare_runtime.logging import configure_logging, get_logger
from hypercare_runtime.tracing import propagate
from prometheus_client import CollectorRegistry

from hypercare_normalizer.metrics import SERVICE, NormalizerMetrics
from hypercare_normalizer.pipeline import BatchOutcome, normalize_batch
from hypercare_normalizer.settings import NormalizerSettings

log = get_logger(__name__)

# model_dump_json() without the str round trip: the serializer returns the same UTF-8 bytes.
_dead_letter_json = DeadLetter.__pydantic_serializer__.to_json


def create_app(settings: NormalizerSettings) -> AsgiFastStream:
    """Build the normalizer: broker, subscriber, metrics and the operational endpoints."""
    configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
    registry = CollectorRegistry()
    metrics = NormalizerMetrics(registry)
    broker = create_stream_broker(
        settings,
        service=SERVICE,
        registry=registry,
        deadletter_topic=settings.deadletter_topic,
        dead_letters=metrics.dead_letters,
    )
    components = load_component_map(settings.resolved_policy_dir())
    limits = InputLimits(max_bytes=settings.max_message_bytes, max_depth=settings.max_depth)
    roles = settings.raw_topic_roles

    # Manual acknowledgement: offsets are committed by `committer` once the batch's output is acknowledged,
    # in the background, instead of FastStream's commit round trip before the next fetch.
    subscriber = batch_subscriber(
        broker,
        *roles,
        group_id=settings.group_id,
        wait_ms=settings.batch_timeout_ms,
        max_records=settings.batch_max_records,
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_records,
    )
    committer = OffsetCommitter(lambda: subscriber.consumer, interval_s=settings.commit_interval_ms / 1000)

    @subscriber
    async def on_raw(records: tuple[RawRecord, ...]) -> None:
        started = time.perf_counter()
        # Anything raised rewinds the batch (fetched again), never lets a later batch commit past it.
        with committer.settle(records):
            outcome = normalize_batch(
                records, roles=roles, components=components, limits=limits, service=SERVICE
            )
            await publish(BatchPublisher(broker), outcome, settings)
        record_batch(metrics, records, outcome, settings, started)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        log.info("normalizer.start", topics=list(settings.raw_topic_roles), group=settings.group_id)
        yield
        log.info("normalizer.stop")

    app = create_service_app(broker, registry=registry, lifespan=lifespan, metrics=metrics)
    app.on_shutdown(committer.close)
    # A batch whose handler was still running commits once the broker stopped (or is fetched again).
    app.after_shutdown(committer.close)
    return app


async def publish(publisher: BatchPublisher, outcome: BatchOutcome, settings: NormalizerSettings) -> None:
    """Send a batch's reports and dead letters and wait until Kafka acknowledged all of them."""
    for item in outcome.reports:
        report = item.report
        await publisher.add(
            settings.normalized_topic,
            item.payload,
            key=report.fingerprint.encode(),
            headers=propagate(report.trace_id, item.ingested_at),
        )
    for dead in outcome.dead:
        await publisher.add(
            settings.deadletter_topic,
            _dead_letter_json(dead),
            key=None,
            headers=dead_letter_headers(dead),
        )
    await publisher.flush()


def record_batch(
    metrics: NormalizerMetrics,
    records: tuple[RawRecord, ...],
    outcome: BatchOutcome,
    settings: NormalizerSettings,
    started: float,
) -> None:
    """Update the metrics for one processed batch."""
    # One increment per label set and batch rather than per message: the same totals, far fewer calls.
    for topic, count in Counter(r.topic for r in records).items():
        metrics.consumed.labels(SERVICE, topic).inc(count)
    metrics.count_produced(settings.normalized_topic, len(outcome.reports))
    metrics.count_produced(settings.deadletter_topic, len(outcome.dead))
    by_format = Counter(
        (i.report.source.value, i.report.source_format.value, i.report.component) for i in outcome.reports
    )
    for (source, source_format, component), count in by_format.items():
        metrics.reports.labels(source, source_format, component).inc(count)
    for reason, count in Counter(dead.error_class.value for dead in outcome.dead).items():
        metrics.dead_letters.labels(SERVICE, reason).inc(count)
    metrics.observe_end_to_end("normalized", (i.ingested_at for i in outcome.reports))
    metrics.stage_seconds.labels(SERVICE, "normalize").observe(time.perf_counter() - started)
