"""The SLA service's HTTP API and Kafka handlers, with FastStream's in-memory broker and an in-memory store."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent
from hypercare_contracts.normalized import ReportAction
from hypercare_contracts.triaged import Decision, IssueStatus, TriagedIssue
from hypercare_domain.notify.links import Action, sign_action
from hypercare_domain.sla import ManualClock
from hypercare_sla.app import create_app
from hypercare_sla.auth import hash_token
from hypercare_sla.settings import SlaSettings
from pydantic import SecretStr

from tests.factories.sla import FAST_POLICY, FakeStore, make_command, make_triaged
from tests.support.kafka import wait_for

pytestmark = pytest.mark.service

ALICE = "alice-secret-token"
SECRET = "link-secret"
AUTH = {"Authorization": f"Bearer {ALICE}"}


@dataclass(frozen=True)
class Sent:
    """One message the service published."""

    topic: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Harness:
    """The app, an HTTP client on it, its store, its clock and what it published."""

    app: FastAPI
    settings: SlaSettings
    client: httpx.AsyncClient
    store: FakeStore
    clock: ManualClock
    broker: KafkaBroker
    sent: list[Sent]

    def on(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]

    def lifecycle_events(self) -> list[LifecycleEvent]:
        return [
            LifecycleEvent.model_validate_json(s.body)
            for s in self.on(self.settings.lifecycle_topic)
            if s.headers.get("hypercare-message") == "event"
        ]

    async def triage(self, issue: TriagedIssue) -> None:
        await self.broker.publish(issue.model_dump_json().encode(), self.settings.triaged_topic)


@asynccontextmanager
async def sla_service(*, tokens: bool = True, secret: str | None = SECRET) -> AsyncIterator[Harness]:
    settings = SlaSettings(
        policy_dir=FAST_POLICY,
        api_tokens={"alice": hash_token(ALICE)} if tokens else None,
        action_secret=SecretStr(secret) if secret else None,
        lifecycle_topic="t.lifecycle",
        triaged_topic="t.triaged",
        sla_events_topic="t.sla",
        deadletter_topic="t.deadletter",
    )
    store = FakeStore()
    clock = ManualClock(datetime.now(UTC))
    app = create_app(settings, clock=clock, store=store)
    broker: KafkaBroker = app.state.broker
    sent: list[Sent] = []

    @broker.subscriber("t.lifecycle", "t.sla", "t.deadletter", group_id="recorder")
    async def record(message: KafkaMessage) -> None:
        raw = message.raw_message
        assert not isinstance(raw, tuple)
        sent.append(Sent(raw.topic, message.body, dict(message.headers)))

    async with (
        TestKafkaBroker(broker),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sla.test") as client,
    ):
        yield Harness(app, settings, client, store, clock, broker, sent)


async def opened(sla: Harness, **overrides: Any) -> str:
    issue = make_triaged(decided_at=sla.clock.now(), **overrides)
    await sla.triage(issue)
    return issue.issue_id


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


async def test_acknowledge_publishes_an_event_writes_the_audit_log_and_stops_the_response_clock() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        sla.clock.advance(timedelta(seconds=2))
        response = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=AUTH)
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        keys = sla.store.milestone_keys(issue_id)
        events = sla.lifecycle_events()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "applied"
    assert (body["event"]["actor"], body["event"]["via"], body["event"]["to_status"]) == (
        "alice",
        "api",
        "acknowledged",
    )
    assert [(e.action, e.actor, e.issue_id) for e in events] == [
        (LifecycleAction.ACKNOWLEDGE, "alice", issue_id)
    ]
    assert view["status"] == "acknowledged"
    response_clock = next(c for c in view["clocks"] if c["target"] == "response")
    assert (response_clock["state"], response_clock["business_elapsed_seconds"]) == ("met", 2.0)
    assert [(a["action"], a["actor"]) for a in view["audit"]] == [
        ("sla.started", "triage"),
        ("acknowledge", "alice"),
    ]
    assert f"{issue_id}:1:response:met" in keys
    assert f"{issue_id}:1:response:breached" not in keys
    assert f"{issue_id}:1:resolution:breached" in keys


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


async def test_snooze_reassign_comment_resolve_reopen_walk_the_lifecycle() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        until = (sla.clock.now() + timedelta(minutes=30)).isoformat()
        steps = [
            ("snooze", {"snooze_until": until}),
            ("reassign", {"team": "identity-team"}),
            ("comment", {"comment": "looking into it"}),
            ("resolve", None),
            ("reopen", None),
        ]
        answers = [
            (await sla.client.post(f"/v1/issues/{issue_id}/{a}", headers=AUTH, json=b)).status_code
            for a, b in steps
        ]
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        events = sla.lifecycle_events()
    assert answers == [200] * 5
    assert [(e.from_status, e.to_status) for e in events] == [
        (IssueStatus.OPEN, IssueStatus.SNOOZED),
        (IssueStatus.SNOOZED, IssueStatus.SNOOZED),
        (IssueStatus.SNOOZED, IssueStatus.SNOOZED),
        (IssueStatus.SNOOZED, IssueStatus.RESOLVED),
        (IssueStatus.RESOLVED, IssueStatus.OPEN),
    ]
    assert (view["status"], view["team"], view["cycle"]) == ("open", "identity-team", 2)
    assert {m["key"].split(":")[1] for m in view["milestones"] if m["emitted_at"] is None} == {"2"}


async def test_a_snooze_that_ran_out_leaves_the_issue_open_again() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        until = (sla.clock.now() + timedelta(minutes=5)).isoformat()
        await sla.client.post(f"/v1/issues/{issue_id}/snooze", headers=AUTH, json={"snooze_until": until})
        sla.clock.advance(timedelta(minutes=6))
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        ack = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=AUTH)
    assert view["status"] == "open"
    assert ack.json()["event"]["from_status"] == "open"


def link(
    issue_id: str, action: Action = Action.ACKNOWLEDGE, *, hours: float = 1, secret: str = SECRET
) -> str:
    token = sign_action(issue_id, action, datetime.now(UTC) + timedelta(hours=hours), secret)
    return f"/v1/actions/{token}"


async def test_action_link_get_only_confirms_and_post_acknowledges_once() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        url = link(issue_id)
        page = await sla.client.get(url)
        status_after_get = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()["status"]
        done = await sla.client.post(url)
        again = await sla.client.post(url)
        events = sla.lifecycle_events()
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert issue_id in page.text
    assert page.headers["cache-control"] == "no-store"
    assert status_after_get == "open"
    assert (done.status_code, again.status_code) == (200, 200)
    assert [(e.action, e.via.value, e.actor) for e in events] == [
        (LifecycleAction.ACKNOWLEDGE, "link", "action-link")
    ]


@pytest.mark.parametrize(
    ("make_url", "reason"),
    [
        (lambda issue_id: link(issue_id, secret="another-secret"), "signature does not match"),
        (lambda issue_id: link(issue_id, hours=-1), "expired"),
        (lambda issue_id: link(issue_id)[:-3] + "AAA", "signature does not match"),
        (lambda issue_id: "/v1/actions/not-a-token", "two base64 parts"),
    ],
)
async def test_bad_action_links_are_403_with_the_reason(make_url: Any, reason: str) -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        url = make_url(issue_id)
        shown = await sla.client.get(url)
        posted = await sla.client.post(url)
        events = sla.lifecycle_events()
    assert (shown.status_code, posted.status_code) == (403, 403)
    assert reason in shown.text
    assert reason in posted.text
    assert events == []


async def test_action_links_without_a_secret_are_switched_off() -> None:
    async with sla_service(secret=None) as sla:
        issue_id = await opened(sla)
        response = await sla.client.post(link(issue_id))
    assert response.status_code == 503
    assert "HYPERCARE_ACTION_SECRET" in response.text


async def test_kafka_commands_apply_once_and_own_events_are_ignored() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        command = make_command(issue_id, LifecycleAction.ACKNOWLEDGE)
        for headers in ({}, {"hypercare-message": "command"}):
            await sla.broker.publish(command.model_dump_json().encode(), "t.lifecycle", headers=headers)
        events = sla.lifecycle_events()
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
    assert [(e.actor, e.via.value, e.command_id) for e in events] == [("alice", "kafka", command.command_id)]
    assert view["status"] == "acknowledged"
    assert len([a for a in view["audit"] if a["action"] == "acknowledge"]) == 1


async def test_an_invalid_command_goes_to_the_dead_letter_topic() -> None:
    async with sla_service() as sla:
        await sla.broker.publish(b'{"action": "acknowledge"}', "t.lifecycle")
        dead = sla.on("t.deadletter")
    assert len(dead) == 1
    assert dead[0].json()["error_class"] == "schema_violation"
    assert dead[0].headers["hypercare-source-topic"] == "t.lifecycle"


@pytest.mark.parametrize(
    ("source_action", "status", "waiting"),
    [
        (ReportAction.ACKNOWLEDGE, "acknowledged", False),
        (ReportAction.RESOLVE, "resolved", False),
        (ReportAction.PENDING, "open", True),
    ],
)
async def test_source_actions_in_triage_decisions_act_on_the_clocks(
    source_action: ReportAction, status: str, waiting: bool
) -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        sla.clock.advance(timedelta(seconds=1))
        update = make_triaged(
            issue_id=issue_id,
            decision=Decision.UPDATED,
            version=2,
            decided_at=sla.clock.now(),
            source_action=source_action,
        )
        await sla.triage(update)
        await sla.triage(update)  # redelivered: changes nothing twice
        view = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        events = sla.lifecycle_events()
    assert (view["status"], view["waiting_on_customer"]) == (status, waiting)
    assert [(e.via.value, e.actor) for e in events] == [("source", "source")]
    if waiting:
        assert {c["state"] for c in view["clocks"]} == {"paused"}


async def test_suppressed_issues_get_no_clock_until_released() -> None:
    async with sla_service() as sla:
        suppressed = make_triaged(decision=Decision.SUPPRESSED, decided_at=sla.clock.now(), notify=False)
        await sla.triage(suppressed)
        before = sla.store.milestone_keys(suppressed.issue_id)
        sla.clock.advance(timedelta(minutes=10))
        released = make_triaged(
            issue_id=suppressed.issue_id, decision=Decision.RELEASED, version=2, decided_at=sla.clock.now()
        )
        await sla.triage(released)
        view = (await sla.client.get(f"/v1/issues/{suppressed.issue_id}", headers=AUTH)).json()
    assert before == set()
    assert view["suppressed"] is False
    assert datetime.fromisoformat(view["opened_at"]) == released.decided_at
    assert f"{suppressed.issue_id}:1:response:breached" in {m["key"] for m in view["milestones"]}


async def test_a_raise_moves_deadlines_earlier_and_keeps_keys() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla, severity=Severity.HIGH)
        high = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()
        raised = make_triaged(
            issue_id=issue_id,
            decision=Decision.RAISED,
            version=2,
            severity=Severity.CRITICAL,
            previous_severity=Severity.HIGH,
            decided_at=sla.clock.now(),
        )
        await sla.triage(raised)
        critical = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()

    def due(view: dict[str, Any]) -> float:
        clock = next(c for c in view["clocks"] if c["target"] == "response")
        return (
            datetime.fromisoformat(clock["due_at"]) - datetime.fromisoformat(view["opened_at"])
        ).total_seconds()

    assert (due(high), due(critical)) == (10.0, 6.0)
    assert critical["severity"] == "critical"
    assert "sla.rerated" in [a["action"] for a in critical["audit"]]


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


async def test_scheduler_emits_each_due_milestone_once_with_its_true_due_time() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        opened_at = sla.clock.now()
        sla.clock.advance(timedelta(seconds=7))

        def sla_events() -> list[dict[str, Any]]:
            return [s.json() for s in sla.on("t.sla")]

        await wait_for(lambda: len(sla_events()) >= 6, timeout=10, what="six SLA events")
        late_ack = await sla.client.post(f"/v1/issues/{issue_id}/acknowledge", headers=AUTH)
        sla.clock.advance(timedelta(seconds=1))
        await asyncio.sleep(1.5)  # a full scheduler sleep: nothing more may fall due before 15s
        events = sla_events()
    assert late_ack.status_code == 200
    emitted = {e["event_id"]: e for e in events}
    assert len(emitted) == len(events)
    assert sorted(emitted) == sorted(
        f"{issue_id}:1:{suffix}"
        for suffix in (
            "escalation:1",
            "escalation:2",
            "escalation:3",
            "renotify:1",
            "response:at_risk",
            "response:breached",
        )
    )
    breached = emitted[f"{issue_id}:1:response:breached"]
    assert datetime.fromisoformat(breached["due_at"]) == opened_at + timedelta(seconds=6)
    assert datetime.fromisoformat(breached["emitted_at"]) == opened_at + timedelta(seconds=7)
    assert breached["late"] is False
    assert emitted[f"{issue_id}:1:escalation:1"]["late"] is True  # due at 1.5s, sent at 7s
