"""The HTTP routes: one ``POST`` per webhook endpoint, and the operational endpoints."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker
from hypercare_contracts.raw import PagerDutyEvent
from hypercare_domain.normalize import InputLimits
from hypercare_runtime.logging import get_logger
from hypercare_runtime.tracing import propagate
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from hypercare_gateway.auth import Authenticator, Producer, authorize
from hypercare_gateway.endpoints import ENDPOINTS, Endpoint
from hypercare_gateway.errors import ErrorBody
from hypercare_gateway.intake import check_body, check_content_type, declared_length, too_large, trace_id_from
from hypercare_gateway.openapi import request_body
from hypercare_gateway.publish import RawPublisher
from hypercare_gateway.settings import GatewaySettings, Scope
from hypercare_gateway.zendesk import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_zendesk_signature

PRODUCER_HEADER = "hypercare-producer"
"""Kafka header naming the producer whose key authenticated the request."""
TRACE_RESPONSE_HEADER = "X-Hypercare-Trace-Id"

log = get_logger(__name__)
bearer = HTTPBearer(
    auto_error=False,
    description="A producer's API key (HYPERCARE_GATEWAY_API_KEYS); not required in local development mode.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class Accepted(BaseModel):
    """The answer to an accepted event: it is in Kafka, acknowledged by the brokers."""

    status: Literal["accepted"] = "accepted"
    trace_id: str


class PagerDutyAccepted(BaseModel):
    """The PagerDuty Events API v2 answer, so PagerDuty clients read it as they read PagerDuty's."""

    status: Literal["success"] = "success"
    message: str = "Event processed"
    dedup_key: str


@dataclass(frozen=True)
class Intake:
    """What the webhook handlers share."""

    settings: GatewaySettings
    auth: Authenticator
    publisher: RawPublisher
    limits: InputLimits


def _errors(endpoint: Endpoint) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The body is not valid JSON or does not match the format; `field` names the bad field.",
        401: "Missing or unknown bearer token"
        + (", or a bad Zendesk signature." if endpoint.zendesk else "."),
        403: "The producer's key does not allow this endpoint's scope.",
        413: "The body is larger than HYPERCARE_GATEWAY_MAX_BODY_BYTES.",
        415: "The content type is not application/json.",
        429: "Too many requests in flight; retry after `Retry-After` seconds.",
        503: "Kafka did not acknowledge the write in time; retry after `Retry-After` seconds.",
    }
    return {status: {"model": ErrorBody, "description": text} for status, text in described.items()}


def add_webhook_routes(app: FastAPI, intake: Intake) -> None:
    """Register one ``POST`` route per entry of :data:`ENDPOINTS`."""
    for endpoint in ENDPOINTS:
        accepted = PagerDutyAccepted if endpoint.pagerduty else Accepted
        app.add_api_route(
            endpoint.path,
            _handler(endpoint, intake),
            methods=["POST"],
            status_code=202,
            response_model=None,
            responses={202: {"model": accepted, "description": "Written to Kafka"}, **_errors(endpoint)},
            summary=endpoint.summary,
            description=endpoint.description,
            tags=[endpoint.scope],
            name=endpoint.name,
            openapi_extra=request_body(endpoint.models),
        )
        for alias in endpoint.aliases:
            app.add_api_route(
                alias,
                _handler(endpoint, intake),
                methods=["POST"],
                status_code=202,
                response_model=None,
                include_in_schema=False,
                name=f"{endpoint.name}_alias",
            )


def _admit(auth: Authenticator, token: str | None, scope: Scope, request: Request) -> Producer:
    producer = auth.identify(token)
    request.state.producer = producer.name
    authorize(producer, scope)
    return producer


async def _read_body(request: Request, max_bytes: int) -> bytes:
    declared_length(request.headers.get("content-length"), max_bytes)
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) > max_bytes:
            raise too_large(len(buffer), max_bytes)
    return bytes(buffer)


def _handler(endpoint: Endpoint, intake: Intake) -> Callable[..., Awaitable[JSONResponse]]:
    settings = intake.settings
    topic = settings.topic_for(endpoint.scope)

    async def handle(request: Request, credentials: Credentials) -> JSONResponse:
        token = credentials.credentials if credentials is not None else None
        # PagerDuty senders carry their integration key in the body (routing_key), not in a header.
        routing_key_auth = endpoint.pagerduty and token is None and intake.auth.enabled
        producer = None if routing_key_auth else _admit(intake.auth, token, endpoint.scope, request)
        check_content_type(request.headers.get("content-type"))
        raw = await _read_body(request, settings.gateway_max_body_bytes)
        if endpoint.zendesk and settings.zendesk_webhook_secret is not None:
            verify_zendesk_signature(
                settings.zendesk_webhook_secret.get_secret_value(),
                signature=request.headers.get(SIGNATURE_HEADER),
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                body=raw,
            )
        checked = check_body(
            raw, source=endpoint.scope, formats=endpoint.formats, limits=intake.limits, hint=endpoint.hint
        )
        if producer is None:
            assert isinstance(checked.model, PagerDutyEvent)
            producer = _admit(intake.auth, checked.model.routing_key, endpoint.scope, request)
        trace_id = trace_id_from(request.headers)
        headers = {
            **propagate(trace_id, time.time()),
            PRODUCER_HEADER: producer.name,
            "content-type": "application/json",
        }
        await intake.publisher.publish(topic, checked.body, key=checked.key, headers=headers)
        log.info(
            "gateway.accepted",
            endpoint=endpoint.name,
            producer=producer.name,
            format=checked.fmt.value,
            topic=topic,
            trace_id=trace_id,
            size=len(raw),
        )
        answer: BaseModel = (
            PagerDutyAccepted(dedup_key=checked.dedup_key or "")
            if endpoint.pagerduty
            else Accepted(trace_id=trace_id)
        )
        return JSONResponse(answer.model_dump(), status_code=202, headers={TRACE_RESPONSE_HEADER: trace_id})

    handle.__name__ = f"post_{endpoint.name}"
    return handle


def add_ops_routes(app: FastAPI, broker: KafkaBroker, registry: CollectorRegistry) -> None:
    """``/healthz`` (the process answers), ``/readyz`` (Kafka answers) and ``/metrics``; not in OpenAPI."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        if await broker.ping(timeout=2.0):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "failing": ["kafka"]}, status_code=503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
