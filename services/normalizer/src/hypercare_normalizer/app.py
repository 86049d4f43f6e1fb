"""Composition root of the normalizer: raw topics in, normalized reports and dead letters out."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaMessage
from faststream.middlewares import AckPolicy
from hypercare_domain.normalize import InputLimits, load_component_map
from hypercare_runtime.deadletter import dead_letter_headers
from hypercare_runtime.http import create_service_app
from hypercare_runtime.kafka import BatchPublisher, create_broker, keep_raw_bytes
from hypercare_runtime.logging import configure_logging, get_logger
from hypercare_runtime.tracing import propagate
from prometheus_client import CollectorRegistry

from hypercare_normalizer.metrics import SERVICE, NormalizerMetrics
from hypercare_normalizer.pipeline import BatchOutcome, RawRecord, normalize_batch
from hypercare_normalizer.settings import NormalizerSettings

log = get_logger(__name__)


def create_app(settings: NormalizerSettings) -> AsgiFastStream:
    """Build the normalizer: broker, subscriber, metrics and the operational endpoints."""
    configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
    registry = CollectorRegistry()
    metrics = NormalizerMetrics(registry)
    broker = create_broker(settings, service=SERVICE, registry=registry)
    components = load_component_map(settings.resolved_policy_dir())
    limits = InputLimits(max_bytes=settings.max_message_bytes, max_depth=settings.max_depth)

    @broker.subscriber(
        *settings.raw_topic_roles,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=5,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=keep_raw_bytes,
    )
    async def on_raw(message: KafkaMessage) -> None:
        started = time.perf_counter()
        records: tuple[RawRecord, ...] = message.raw_message
        outcome = normalize_batch(
            records, roles=settings.raw_topic_roles, components=components, limits=limits, service=SERVICE
        )
        publisher = BatchPublisher(broker)
        for item in outcome.reports:
            report = item.report
            await publisher.add(
                settings.normalized_topic,
                report.model_dump_json().encode(),
                key=report.fingerprint.encode(),
                headers=propagate(report.trace_id, item.ingested_at),
            )
        for dead in outcome.dead:
            await publisher.add(
                settings.deadletter_topic,
                dead.model_dump_json().encode(),
                key=None,
                headers=dead_letter_headers(dead),
            )
        await publisher.flush()
        record_batch(metrics, records, outcome, settings, started)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        log.info("normalizer.start", topics=list(settings.raw_topic_roles), group=settings.group_id)
        yield
        log.info("normalizer.stop")

    return create_service_app(broker, registry=registry, lifespan=lifespan)


def record_batch(
    metrics: NormalizerMetrics,
    records: tuple[RawRecord, ...],
    outcome: BatchOutcome,
    settings: NormalizerSettings,
    started: float,
) -> None:
    """Update the metrics for one processed batch."""
    metrics.count_consumed(r.topic for r in records)
    metrics.count_produced(settings.normalized_topic, len(outcome.reports))
    metrics.count_produced(settings.deadletter_topic, len(outcome.dead))
    for item in outcome.reports:
        metrics.reports.labels(item.report.source.value, item.report.source_format.value).inc()
    for dead in outcome.dead:
        metrics.dead_letters.labels(SERVICE, dead.error_class.value).inc()
    metrics.observe_end_to_end("normalized", (i.ingested_at for i in outcome.reports))
    metrics.stage_seconds.labels(SERVICE, "normalize").observe(time.perf_counter() - started)
