"""Composition root of the notifier: decisions, SLA and lifecycle events in, notifications and records out."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import redis.asyncio as aioredis
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy
from hypercare_domain.notify.policy import ChannelsPolicy, load_channels_policy
from hypercare_domain.policy import load_policy_file
from hypercare_domain.triage.routing import RoutesPolicy
from hypercare_runtime.cache import open_redis
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_runtime.deadletter import dead_letter_headers
from hypercare_runtime.http import create_service_app
from hypercare_runtime.kafka import BatchPublisher, batch_subscriber, create_broker, keep_raw_bytes
from hypercare_runtime.kafka import RawRecord as ConsumedRecord
from hypercare_runtime.logging import configure_logging, get_logger
from hypercare_store.deliveries import DeliveryStore
from hypercare_store.notifier_outbox import NotifierOutbox
from prometheus_client import CollectorRegistry

from hypercare_notifier.channels import ChannelSet, build_channels
from hypercare_notifier.digests import run_digest_planner
from hypercare_notifier.intake import Intake, IntakeResult
from hypercare_notifier.metrics import SERVICE, NotifierMetrics
from hypercare_notifier.planning import ChannelInfo, Channels
from hypercare_notifier.policy import NotifierPolicy, load_notifier_policy
from hypercare_notifier.records import OutboxRelay, Recorder, RecordTopics
from hypercare_notifier.redis_state import SentMarks, StormCounter
from hypercare_notifier.rendering import LinkSigner, Renderer
from hypercare_notifier.settings import NotifierSettings
from hypercare_notifier.worker import DeliveryWorker, WorkerConfig, default_instance_id

log = get_logger(__name__)

_POLL_WAIT_MS = 100
"""How long the intake's poll waits for a first record (it returns as soon as records are fetched)."""

_LAST_RELAY_SECONDS = 5.0
"""On shutdown, how long the last relay of the outbox may take (what it leaves, the next start relays)."""


@dataclass
class Runtime:
    """What the lifespan opens and the handler and background tasks use."""

    intake: Intake | None = None
    worker: DeliveryWorker | None = None
    relay: OutboxRelay | None = None
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def restrict(built: ChannelSet, only: str | None) -> ChannelSet:
    """Keep only the channels named in ``only`` (comma-separated); ``None`` keeps them all."""
    if only is None:
        return built
    names = {n.strip() for n in only.split(",") if n.strip()}
    kept = {name: channel for name, channel in built.enabled.items() if name in names}
    dropped = {name: "not in HYPERCARE_ONLY_CHANNELS" for name in built.enabled if name not in names}
    return ChannelSet(enabled=kept, disabled={**built.disabled, **dropped})


def channel_infos(channels: ChannelSet, policy: ChannelsPolicy, notifier: NotifierPolicy) -> Channels:
    """Planning's view of the enabled channels: which page, and the default."""
    pagers = set(notifier.paging.pager_types)
    known = {name: ChannelInfo(name, pager=policy.channels[name].type in pagers) for name in channels.enabled}
    return Channels(known=known, default=policy.default_channel)


@dataclass(frozen=True)
class Policies:
    """The policy files the notifier reads."""

    channels: ChannelsPolicy
    notifier: NotifierPolicy
    routes: RoutesPolicy


def wire(  # noqa: PLR0917 - the composition root's one place that joins everything
    runtime: Runtime,
    settings: NotifierSettings,
    policies: Policies,
    store: DeliveryStore,
    redis: aioredis.Redis,
    built: ChannelSet,
    relay: OutboxRelay,
    recorder: Recorder,
    metrics: NotifierMetrics,
) -> None:
    """Build the intake, the worker, the outbox relay and the digest planner on opened connections into
    ``runtime``."""
    channels = channel_infos(built, policies.channels, policies.notifier)
    storm = policies.notifier.storm
    marks = SentMarks(redis, prefix=settings.redis_prefix, ttl_seconds=settings.sent_marker_ttl_seconds)
    runtime.relay = relay
    runtime.intake = Intake(
        store=store,
        marks=marks,
        storm=StormCounter(redis, prefix=settings.redis_prefix),
        storm_policy=storm,
        recorder=recorder,
        channels=channels,
        route_channels=lambda name: policies.routes.target(name).channels,
        triaged_topic=settings.triaged_topic,
        sla_topic=settings.sla_topic,
        lifecycle_topic=settings.lifecycle_topic,
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
    )
    actions = policies.channels.actions
    signer = LinkSigner(actions.base_url, actions.secret(os.environ), timedelta(hours=actions.ttl_hours))
    worker = DeliveryWorker(
        store=store,
        marks=marks,
        channels=built.enabled,
        retry={name: policies.channels.retry_policy_for(name) for name in built.enabled},
        renderer=Renderer(
            signer=signer, members=store.digest_members, digest_max_entries=storm.digest_max_entries
        ),
        recorder=recorder,
        recorded=relay.wake,
        metrics=metrics,
        config=WorkerConfig(
            instance_id=settings.instance_id or default_instance_id(),
            concurrency=settings.concurrency,
            claim_seconds=settings.claim_seconds,
            poll_seconds=settings.poll_seconds,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        ),
    )
    runtime.worker = worker

    def planner() -> Coroutine[Any, Any, None]:
        return run_digest_planner(
            store,
            channels,
            metrics,
            grace_seconds=storm.digest_grace_seconds,
            interval=settings.digest_poll_seconds,
            wake=worker.wake,
        )

    runtime.background = [worker.run, relay.run, planner]


def create_app(settings: NotifierSettings) -> AsgiFastStream:
    """Build the notifier: broker, subscriber, delivery worker, digest planner and operational endpoints."""
    configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
    registry = CollectorRegistry()
    metrics = NotifierMetrics(registry)
    broker = create_broker(
        settings,
        service=SERVICE,
        registry=registry,
        deadletter_topic=settings.deadletter_topic,
        dead_letters=metrics.dead_letters,
    )
    policy_dir = settings.resolved_policy_dir()
    policies = Policies(
        channels=load_channels_policy(policy_dir),
        notifier=load_notifier_policy(policy_dir),
        routes=load_policy_file(policy_dir, "routes.yaml", RoutesPolicy),
    )
    topics = RecordTopics(
        notifications=settings.notifications_topic,
        deadletter=settings.deadletter_topic,
        triaged=settings.triaged_topic,
        sla=settings.sla_topic,
        lifecycle=settings.lifecycle_topic,
    )
    recorder = Recorder(topics)
    runtime = Runtime()

    # One batch consumer for the three inputs: each batch is planned against one load of the snapshots and
    # stored in one transaction. Lifecycle commands on the lifecycle topic are skipped by the intake.
    intake = batch_subscriber(
        broker,
        settings.triaged_topic,
        settings.sla_topic,
        settings.lifecycle_topic,
        group_id=settings.group_id,
        wait_ms=_POLL_WAIT_MS,
        max_records=settings.batch_max_records,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=keep_raw_bytes,
        # The three topics are keyed by issue id and have as many partitions each: the range assignor
        # gives one instance the same partitions of all three, so one issue's decisions, SLA events and
        # lifecycle events meet in one instance and its snapshot is not updated by two at once.
        partition_assignment_strategy=(RangePartitionAssignor,),
    )

    @intake
    async def on_batch(message: KafkaMessage) -> None:
        assert runtime.intake is not None, "lifespan not started"
        assert runtime.worker is not None, "lifespan not started"
        assert runtime.relay is not None, "lifespan not started"
        started = time.perf_counter()
        records: tuple[ConsumedRecord, ...] = message.raw_message
        result = await runtime.intake.handle(records)
        await publish_dead_letters(broker, recorder.topics.deadletter, result)
        runtime.worker.wake()
        if result.wrote_records:
            runtime.relay.wake()
        record_batch(metrics, records, result, topics, started)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        pool = await open_pool(settings.database_url.get_secret_value(), max_size=settings.database_pool_max)
        # Redis keeps shortcuts and storm counters; PostgreSQL decides. No retries: see redis_state.
        redis = open_redis(settings.redis_url.get_secret_value(), timeout_s=0.5, retries=0)
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=settings.concurrency * 2))
        try:
            await apply_migrations(pool)
            built = restrict(
                build_channels(policies.channels, os.environ, client=client, stream=sys.stdout),
                settings.only_channels,
            )
            relay = OutboxRelay(broker, NotifierOutbox(pool), metrics, poll_seconds=settings.poll_seconds)
            wire(runtime, settings, policies, DeliveryStore(pool), redis, built, relay, recorder, metrics)
            log.info(
                "notifier.start",
                topics=[settings.triaged_topic, settings.sla_topic, settings.lifecycle_topic],
                group=settings.group_id,
                channels=sorted(built.enabled),
            )
            yield
        finally:
            await stop_tasks(runtime)
            await client.aclose()
            await redis.aclose()
            await pool.close()
            log.info("notifier.stop")

    async def worker_running() -> bool:
        return runtime.worker is not None and all(not t.done() for t in runtime.tasks)

    app = create_service_app(
        broker,
        registry=registry,
        lifespan=lifespan,
        ready_checks=[("worker", worker_running)],
        metrics=metrics,
    )
    # The worker publishes records, so it starts once the broker is connected and stops before it closes.

    @app.after_startup
    async def start_background() -> None:
        await start_tasks(runtime)

    @app.on_shutdown
    async def stop_background() -> None:
        await stop_tasks(runtime)

    return app


async def start_tasks(runtime: Runtime) -> None:
    """Start the delivery worker, the outbox relay and the digest planner (pending deliveries and
    unpublished records of a previous run resume)."""
    runtime.tasks = [asyncio.create_task(start()) for start in runtime.background]


async def stop_tasks(runtime: Runtime) -> None:
    """Cancel the worker, the relay and the digest planner (the worker releases its leases as it stops),
    then relay what the last deliveries recorded, for a few seconds at most."""
    tasks, runtime.tasks = runtime.tasks, []
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if not tasks or runtime.relay is None:
        return
    try:
        async with asyncio.timeout(_LAST_RELAY_SECONDS):
            await runtime.relay.relay_once()
    except Exception as exc:  # the records stay in the outbox; the next start relays them
        log.warning("notifier.last_relay_failed", error=type(exc).__name__)


async def publish_dead_letters(broker: KafkaBroker, topic: str, result: IntakeResult) -> None:
    """Publish a batch's dead letters, waiting for the broker (the batch is delivered again otherwise,
    and its messages dead-lettered again)."""
    publisher = BatchPublisher(broker)
    for dead in result.dead:
        await publisher.add(
            topic,
            dead.model_dump_json().encode(),
            key=dead.key.encode() if dead.key else None,
            headers=dead_letter_headers(dead),
        )
    await publisher.flush()


def record_batch(
    metrics: NotifierMetrics,
    records: tuple[ConsumedRecord, ...],
    result: IntakeResult,
    topics: RecordTopics,
    started: float,
) -> None:
    """Update the metrics for one consumed batch."""
    metrics.count_consumed(r.topic for r in records)
    metrics.count_produced(topics.deadletter, len(result.dead))
    for dead in result.dead:
        metrics.dead_letters.labels(SERVICE, dead.error_class.value).inc()
    for outcome, count in result.lifecycle.items():
        metrics.lifecycle.labels(outcome.value).inc(count)
    for delivery in result.inserted:
        if delivery.status == "digested":
            metrics.notifications.labels(delivery.channel, "digested").inc()
        elif delivery.status == "skipped":
            metrics.skipped.labels((delivery.note or "skipped").removeprefix("skipped: issue ")).inc()
    metrics.stage_seconds.labels(SERVICE, "notify_intake").observe(time.perf_counter() - started)
