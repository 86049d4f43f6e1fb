"""The SLA service's HTTP API in memory: bearer tokens, idempotency, refused commands, health and metrics."""

from typing import Any

import pytest

from tests.support.sla_in_memory import AUTH, opened, sla_service

pytestmark = pytest.mark.service


async def test_commands_and_views_need_a_known_bearer_token() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        missing = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge")
        unknown = await sla.client.post(
            f"/v1/issues/{issue_id}/acknowledge", headers={"Authorization": "Bearer nope"}
        )
        view = await sla.client.get(f"/v1/issues/{issue_id}")
        status = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()["status"]
    assert (missing.status_code, missing.json()["error"]) == (401, "unauthorized")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert unknown.status_code == 401
    assert view.status_code == 401
    assert status == "open"


async def test_without_tokens_anyone_may_act_as_local_dev() -> None:
    async with sla_service(tokens=False) as sla:
        issue_id = await opened(sla)
        response = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge")
    assert response.status_code == 200, response.text
    assert response.json()["event"]["actor"] == "local-dev"


async def test_same_idempotency_key_answers_the_same_without_acting_twice() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        headers = {**AUTH, "Idempotency-Key": "click-1"}
        first = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=headers)
        second = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=headers)
        other = await sla.client.post(f"/v1/issues/{issue_id}/resolve", headers=headers)
        events = sla.lifecycle_events()
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    assert (second.status_code, second.json()["outcome"]) == (200, "replayed")
    assert second.json()["event"] == first.json()["event"]
    assert len(events) == 1
    assert (other.status_code, other.json()["error"]) == (422, "idempotency_key_reused")


@pytest.mark.parametrize(
    ("before", "action", "body", "status", "error", "message"),
    [
        ("acknowledge", "acknowledge", None, 409, "already_done", "is already acknowledged"),
        ("resolve", "acknowledge", None, 409, "invalid_transition", "is resolved; reopen it first"),
        (None, "reopen", None, 409, "already_done", "is already open"),
        ("acknowledge", "reopen", None, 409, "invalid_transition", "is acknowledged and cannot be reopened"),
        (
            None,
            "snooze",
            {"snooze_until": "2001-01-01T00:00:00Z"},
            422,
            "snooze_in_past",
            "not in the future",
        ),
        (None, "snooze", None, 422, "invalid_request", "snooze needs snooze_until"),
        (None, "reassign", {"team": ""}, 422, "invalid_request", "body.team"),
    ],
)
async def test_refused_commands_answer_the_domain_reason(
    before: str | None, action: str, body: dict[str, Any] | None, status: int, error: str, message: str
) -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        if before is not None:
            assert (await sla.client.post(f"/v1/issues/{issue_id}/{before}", headers=AUTH)).status_code == 200
        response = await sla.client.post(f"/v1/issues/{issue_id}/{action}", headers=AUTH, json=body)
        events = sla.lifecycle_events()
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert message in response.json()["reason"]
    assert len(events) == (1 if before else 0)


async def test_unknown_issue_and_unknown_action_are_404() -> None:
    async with sla_service() as sla:
        unknown = await sla.client.post("/v1/issues/iss_nope/acknowledge", headers=AUTH)
        view = await sla.client.get("/v1/issues/iss_nope", headers=AUTH)
        pause = await sla.client.post("/v1/issues/iss_nope/pause", headers=AUTH)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    assert view.status_code == 404
    assert pause.status_code == 422  # pause and resume come from sources only


async def test_health_readiness_and_metrics() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=AUTH)
        await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=AUTH)
        health = await sla.client.get("/healthz")
        ready = await sla.client.get("/readyz")
        text = (await sla.client.get("/metrics")).text
    assert (health.status_code, ready.status_code) == (200, 200)
    assert 'hypercare_lifecycle_commands_total{action="acknowledge",outcome="applied",via="api"} 1.0' in text
    assert 'hypercare_lifecycle_commands_total{action="acknowledge",outcome="rejected",via="api"} 1.0' in text
    assert 'hypercare_time_to_acknowledge_seconds_count{severity="critical"} 1.0' in text
    assert "hypercare_sla_pending_milestones" in text
