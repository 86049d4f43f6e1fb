"""Channel adapters: build the configured channels, and deliver through them with retries.

:func:`build_channels` turns ``channels.yaml`` plus the environment into ready adapters; a channel
whose secret is missing is left out and logged (``channel.disabled``) instead of failing start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

import httpx
import structlog
from hypercare_domain.notify.policy import (
    ChannelConfig,
    ChannelsPolicy,
    ConsoleChannelConfig,
    EmailChannelConfig,
    PagerDutyChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)

from hypercare_notifier.channels.base import Attempt, Channel
from hypercare_notifier.channels.console import ConsoleChannel
from hypercare_notifier.channels.deliver import AttemptReport, DeliveryResult, OnAttempt, deliver
from hypercare_notifier.channels.email import EmailChannel
from hypercare_notifier.channels.pagerduty import PagerDutyChannel
from hypercare_notifier.channels.slack import SlackChannel
from hypercare_notifier.channels.webhook import WebhookChannel

__all__ = [
    "Attempt",
    "AttemptReport",
    "Channel",
    "ChannelSet",
    "ConsoleChannel",
    "DeliveryResult",
    "EmailChannel",
    "OnAttempt",
    "PagerDutyChannel",
    "SlackChannel",
    "WebhookChannel",
    "build_channel",
    "build_channels",
    "deliver",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ChannelSet:
    """The usable channels by name, and the disabled ones with the reason."""

    enabled: dict[str, Channel]
    disabled: dict[str, str]


def build_channel(
    name: str, config: ChannelConfig, env: Mapping[str, str], *, client: httpx.AsyncClient, stream: TextIO
) -> Channel:
    """Build the adapter of one channel; call only when ``config.enabled(env)``.

    Raises:
        ValueError: the channel's secret (or Slack URL) is missing from ``env``.
    """
    secret = config.secret(env)
    if isinstance(config, ConsoleChannelConfig):
        return ConsoleChannel(name=name, stream=stream, color=config.color)
    if isinstance(config, WebhookChannelConfig):
        return WebhookChannel(
            name=name, url=config.url, secret=secret or "", client=client, timeout=config.timeout_seconds
        )
    if isinstance(config, SlackChannelConfig):
        url = config.target_url(env)
        if url is None:
            raise ValueError(f"slack channel {name} has no URL in the environment")
        return SlackChannel(name=name, url=url, client=client, timeout=config.timeout_seconds)
    if isinstance(config, PagerDutyChannelConfig):
        return PagerDutyChannel(
            name=name,
            url=config.url,
            routing_key=secret or "",
            client=client,
            timeout=config.timeout_seconds,
        )
    if isinstance(config, EmailChannelConfig):
        return EmailChannel(
            name=name,
            host=config.host,
            port=config.port,
            sender=config.from_address,
            recipients=config.to,
            timeout=config.timeout_seconds,
            username=config.username,
            password=secret,
            starttls=config.starttls,
            use_tls=config.use_tls,
        )
    raise TypeError(f"unknown channel type {type(config).__name__}")


def build_channels(
    policy: ChannelsPolicy, env: Mapping[str, str], *, client: httpx.AsyncClient, stream: TextIO
) -> ChannelSet:
    """Build every usable channel of ``policy``; log and skip the disabled ones.

    Args:
        policy: the loaded ``channels.yaml``.
        env: the environment holding the secrets (``os.environ`` in the service).
        client: the HTTP client shared by webhook, Slack and PagerDuty channels.
        stream: where the console channel writes.
    """
    usable, disabled = policy.availability(env)
    for name, reason in disabled.items():
        log.warning("channel.disabled", channel=name, type=policy.channels[name].type, reason=reason)
    enabled = {
        name: build_channel(name, config, env, client=client, stream=stream)
        for name, config in usable.items()
    }
    return ChannelSet(enabled=enabled, disabled=disabled)
