"""Console channel output and building channels from the shipped policy and an environment."""

import io
from datetime import UTC, datetime

import httpx
import pytest
from hypercare_contracts.common import ScoreItem, Severity
from hypercare_contracts.notifications import DeliveryOutcome
from hypercare_domain.notify.policy import load_channels_policy
from hypercare_domain.notify.render import (
    ImpactSummary,
    NotificationKind,
    RenderedNotification,
    RouteSummary,
    Urgency,
)
from hypercare_domain.notify.retry import RetryPolicy
from hypercare_domain.policy import default_policy_dir
from hypercare_notifier.channels import (
    ConsoleChannel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
    build_channels,
    deliver,
)
from structlog.testing import capture_logs

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def make_note() -> RenderedNotification:
    return RenderedNotification(
        kind=NotificationKind.TRIGGER,
        urgency=Urgency.PAGE,
        trigger_id="dec-1",
        issue_id="iss-42",
        title="[HIGH] Login slow",
        headline="New high issue",
        severity=Severity.HIGH,
        occurred_at=NOW,
        route=RouteSummary(name="identity", team="identity-oncall"),
        impact=ImpactSummary(
            score=61,
            reach=50,
            financial=20,
            reputational=70,
            top_reasons=(ScoreItem(rule="social", contribution=25, reason="verified account complaint"),),
        ),
        resolve_url="http://127.0.0.1:8080/v1/actions/res",
    )


async def test_console_prints_a_readable_block_without_colour_when_not_a_tty() -> None:
    stream = io.StringIO()
    result = await deliver(ConsoleChannel(name="console", stream=stream), make_note(), "k", RetryPolicy())
    assert result.outcome is DeliveryOutcome.SENT
    out = stream.getvalue()
    assert "\033[" not in out
    assert out.splitlines() == [
        "▶ [HIGH] Login slow  trigger · page",
        "  New high issue",
        "  Impact 61/100 (reach 50, financial 20, reputational 70)",
        "  route identity → team identity-oncall",
        "  why +25.0 social: verified account complaint",
        "  resolve http://127.0.0.1:8080/v1/actions/res",
    ]


async def test_console_colours_when_asked() -> None:
    stream = io.StringIO()
    await ConsoleChannel(name="console", stream=stream, color="always").send(make_note(), idempotency_key="k")
    assert stream.getvalue().startswith("\033[31m\033[1m▶ [HIGH] Login slow")


async def test_console_on_a_closed_stream_is_a_failed_attempt_not_a_crash() -> None:
    stream = io.StringIO()
    stream.close()
    result = await deliver(
        ConsoleChannel(name="console", stream=stream, color="never"),
        make_note(),
        "k",
        RetryPolicy(max_attempts=1),
    )
    assert result.outcome is DeliveryOutcome.FAILED


async def test_build_channels_skips_channels_without_secrets_and_logs_why() -> None:
    policy = load_channels_policy(default_policy_dir())
    async with httpx.AsyncClient() as client:
        with capture_logs() as logs:
            channels = build_channels(policy, {}, client=client, stream=io.StringIO())
    assert set(channels.enabled) == {
        "console",
        "slack-payments",
        "slack-identity",
        "slack-mobile",
        "slack-growth",
        "email-leads",
    }
    assert isinstance(channels.enabled["console"], ConsoleChannel)
    assert isinstance(channels.enabled["slack-payments"], SlackChannel)
    assert isinstance(channels.enabled["email-leads"], EmailChannel)
    disabled = {entry["channel"]: entry["reason"] for entry in logs if entry["event"] == "channel.disabled"}
    assert disabled == channels.disabled
    assert disabled["webhook"] == "environment variable HYPERCARE_WEBHOOK_SECRET is not set"


async def test_build_channels_with_secrets_builds_every_channel() -> None:
    policy = load_channels_policy(default_policy_dir())
    env = {
        "HYPERCARE_WEBHOOK_SECRET": "s",
        "HYPERCARE_PAGERDUTY_PAYMENTS_ROUTING_KEY": "rk",
        "HYPERCARE_PAGERDUTY_IDENTITY_ROUTING_KEY": "rk2",
    }
    async with httpx.AsyncClient() as client:
        channels = build_channels(policy, env, client=client, stream=io.StringIO())
    assert channels.disabled == {}
    assert isinstance(channels.enabled["webhook"], WebhookChannel)
    assert isinstance(channels.enabled["pagerduty-payments"], PagerDutyChannel)
