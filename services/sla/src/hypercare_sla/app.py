"""Composition root of the SLA service: HTTP API, Kafka subscribers, the milestone scheduler, the store."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version

import asyncpg
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from hypercare_contracts.lifecycle import LifecycleCommand
from hypercare_domain.sla import Clock, SystemClock, load_sla_policy
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_runtime.kafka import create_broker
from hypercare_runtime.logging import configure_logging, get_logger
from hypercare_store.sla import PgSlaStore
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from hypercare_sla.api import add_action_routes, add_api_routes
from hypercare_sla.auth import ApiAuth
from hypercare_sla.errors import install_error_handlers
from hypercare_sla.kafka import KafkaEventSink, add_subscribers
from hypercare_sla.metrics import SERVICE, SlaMetrics
from hypercare_sla.ports import SlaStore
from hypercare_sla.scheduler import Scheduler
from hypercare_sla.service import Outcome, SlaService
from hypercare_sla.settings import SlaSettings

log = get_logger(__name__)

DESCRIPTION = """\
Keeps the SLA clocks of every issue: acknowledge, resolve, reopen, snooze, reassign and comment on issues;
see their clocks and audit trail. Signed one-click links from notifications land on `/v1/actions/{token}`.
Every change is published as a LifecycleEvent on `hypercare.issues.lifecycle`; SLA milestones and escalation
steps are published on `hypercare.sla.events`.
"""


@dataclass
class _Running:
    """What the lifespan builds; the routes and subscribers reach it once the app has started."""

    service: SlaService | None = None
    store: SlaStore | None = None
    scheduler_task: "asyncio.Task[None] | None" = None

    def get_service(self) -> SlaService:
        if self.service is None:
            raise RuntimeError("the SLA service has not started (its lifespan did not run)")
        return self.service

    async def command_applies_to_a_known_issue(self, command: LifecycleCommand) -> bool:
        """Execute a command from Kafka; False when its issue is unknown (nothing was done)."""
        result = await self.get_service().execute(command)
        return result.outcome is not Outcome.NOT_FOUND


def create_app(
    settings: SlaSettings, *, clock: Clock | None = None, store: SlaStore | None = None
) -> FastAPI:
    """Build the SLA service; nothing connects until the lifespan runs.

    Args:
        settings: the service settings.
        clock: where "now" comes from (the system clock by default).
        store: the store to use; by default a PostgreSQL pool is opened (and migrated) in the lifespan.
    """
    configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
    registry = CollectorRegistry()
    metrics = SlaMetrics(registry)
    broker = create_broker(
        settings,
        service=SERVICE,
        registry=registry,
        deadletter_topic=settings.deadletter_topic,
        dead_letters=metrics.dead_letters,
    )
    policy = load_sla_policy(settings.resolved_policy_dir())
    auth = ApiAuth(settings.api_tokens)
    the_clock: Clock = clock if clock is not None else SystemClock()
    running = _Running()
    sink = KafkaEventSink(broker, settings=settings, metrics=metrics)
    add_subscribers(
        broker,
        settings,
        metrics,
        on_triaged=lambda issue: running.get_service().on_triaged(issue),
        on_command=running.command_applies_to_a_known_issue,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not auth.enabled:
            log.warning("sla.auth_disabled", reason="HYPERCARE_API_TOKENS is not set: local development mode")
        pool = None
        active = store
        if active is None:
            pool = await open_pool(
                settings.database_url.get_secret_value(), max_size=settings.database_pool_max
            )
            await apply_migrations(pool)
            active = PgSlaStore(pool)
        scheduler = Scheduler(
            store=active,
            sink=sink,
            clock=the_clock,
            metrics=metrics,
            owner=settings.instance_id,
            lease=timedelta(seconds=settings.scheduler_lease_seconds),
            batch=settings.scheduler_batch,
            max_sleep=settings.scheduler_max_sleep_seconds,
            retry_after=settings.scheduler_retry_seconds,
        )
        running.store = active
        running.service = SlaService(
            store=active,
            sink=sink,
            policy=policy,
            clock=the_clock,
            metrics=metrics,
            clock_skew=timedelta(seconds=settings.clock_skew_seconds),
            on_planned=scheduler.wake,
        )
        await broker.start()
        running.scheduler_task = asyncio.create_task(scheduler.run(), name="sla-scheduler")
        running.scheduler_task.add_done_callback(_report_crash)
        log.info("sla.start", instance=settings.instance_id, port=settings.http_port, group=settings.group_id)
        try:
            yield
        finally:
            running.scheduler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running.scheduler_task
            await broker.stop()
            if pool is not None:
                await pool.close()
            log.info("sla.stop")

    app = FastAPI(
        title="Hypercare SLA", version=version("hypercare-sla"), description=DESCRIPTION, lifespan=lifespan
    )
    app.state.broker = broker
    app.state.registry = registry
    install_error_handlers(app)
    add_api_routes(app, auth=auth, service=running.get_service)
    add_action_routes(app, secret=settings.action_secret, clock=the_clock, service=running.get_service)

    _add_ops_routes(app, broker, registry, running)
    return app


def _add_ops_routes(
    app: FastAPI, broker: KafkaBroker, registry: CollectorRegistry, running: _Running
) -> None:
    """``/healthz`` (the process answers), ``/readyz`` (Kafka, database, scheduler) and ``/metrics``."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        failing = [] if await broker.ping(timeout=2.0) else ["kafka"]
        try:
            if running.store is None or not await running.store.ping():
                failing.append("database")
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("readyz.check_failed", check="database", error=type(exc).__name__)
            failing.append("database")
        task = running.scheduler_task
        if task is None or task.done():
            failing.append("scheduler")
        if failing:
            return JSONResponse({"status": "not ready", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _report_crash(task: "asyncio.Task[None]") -> None:
    """Log a scheduler that stopped on an unexpected error (``/readyz`` then reports it)."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("scheduler.crashed", error=type(error).__name__, exc_info=error)
