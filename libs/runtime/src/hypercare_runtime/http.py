"""Each service's own HTTP port: ``/metrics``, ``/healthz`` and ``/readyz``."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext, suppress
from typing import Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Scope
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, make_asgi_app

from hypercare_runtime.lag import report_consumer_lag
from hypercare_runtime.logging import get_logger
from hypercare_runtime.metrics import PipelineMetrics
from hypercare_runtime.process import time_gc_pauses

ReadyCheck = Callable[[], Awaitable[bool]]
log = get_logger(__name__)


def _healthz() -> ASGIApp:
    @get(include_in_schema=False)
    async def healthz(scope: Scope) -> AsgiResponse:
        return AsgiResponse(b'{"status":"ok"}', 200, headers={"content-type": "application/json"})

    return healthz


def _readyz(broker: KafkaBroker, checks: Sequence[tuple[str, ReadyCheck]]) -> ASGIApp:
    @get(include_in_schema=False)
    async def readyz(scope: Scope) -> AsgiResponse:
        failing = [] if await broker.ping(timeout=2.0) else ["kafka"]
        for name, check in checks:
            try:
                ok = await check()
            except (OSError, TimeoutError, ConnectionError) as exc:
                log.warning("readyz.check_failed", check=name, error=type(exc).__name__)
                ok = False
            if not ok:
                failing.append(name)
        if failing:
            body = ('{"status":"not ready","failing":[' + ",".join(f'"{f}"' for f in failing) + "]}").encode()
            return AsgiResponse(body, 503, headers={"content-type": "application/json"})
        return AsgiResponse(b'{"status":"ready"}', 200, headers={"content-type": "application/json"})

    return readyz


def _with_lag_reporting(
    broker: KafkaBroker, metrics: PipelineMetrics, lifespan: Callable[..., Any] | None
) -> Callable[..., Any]:
    @asynccontextmanager
    async def combined(**_: Any) -> AsyncIterator[None]:
        async with lifespan() if lifespan is not None else nullcontext():
            task = asyncio.create_task(report_consumer_lag(broker, metrics), name="consumer-lag")
            try:
                yield
            finally:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    return combined


def create_service_app(
    broker: KafkaBroker,
    *,
    registry: CollectorRegistry,
    ready_checks: Sequence[tuple[str, ReadyCheck]] = (),
    lifespan: Callable[..., Any] | None = None,
    extra_routes: Sequence[tuple[str, ASGIApp]] = (),
    metrics: PipelineMetrics | None = None,
) -> AsgiFastStream:
    """The ASGI application of a service: its broker plus the operational endpoints.

    With ``metrics``, the consumer lag of every subscriber is exported while the service runs.
    """
    if metrics is not None:
        lifespan = _with_lag_reporting(broker, metrics, lifespan)
    time_gc_pauses(registry)
    routes: list[tuple[str, ASGIApp]] = [
        ("/metrics", make_asgi_app(registry)),
        ("/healthz", _healthz()),
        ("/readyz", _readyz(broker, ready_checks)),
        *extra_routes,
    ]
    return AsgiFastStream(broker, asgi_routes=routes, lifespan=lifespan, logger=None)
