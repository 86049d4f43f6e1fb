"""Composition root of the gateway: HTTP webhooks in, raw Kafka topics out."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from hypercare_domain.normalize import InputLimits
from hypercare_runtime.kafka import create_broker
from hypercare_runtime.logging import configure_logging, get_logger
from prometheus_client import CollectorRegistry

from hypercare_gateway.admission import AdmissionMiddleware
from hypercare_gateway.auth import Authenticator
from hypercare_gateway.endpoints import ENDPOINTS
from hypercare_gateway.errors import install_error_handlers
from hypercare_gateway.metrics import SERVICE, GatewayMetrics
from hypercare_gateway.openapi import install_openapi
from hypercare_gateway.publish import RawPublisher
from hypercare_gateway.routes import Intake, add_ops_routes, add_webhook_routes
from hypercare_gateway.settings import GatewaySettings

log = get_logger(__name__)

DESCRIPTION = """\
Takes webhooks from producers that cannot speak Kafka (Alertmanager, Grafana, PagerDuty clients,
Zendesk, in-app widgets, social listeners), checks them as the normalizer will, and writes the
original body to the matching raw Kafka topic. A 202 means Kafka acknowledged the write.
"""


def create_app(settings: GatewaySettings) -> FastAPI:
    """Build the gateway: Kafka producer, authentication, routes, metrics and the lifespan.

    The broker connects in the lifespan (not here), so building the app has no side effect; the app is
    exposed as ``app.state.broker`` for tests that patch it with FastStream's ``TestKafkaBroker``.
    """
    configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    broker = create_broker(settings, service=SERVICE, registry=registry)
    auth = Authenticator(settings.gateway_api_keys)
    intake = Intake(
        settings=settings,
        auth=auth,
        publisher=RawPublisher(
            broker,
            timeout_seconds=settings.gateway_publish_timeout_seconds,
            retry_after_seconds=settings.gateway_retry_after_seconds,
            metrics=metrics,
        ),
        limits=InputLimits(max_bytes=settings.gateway_max_body_bytes, max_depth=settings.gateway_max_depth),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not auth.enabled:
            log.warning(
                "gateway.auth_disabled",
                reason="HYPERCARE_GATEWAY_API_KEYS is not set: local development mode, anyone may post",
            )
        await broker.start()
        log.info(
            "gateway.start",
            host=settings.http_host,
            port=settings.http_port,
            producers=sorted(settings.gateway_api_keys or ()),
            zendesk_signatures=settings.zendesk_webhook_secret is not None,
        )
        try:
            yield
        finally:
            await broker.stop()
            log.info("gateway.stop")

    app = FastAPI(
        title="Hypercare gateway",
        version=version("hypercare-gateway"),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.broker = broker
    app.state.registry = registry
    install_error_handlers(app)
    add_webhook_routes(app, intake)
    add_ops_routes(app, broker, registry)
    install_openapi(app, tuple(dict.fromkeys(m for e in ENDPOINTS for m in e.models)))
    app.add_middleware(
        AdmissionMiddleware,
        endpoints={path: e.name for e in ENDPOINTS for path in (e.path, *e.aliases)},
        max_inflight=settings.gateway_max_inflight,
        retry_after_seconds=settings.gateway_retry_after_seconds,
        metrics=metrics,
    )
    return app
