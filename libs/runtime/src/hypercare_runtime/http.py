"""Each service's own HTTP port: ``/metrics``, ``/healthz`` and ``/readyz``."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Scope
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, make_asgi_app

from hypercare_runtime.logging import get_logger

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


def create_service_app(
    broker: KafkaBroker,
    *,
    registry: CollectorRegistry,
    ready_checks: Sequence[tuple[str, ReadyCheck]] = (),
    lifespan: Callable[..., Any] | None = None,
    extra_routes: Sequence[tuple[str, ASGIApp]] = (),
) -> AsgiFastStream:
    """The ASGI application of a service: its broker plus the operational endpoints."""
    routes: list[tuple[str, ASGIApp]] = [
        ("/metrics", make_asgi_app(registry)),
        ("/healthz", _healthz()),
        ("/readyz", _readyz(broker, ready_checks)),
        *extra_routes,
    ]
    return AsgiFastStream(broker, asgi_routes=routes, lifespan=lifespan, logger=None)
