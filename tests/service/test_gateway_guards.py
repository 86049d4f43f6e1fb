"""What the gateway refuses before publishing: auth, size, media type, overload, slow Kafka, signatures."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypercare_gateway.settings import GatewaySettings
from hypercare_gateway.zendesk import SIGNATURE_HEADER, TIMESTAMP_HEADER, zendesk_signature
from pydantic import SecretStr

from tests.factories.raw import make_alertmanager, make_feedback, make_pagerduty, make_social, make_zendesk
from tests.support.gateway import Published, api_keys, bearer, in_memory_gateway

pytestmark = pytest.mark.service

KEYS = api_keys(
    {
        "alertmanager": ("am-token", ("alerts",)),
        "desk": ("desk-token", ("tickets",)),
        "widget": ("widget-token", ("feedback", "social")),
        "pagerduty-client": ("R0UT1NGKEY0000000000000000000000", ("alerts",)),
    }
)


def make_settings(**overrides: Any) -> GatewaySettings:
    """Settings with the producer table above, unless overridden."""
    return GatewaySettings(**{"gateway_api_keys": KEYS, **overrides})


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """The response is a JSON error of that status and class; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert body["reason"]
    return body


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "unauthorized"),
        (bearer("not-a-known-token"), 401, "unauthorized"),
        ({"Authorization": "Basic YWxlcnRtYW5hZ2VyOmFtLXRva2Vu"}, 401, "unauthorized"),
        (bearer("desk-token"), 403, "forbidden"),
        (bearer("widget-token"), 403, "forbidden"),
    ],
)
async def test_alert_endpoint_refuses_missing_unknown_and_unscoped_tokens(
    headers: dict[str, str], status: int, error: str
) -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post("/v1/alerts/alertmanager", json=make_alertmanager(), headers=headers)
        assert gw.published == []
    assert_error(response, status, error)
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("path", "payload", "token", "producer"),
    [
        ("/v1/alerts/alertmanager", make_alertmanager(), "am-token", "alertmanager"),
        ("/v1/tickets/zendesk", make_zendesk(), "desk-token", "desk"),
        ("/v1/feedback", make_feedback(), "widget-token", "widget"),
        ("/v1/social", make_social(), "widget-token", "widget"),
    ],
)
async def test_scoped_token_is_accepted_and_names_the_producer(
    path: str, payload: dict[str, Any], token: str, producer: str
) -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(path, json=payload, headers=bearer(token))
        assert response.status_code == 202, response.text
        assert gw.published[0].headers["hypercare-producer"] == producer


async def test_without_api_keys_auth_is_off_and_the_producer_is_local_dev() -> None:
    async with in_memory_gateway(make_settings(gateway_api_keys=None)) as gw:
        response = await gw.client.post("/v1/feedback", json=make_feedback())
        assert response.status_code == 202
        assert gw.published[0].headers["hypercare-producer"] == "local-dev"


async def test_pagerduty_sender_may_authenticate_with_its_routing_key() -> None:
    async with in_memory_gateway(make_settings()) as gw:
        known = await gw.client.post("/v1/alerts/pagerduty", json=make_pagerduty())
        unknown = await gw.client.post("/v1/alerts/pagerduty", json=make_pagerduty(routing_key="other-key"))
        assert [p.headers["hypercare-producer"] for p in gw.published] == ["pagerduty-client"]
    assert known.status_code == 202
    assert_error(unknown, 401, "unauthorized")


async def test_oversize_body_by_content_length_is_413_before_reading() -> None:
    async with in_memory_gateway(make_settings(gateway_max_body_bytes=1000)) as gw:
        response = await gw.client.post(
            "/v1/feedback",
            content=b"{}",
            headers={**bearer("widget-token"), "Content-Type": "application/json", "Content-Length": "1001"},
        )
        assert gw.published == []
    assert_error(response, 413, "oversize")


async def test_oversize_streamed_body_without_content_length_is_413() -> None:
    payload = json.dumps(make_feedback(text="x" * 5000)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 512):
            yield payload[start : start + 512]

    async with in_memory_gateway(make_settings(gateway_max_body_bytes=1000)) as gw:
        response = await gw.client.post(
            "/v1/feedback",
            content=chunks(),
            headers={**bearer("widget-token"), "Content-Type": "application/json"},
        )
        assert gw.published == []
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "oversize")


async def test_body_at_the_limit_is_accepted() -> None:
    payload = json.dumps(make_feedback()).encode()
    async with in_memory_gateway(make_settings(gateway_max_body_bytes=len(payload))) as gw:
        response = await gw.client.post(
            "/v1/feedback",
            content=payload,
            headers={**bearer("widget-token"), "Content-Type": "application/json"},
        )
    assert response.status_code == 202


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"],
)
async def test_non_json_content_type_is_415(content_type: str | None) -> None:
    headers = bearer("widget-token") | ({"Content-Type": content_type} if content_type else {})
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(
            "/v1/feedback", content=json.dumps(make_feedback()).encode(), headers=headers
        )
        assert gw.published == []
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/vnd.hypercare+json"]
)
async def test_json_content_types_are_accepted(content_type: str) -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(
            "/v1/feedback",
            content=json.dumps(make_feedback()).encode(),
            headers={**bearer("widget-token"), "Content-Type": content_type},
        )
    assert response.status_code == 202


async def test_requests_over_the_inflight_limit_get_429_with_retry_after() -> None:
    release = asyncio.Event()
    holding = asyncio.Event()

    async def hold(_: Published) -> None:
        holding.set()
        await release.wait()

    settings = make_settings(gateway_max_inflight=1, gateway_retry_after_seconds=3)
    async with in_memory_gateway(settings, on_publish=hold) as gw:
        first = asyncio.create_task(
            gw.client.post("/v1/feedback", json=make_feedback(), headers=bearer("widget-token"))
        )
        await asyncio.wait_for(holding.wait(), timeout=5)
        refused = await gw.client.post("/v1/social", json=make_social(), headers=bearer("widget-token"))
        release.set()
        accepted = await asyncio.wait_for(first, timeout=5)
        after = await gw.client.post("/v1/social", json=make_social(), headers=bearer("widget-token"))
        metrics = (await gw.client.get("/metrics")).text

    assert_error(refused, 429, "overloaded")
    assert refused.headers["Retry-After"] == "3"
    assert accepted.status_code == 202
    assert after.status_code == 202
    assert 'hypercare_gateway_requests_total{endpoint="social",status="429"} 1.0' in metrics


async def test_zero_inflight_refuses_webhooks_but_not_health() -> None:
    async with in_memory_gateway(make_settings(gateway_max_inflight=0)) as gw:
        refused = await gw.client.post("/v1/feedback", json=make_feedback(), headers=bearer("widget-token"))
        health = await gw.client.get("/healthz")
    assert_error(refused, 429, "overloaded")
    assert health.status_code == 200


async def test_kafka_not_acknowledging_in_time_is_503_with_retry_after() -> None:
    async def slow(_: Published) -> None:
        await asyncio.sleep(5)

    settings = make_settings(gateway_publish_timeout_seconds=0.1, gateway_retry_after_seconds=2)
    async with in_memory_gateway(settings, on_publish=slow) as gw:
        started = time.monotonic()
        response = await gw.client.post("/v1/feedback", json=make_feedback(), headers=bearer("widget-token"))
        elapsed = time.monotonic() - started
    assert_error(response, 503, "delivery_failed")
    assert response.headers["Retry-After"] == "2"
    assert elapsed < 2


SECRET = "dGhpcy1pcy1hLXplbmRlc2stc2VjcmV0"


def signed(body: bytes, *, secret: str = SECRET, timestamp: str = "2024-05-02T10:05:01Z") -> dict[str, str]:
    """Headers Zendesk would send with ``body``."""
    return {
        SIGNATURE_HEADER: zendesk_signature(secret, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
        "Content-Type": "application/json",
        **bearer("desk-token"),
    }


async def test_zendesk_signature_is_verified_when_a_secret_is_set() -> None:
    body = json.dumps(make_zendesk()).encode()
    tampered = json.dumps(make_zendesk(type="zen:event-type:ticket.status_changed")).encode()
    async with in_memory_gateway(make_settings(zendesk_webhook_secret=SecretStr(SECRET))) as gw:
        good = await gw.client.post("/v1/tickets/zendesk", content=body, headers=signed(body))
        wrong_secret = await gw.client.post(
            "/v1/tickets/zendesk", content=body, headers=signed(body, secret="another-secret")
        )
        body_changed = await gw.client.post("/v1/tickets/zendesk", content=tampered, headers=signed(body))
        headers = signed(body)
        headers[TIMESTAMP_HEADER] = "2024-05-02T10:05:02Z"
        timestamp_changed = await gw.client.post("/v1/tickets/zendesk", content=body, headers=headers)
        unsigned = await gw.client.post(
            "/v1/tickets/zendesk", json=make_zendesk(), headers=bearer("desk-token")
        )
        assert [p.body for p in gw.published] == [body]

    assert good.status_code == 202
    for response in (wrong_secret, body_changed, timestamp_changed, unsigned):
        assert_error(response, 401, "invalid_signature")


async def test_zendesk_unsigned_webhooks_are_accepted_without_a_secret() -> None:
    async with in_memory_gateway(make_settings(zendesk_webhook_secret=None)) as gw:
        response = await gw.client.post(
            "/v1/tickets/zendesk", json=make_zendesk(), headers=bearer("desk-token")
        )
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [("POST", "/v1/nothing", 404, "not_found"), ("GET", "/v1/feedback", 405, "method_not_allowed")],
)
async def test_unknown_routes_answer_json_errors(method: str, path: str, status: int, error: str) -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.request(method, path)
    assert_error(response, status, error)


def _trigger_without_key(**details: Any) -> bytes:
    event = make_pagerduty()
    del event["dedup_key"]
    event["payload"]["custom_details"].update(details)
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        # 1e400 parsed as infinity and was written back as Infinity, which the normalizer refused.
        (_trigger_without_key(region=1.0).replace(b"1.0", b"1e400"), "invalid_json"),
        # Half a surrogate pair could not be written back as UTF-8: a 500.
        (_trigger_without_key(note="\ud800"), "invalid_encoding"),
    ],
    ids=["number beyond a float", "lone surrogate"],
)
async def test_a_pagerduty_trigger_whose_rewrite_would_fail_downstream_is_400(
    body: bytes, error: str
) -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(
            "/v1/alerts/pagerduty", content=body, headers={"Content-Type": "application/json"}
        )
        assert gw.published == []
    assert_error(response, 400, error)


async def test_a_pagerduty_trigger_over_the_limit_once_its_dedup_key_is_added_is_413() -> None:
    # The gateway adds the dedup key it answers with; the normalizer, with the same limit, would have
    # dead-lettered the rewritten body as oversize after the sender was told 202.
    body = _trigger_without_key(note="x")
    padded = _trigger_without_key(note="x" * (1000 - len(body) + 1))
    assert len(padded) == 1000
    async with in_memory_gateway(make_settings(gateway_max_body_bytes=1000)) as gw:
        response = await gw.client.post(
            "/v1/alerts/pagerduty", content=padded, headers={"Content-Type": "application/json"}
        )
        assert gw.published == []
    assert_error(response, 413, "oversize")
