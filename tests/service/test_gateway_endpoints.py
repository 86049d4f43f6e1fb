"""Gateway endpoints through the in-memory broker: what gets published, where, with which headers."""

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypercare_contracts import topics
from hypercare_contracts.topics import HEADER_INGESTED_AT, HEADER_TRACE_ID
from hypercare_gateway.routes import PRODUCER_HEADER, TRACE_RESPONSE_HEADER
from hypercare_gateway.settings import GatewaySettings

from tests.factories.raw import (
    make_alertmanager,
    make_am_alert,
    make_feedback,
    make_generic_ticket,
    make_grafana,
    make_pagerduty,
    make_social,
    make_zendesk,
)
from tests.support.gateway import api_keys, bearer, in_memory_gateway

pytestmark = pytest.mark.service

TOKEN = "all-scopes-token"
Factory = Callable[..., dict[str, Any]]


def make_settings(**overrides: Any) -> GatewaySettings:
    """Settings with one producer allowed everything, unless overridden."""
    values: dict[str, Any] = {
        "gateway_api_keys": api_keys({"ops": (TOKEN, ("alerts", "tickets", "feedback", "social"))}),
        **overrides,
    }
    return GatewaySettings(**values)


HAPPY = [
    (
        "/v1/alerts/alertmanager",
        make_alertmanager,
        topics.RAW_ALERTS,
        b'{}:{alertname="CheckoutErrorRateHigh"}',
    ),
    ("/v1/alerts/alertmanager", make_grafana, topics.RAW_ALERTS, b'{}:{alertname="CheckoutErrorRateHigh"}'),
    ("/v1/alerts/grafana", make_grafana, topics.RAW_ALERTS, b'{}:{alertname="CheckoutErrorRateHigh"}'),
    ("/v1/alerts/grafana", make_alertmanager, topics.RAW_ALERTS, b'{}:{alertname="CheckoutErrorRateHigh"}'),
    ("/v1/alerts/pagerduty", make_pagerduty, topics.RAW_ALERTS, b"checkout-errors-prod"),
    ("/v1/tickets/zendesk", make_zendesk, topics.RAW_TICKETS, b"zendesk:4711"),
    ("/v1/tickets", make_generic_ticket, topics.RAW_TICKETS, b"T-1001"),
    ("/v1/feedback", make_feedback, topics.RAW_FEEDBACK, b"fb-2001"),
    ("/v1/social", make_social, topics.RAW_SOCIAL, b"x:1786000000000000001"),
]


@pytest.mark.parametrize(("path", "factory", "topic", "key"), HAPPY)
async def test_accepted_body_is_published_unchanged_with_trace_headers(
    path: str, factory: Factory, topic: str, key: bytes
) -> None:
    # Unusual spacing proves the original bytes are published, not a re-serialization.
    body = json.dumps(factory(), indent=3).encode()
    before = time.time()
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(
            path, content=body, headers={**bearer(TOKEN), "Content-Type": "application/json"}
        )
        published = list(gw.published)

    assert response.status_code == 202, response.text
    trace_id = response.headers[TRACE_RESPONSE_HEADER]
    if not path.endswith("pagerduty"):
        assert response.json() == {"status": "accepted", "trace_id": trace_id}
    assert len(published) == 1
    message = published[0]
    assert message.topic == topic
    assert message.body == body
    assert message.key == key
    assert message.headers[HEADER_TRACE_ID] == trace_id
    assert message.headers[PRODUCER_HEADER] == "ops"
    assert before <= float(message.headers[HEADER_INGESTED_AT]) <= time.time()


async def test_topics_come_from_settings() -> None:
    settings = make_settings(raw_feedback_topic="test.feedback.custom", raw_alerts_topic="test.alerts.custom")
    async with in_memory_gateway(settings) as gw:
        await gw.client.post("/v1/feedback", json=make_feedback(), headers=bearer(TOKEN))
        await gw.client.post("/v1/alerts/grafana", json=make_grafana(), headers=bearer(TOKEN))
        assert [p.topic for p in gw.published] == ["test.feedback.custom", "test.alerts.custom"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ({"X-Request-Id": "req-123"}, "req-123"),
        (
            {
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "X-Request-Id": "req-9",
            },
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ({"traceparent": "garbage", "X-Request-Id": "req-7"}, "req-7"),
    ],
)
async def test_trace_id_is_taken_from_the_request(headers: dict[str, str], expected: str) -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(
            "/v1/social", json=make_social(), headers={**bearer(TOKEN), **headers}
        )
        assert response.json()["trace_id"] == expected
        assert gw.published[0].headers[HEADER_TRACE_ID] == expected


async def test_trace_id_is_new_per_request_without_headers() -> None:
    async with in_memory_gateway(make_settings()) as gw:
        first = await gw.client.post("/v1/social", json=make_social(), headers=bearer(TOKEN))
        second = await gw.client.post("/v1/social", json=make_social(), headers=bearer(TOKEN))
    ids = {first.json()["trace_id"], second.json()["trace_id"]}
    assert len(ids) == 2
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


BAD = [
    (
        "/v1/alerts/alertmanager",
        make_alertmanager(alerts=[{"status": "firing"}]),
        "schema_violation",
        "alerts.0.labels",
    ),
    ("/v1/alerts/alertmanager", make_alertmanager(version="3"), "unsupported_version", "version"),
    (
        "/v1/alerts/grafana",
        make_grafana(alerts=[make_am_alert(startsAt="yesterday")]),
        "schema_violation",
        "alerts.0.startsAt",
    ),
    ("/v1/alerts/pagerduty", make_pagerduty(event_action="snooze"), "schema_violation", "event_action"),
    ("/v1/alerts/pagerduty", make_pagerduty(payload=None), "schema_violation", "payload"),
    ("/v1/tickets/zendesk", make_zendesk(time=None), "schema_violation", "time"),
    ("/v1/tickets", make_generic_ticket(requester={"email": "a@b.c"}), "schema_violation", "requester.id"),
    ("/v1/feedback", make_feedback(rating=9), "schema_violation", "rating"),
    ("/v1/social", make_social(platform="myspace"), "schema_violation", "platform"),
]


@pytest.mark.parametrize(("path", "payload", "error", "field"), BAD)
async def test_invalid_body_is_400_naming_the_field_and_nothing_is_published(
    path: str, payload: dict[str, Any], error: str, field: str
) -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(path, json=payload, headers=bearer(TOKEN))
        assert gw.published == []
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == error
    assert body["field"] == field
    assert field in body["reason"]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b"", "invalid_json"),
        (b"\xff\xfe", "invalid_encoding"),
    ],
)
async def test_body_that_is_not_a_json_object_is_400(content: bytes, error: str) -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(
            "/v1/feedback", content=content, headers={**bearer(TOKEN), "Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json() == {"error": error, "reason": response.json()["reason"], "field": None}


@pytest.mark.parametrize(
    ("path", "payload", "fmt"),
    [
        ("/v1/alerts/alertmanager", make_pagerduty(), "pagerduty"),
        ("/v1/alerts/pagerduty", make_alertmanager(), "alertmanager"),
        ("/v1/tickets", make_zendesk(), "zendesk"),
        ("/v1/tickets/zendesk", make_generic_ticket(), "generic_ticket"),
    ],
)
async def test_a_format_posted_to_the_wrong_endpoint_is_refused_with_a_hint(
    path: str, payload: dict[str, Any], fmt: str
) -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(path, json=payload, headers=bearer(TOKEN))
        assert gw.published == []
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_format"
    assert f"a {fmt} payload" in response.json()["reason"]
    assert "post " in response.json()["reason"]


async def test_pagerduty_trigger_without_dedup_key_gets_a_stable_one_in_answer_and_message() -> None:
    trigger = make_pagerduty()
    del trigger["dedup_key"]
    async with in_memory_gateway(make_settings()) as gw:
        first = await gw.client.post("/v1/alerts/pagerduty", json=trigger, headers=bearer(TOKEN))
        later = {**trigger, "payload": {**trigger["payload"], "timestamp": "2024-05-02T11:00:00Z"}}
        again = await gw.client.post("/v1/alerts/pagerduty", json=later, headers=bearer(TOKEN))
        dedup_key = first.json()["dedup_key"]
        resolve = {"routing_key": trigger["routing_key"], "event_action": "resolve", "dedup_key": dedup_key}
        resolved = await gw.client.post("/v1/alerts/pagerduty", json=resolve, headers=bearer(TOKEN))
        published = list(gw.published)

    assert first.status_code == 202
    assert first.json() == {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
    assert again.json()["dedup_key"] == dedup_key
    assert resolved.json()["dedup_key"] == dedup_key
    assert [p.json()["dedup_key"] for p in published] == [dedup_key] * 3
    assert [p.key for p in published] == [dedup_key.encode()] * 3
    assert published[0].json()["payload"] == trigger["payload"]


async def test_pagerduty_triggers_for_different_alerts_get_different_dedup_keys() -> None:
    first, second = make_pagerduty(), make_pagerduty()
    del first["dedup_key"], second["dedup_key"]
    second["payload"] = {**second["payload"], "summary": "Login latency above 2s"}
    async with in_memory_gateway(make_settings()) as gw:
        a = await gw.client.post("/v1/alerts/pagerduty", json=first, headers=bearer(TOKEN))
        b = await gw.client.post("/v1/alerts/pagerduty", json=second, headers=bearer(TOKEN))
    assert a.json()["dedup_key"] != b.json()["dedup_key"]


async def test_pagerduty_given_dedup_key_is_echoed_and_the_body_kept_byte_for_byte() -> None:
    body = json.dumps(make_pagerduty(dedup_key="my-incident-1")).encode()
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(
            "/v1/alerts/pagerduty",
            content=body,
            headers={**bearer(TOKEN), "Content-Type": "application/json"},
        )
        assert gw.published[0].body == body
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "my-incident-1"


async def test_pagerduty_clients_with_a_base_url_may_post_to_the_enqueue_path() -> None:
    async with in_memory_gateway(make_settings()) as gw:
        response = await gw.client.post(
            "/v1/alerts/pagerduty/v2/enqueue", json=make_pagerduty(), headers=bearer(TOKEN)
        )
        metrics = (await gw.client.get("/metrics")).text
        assert [p.topic for p in gw.published] == [topics.RAW_ALERTS]
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "checkout-errors-prod"
    assert 'hypercare_gateway_requests_total{endpoint="pagerduty",status="202"} 1.0' in metrics
