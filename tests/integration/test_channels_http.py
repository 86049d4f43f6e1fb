"""HTTP channels against a real receiver on 127.0.0.1: signing, payloads, retries, timeouts, isolation."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.notifications import DeliveryOutcome
from hypercare_domain.notify.render import NotificationKind, RenderedNotification, RouteSummary, Urgency
from hypercare_domain.notify.retry import ErrorKind, RetryPolicy
from hypercare_domain.notify.signing import IDEMPOTENCY_HEADER, verify_webhook
from hypercare_notifier.channels import (
    AttemptReport,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
    deliver,
)

from tests.support.receivers import HttpReceiver, Reply, http_receiver

pytestmark = pytest.mark.integration

SECRET = "whsec-integration"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with http_receiver() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


class SleepRecorder:
    """Stands in for ``asyncio.sleep``: records the delay asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def make_note(**overrides: object) -> RenderedNotification:
    fields: dict[str, object] = {
        "kind": NotificationKind.TRIGGER,
        "urgency": Urgency.PAGE,
        "trigger_id": "dec-1",
        "issue_id": "iss-42",
        "title": "[CRITICAL] Checkout fails",
        "headline": "New critical issue",
        "severity": Severity.CRITICAL,
        "occurred_at": NOW,
        "route": RouteSummary(name="payments", team="payments-oncall"),
        "acknowledge_url": "http://127.0.0.1:8080/v1/actions/ack-token",
        "resolve_url": "http://127.0.0.1:8080/v1/actions/res-token",
    }
    fields.update(overrides)
    return RenderedNotification(**fields)  # type: ignore[arg-type]


def webhook(client: httpx.AsyncClient, url: str, timeout: float = 5.0) -> WebhookChannel:
    return WebhookChannel(name="webhook", url=url, secret=SECRET, client=client, timeout=timeout)


def pagerduty(client: httpx.AsyncClient, url: str) -> PagerDutyChannel:
    return PagerDutyChannel(name="pd", url=url, routing_key="rk-payments", client=client, timeout=5.0)


FAST = RetryPolicy(max_attempts=5, base=0.01, max_delay=0.05)


async def test_webhook_requests_are_signed_and_carry_the_idempotency_key(
    receiver: HttpReceiver, client: httpx.AsyncClient
) -> None:
    url = receiver.script("/hooks", Reply(status=200))
    result = await deliver(webhook(client, url), make_note(), "key-iss-42-dec-1-webhook", FAST)
    assert result.outcome is DeliveryOutcome.SENT
    [request] = receiver.on("/hooks")
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    key = verify_webhook(request.headers, request.body, SECRET, datetime.now(UTC))
    assert key == "key-iss-42-dec-1-webhook"
    body = json.loads(request.body)
    assert (body["schema_version"], body["issue_id"], body["kind"]) == (1, "iss-42", "trigger")


async def test_500_twice_then_200_is_sent_on_attempt_3_with_the_same_key(
    receiver: HttpReceiver, client: httpx.AsyncClient
) -> None:
    url = receiver.script("/flaky", Reply(status=500), Reply(status=500), Reply(status=200))
    sleep = SleepRecorder()
    reports: list[AttemptReport] = []

    async def record(report: AttemptReport) -> None:
        reports.append(report)

    result = await deliver(webhook(client, url), make_note(), "k1", FAST, sleep=sleep, on_attempt=record)
    assert result.outcome is DeliveryOutcome.SENT
    assert [a.status_code for a in result.attempts] == [500, 500, 200]
    assert len(sleep.delays) == 2
    assert all(0 <= d <= 0.05 for d in sleep.delays)
    assert [(r.number, r.next_delay is not None) for r in reports] == [(1, True), (2, True), (3, False)]
    requests = receiver.on("/flaky")
    assert len(requests) == 3
    assert {r.headers[IDEMPOTENCY_HEADER.lower()] for r in requests} == {"k1"}
    for request in requests:
        verify_webhook(request.headers, request.body, SECRET, datetime.now(UTC))


async def test_slack_receives_block_kit(receiver: HttpReceiver, client: httpx.AsyncClient) -> None:
    url = receiver.script("/slack/payments", Reply(status=200, body=b"ok"))
    channel = SlackChannel(name="slack-payments", url=url, client=client, timeout=5.0)
    result = await deliver(channel, make_note(), "k-slack", FAST)
    assert result.outcome is DeliveryOutcome.SENT
    [request] = receiver.on("/slack/payments")
    message = json.loads(request.body)
    assert message["text"].startswith("[CRITICAL] Checkout fails")
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[CRITICAL] Checkout fails"},
    }
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [e["url"] for e in actions[0]["elements"]] == [
        "http://127.0.0.1:8080/v1/actions/ack-token",
        "http://127.0.0.1:8080/v1/actions/res-token",
    ]


async def test_pagerduty_gets_dedup_key_and_truncated_summary(
    receiver: HttpReceiver, client: httpx.AsyncClient
) -> None:
    url = receiver.script("/v2/enqueue", Reply(status=202, body=b'{"status":"success"}'))
    result = await deliver(pagerduty(client, url), make_note(title="T" * 3000), "k-pd", FAST)
    assert result.outcome is DeliveryOutcome.SENT
    assert result.status_code == 202
    [request] = receiver.on("/v2/enqueue")
    event = json.loads(request.body)
    assert event["dedup_key"] == "iss-42"
    assert event["routing_key"] == "rk-payments"
    assert event["event_action"] == "trigger"
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["summary"].endswith("…")


async def test_429_with_retry_after_is_honoured(receiver: HttpReceiver, client: httpx.AsyncClient) -> None:
    url = receiver.script("/v2/enqueue", Reply(status=429, headers={"Retry-After": "1"}), Reply(status=202))
    sleep = SleepRecorder()
    result = await deliver(pagerduty(client, url), make_note(), "k-429", RetryPolicy(), sleep=sleep)
    assert result.outcome is DeliveryOutcome.SENT
    assert [a.status_code for a in result.attempts] == [429, 202]
    assert result.attempts[0].retry_after == 1.0
    assert sleep.delays == [1.0]


async def test_429_with_retry_after_waits_in_real_time(
    receiver: HttpReceiver, client: httpx.AsyncClient
) -> None:
    url = receiver.script("/v2/enqueue", Reply(status=429, headers={"Retry-After": "1"}), Reply(status=202))
    result = await deliver(pagerduty(client, url), make_note(), "k-429-real", RetryPolicy())
    assert result.outcome is DeliveryOutcome.SENT
    assert len(result.attempts) == 2
    first, second = receiver.on("/v2/enqueue")
    assert second.at - first.at >= 1.0


async def test_400_fails_after_one_attempt(receiver: HttpReceiver, client: httpx.AsyncClient) -> None:
    url = receiver.script("/v2/enqueue", Reply(status=400, body=b'{"status":"invalid event"}'))
    sleep = SleepRecorder()
    result = await deliver(pagerduty(client, url), make_note(), "k-400", FAST, sleep=sleep)
    assert result.outcome is DeliveryOutcome.FAILED
    assert len(result.attempts) == 1
    assert result.error == "http_400"
    assert result.last.detail == '{"status":"invalid event"}'
    assert sleep.delays == []
    assert len(receiver.on("/v2/enqueue")) == 1


async def test_timeouts_are_retried_then_fail(receiver: HttpReceiver, client: httpx.AsyncClient) -> None:
    url = receiver.script("/hang", Reply(hang=True))
    sleep = SleepRecorder()
    policy = RetryPolicy(max_attempts=3, base=0.01)
    result = await deliver(webhook(client, url, timeout=0.2), make_note(), "k-hang", policy, sleep=sleep)
    assert result.outcome is DeliveryOutcome.FAILED
    assert [a.error for a in result.attempts] == [ErrorKind.TIMEOUT] * 3
    assert result.reason == "timeout; gave up after 3 attempts"
    assert len(sleep.delays) == 2
    assert len(receiver.on("/hang")) == 3


async def test_connection_refused_is_retried(client: httpx.AsyncClient) -> None:
    async with http_receiver() as closed:
        url = closed.url("/gone")
    sleep = SleepRecorder()
    result = await deliver(
        webhook(client, url), make_note(), "k-gone", RetryPolicy(max_attempts=2), sleep=sleep
    )
    assert result.outcome is DeliveryOutcome.FAILED
    assert [a.error for a in result.attempts] == [ErrorKind.CONNECTION] * 2


async def test_overall_deadline_cuts_a_slow_attempt(
    receiver: HttpReceiver, client: httpx.AsyncClient
) -> None:
    url = receiver.script("/hang", Reply(hang=True))
    policy = RetryPolicy(max_attempts=5, deadline=0.3)
    started = time.monotonic()
    result = await deliver(webhook(client, url, timeout=30), make_note(), "k-deadline", policy)
    assert time.monotonic() - started < 5
    assert result.outcome is DeliveryOutcome.FAILED
    assert result.attempts[0].error is ErrorKind.TIMEOUT
    assert result.attempts[0].detail == "delivery deadline"


async def test_a_slow_receiver_does_not_hold_up_a_fast_one(
    receiver: HttpReceiver, client: httpx.AsyncClient
) -> None:
    slow_url = receiver.script("/slow", Reply(hang=True))
    fast_url = receiver.script("/fast", Reply(status=200))
    policy = RetryPolicy(max_attempts=2, base=0.05)
    slow = asyncio.create_task(deliver(webhook(client, slow_url, timeout=1.0), make_note(), "k-slow", policy))
    fast = asyncio.create_task(deliver(webhook(client, fast_url), make_note(), "k-fast", policy))
    fast_result = await fast
    assert fast_result.outcome is DeliveryOutcome.SENT
    assert not slow.done()
    slow_result = await slow
    assert slow_result.outcome is DeliveryOutcome.FAILED
    assert [a.error for a in slow_result.attempts] == [ErrorKind.TIMEOUT] * 2


async def test_a_wait_past_the_deadline_ends_the_delivery_instead(
    receiver: HttpReceiver, client: httpx.AsyncClient
) -> None:
    url = receiver.script("/busy", Reply(status=503, headers={"Retry-After": "30"}))
    sleep = SleepRecorder()
    policy = RetryPolicy(deadline=10)
    result = await deliver(webhook(client, url), make_note(), "k-busy", policy, sleep=sleep)
    assert result.outcome is DeliveryOutcome.FAILED
    assert result.reason == "http_503; deadline reached"
    assert len(result.attempts) == 1
    assert sleep.delays == []
