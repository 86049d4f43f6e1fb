"""The gateway's operational endpoints and its committed OpenAPI document."""

import json
from pathlib import Path

import pytest
from hypercare_gateway.app import create_app
from hypercare_gateway.endpoints import ENDPOINTS
from hypercare_gateway.openapi import render
from hypercare_gateway.settings import GatewaySettings

from tests.factories.raw import make_feedback, make_social
from tests.support.gateway import in_memory_gateway

pytestmark = pytest.mark.service

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "regenerate with: uv run python -m hypercare_gateway.openapi docs/openapi.json"


async def test_health_and_readiness_answer_json() -> None:
    async with in_memory_gateway(GatewaySettings(gateway_api_keys=None)) as gw:
        health = await gw.client.get("/healthz")
        ready = await gw.client.get("/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_metrics_count_requests_by_endpoint_and_status_and_produced_messages() -> None:
    async with in_memory_gateway(GatewaySettings(gateway_api_keys=None)) as gw:
        await gw.client.post("/v1/feedback", json=make_feedback())
        await gw.client.post("/v1/feedback", json=make_feedback(rating=0))
        await gw.client.post("/v1/social", json=make_social())
        response = await gw.client.get("/metrics")
    text = response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert 'hypercare_gateway_requests_total{endpoint="feedback",status="202"} 1.0' in text
    assert 'hypercare_gateway_requests_total{endpoint="feedback",status="400"} 1.0' in text
    assert 'hypercare_gateway_requests_total{endpoint="social",status="202"} 1.0' in text
    assert 'hypercare_gateway_request_duration_seconds_count{endpoint="feedback"} 2.0' in text
    assert 'hypercare_messages_produced_total{service="gateway",topic="hypercare.raw.feedback"} 1.0' in text
    assert "/metrics" not in text  # operational endpoints are not counted as webhook traffic


def test_committed_openapi_document_is_up_to_date() -> None:
    current = json.loads(render(create_app(GatewaySettings())))
    committed = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert committed == current, REGENERATE


def test_openapi_describes_every_webhook_body_and_hides_internal_endpoints() -> None:
    document = create_app(GatewaySettings()).openapi()
    paths = document["paths"]
    assert set(paths) == {e.path for e in ENDPOINTS}
    schemas = document["components"]["schemas"]
    for endpoint in ENDPOINTS:
        operation = paths[endpoint.path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        refs = [body["$ref"]] if "$ref" in body else [item["$ref"] for item in body["oneOf"]]
        assert refs == [f"#/components/schemas/{m.__name__}" for m in endpoint.models]
        assert all(ref.rsplit("/", 1)[1] in schemas for ref in refs)
        assert {"202", "400", "401", "403", "413", "415", "429", "503"} <= set(operation["responses"])
    assert schemas["AlertmanagerAlert"]["required"] == ["status", "labels", "startsAt"]
