"""The channel policy (``deploy/policy/channels.yaml``): named channels, action links, retry defaults.

Secrets never appear in the file: each channel names the environment variable that holds its secret
(``secret_env``), and a channel whose variable is unset is *disabled* with a reason rather than
failing the service at start-up. The environment is passed in as a mapping, so this stays pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from hypercare_domain.notify.retry import Jitter, RetryPolicy
from hypercare_domain.policy import PolicyModel, load_policy_file

POLICY_FILE = "channels.yaml"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV.match(value):
        raise ValueError("must be an environment variable name (A-Z, 0-9, _)")
    return value


class RetryConfig(PolicyModel):
    """Changes to the retry defaults; an absent key keeps the default."""

    max_attempts: int | None = Field(default=None, ge=1, le=20)
    base_seconds: float | None = Field(default=None, ge=0)
    factor: float | None = Field(default=None, ge=1)
    max_delay_seconds: float | None = Field(default=None, ge=0)
    jitter: Jitter | None = None
    max_retry_after_seconds: float | None = Field(default=None, ge=0)
    deadline_seconds: float | None = Field(default=None, gt=0)

    def apply(self, policy: RetryPolicy) -> RetryPolicy:
        """``policy`` with the keys set here replaced."""
        return RetryPolicy(
            max_attempts=self.max_attempts if self.max_attempts is not None else policy.max_attempts,
            base=self.base_seconds if self.base_seconds is not None else policy.base,
            factor=self.factor if self.factor is not None else policy.factor,
            max_delay=self.max_delay_seconds if self.max_delay_seconds is not None else policy.max_delay,
            jitter=self.jitter if self.jitter is not None else policy.jitter,
            max_retry_after=(
                self.max_retry_after_seconds
                if self.max_retry_after_seconds is not None
                else policy.max_retry_after
            ),
            deadline=self.deadline_seconds if self.deadline_seconds is not None else policy.deadline,
        )


class _Channel(PolicyModel):
    """What every channel has."""

    description: str = ""
    enabled_in_policy: bool = Field(default=True, alias="enabled")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    secret_env: str | None = None
    retry: RetryConfig | None = None

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("secret_env")
    @classmethod
    def _check_secret_env(cls, value: str | None) -> str | None:
        return _env_name(value)

    def secret(self, env: Mapping[str, str]) -> str | None:
        """The channel's secret from ``env``, or ``None`` when it has none or it is unset."""
        if self.secret_env is None:
            return None
        return env.get(self.secret_env) or None

    def disabled_reason(self, env: Mapping[str, str]) -> str | None:
        """Why the channel cannot be used with ``env``, or ``None`` when it can."""
        if not self.enabled_in_policy:
            return "disabled in channels.yaml (enabled: false)"
        if self.secret_env is not None and not env.get(self.secret_env):
            return f"environment variable {self.secret_env} is not set"
        return None

    def enabled(self, env: Mapping[str, str]) -> bool:
        """Whether the channel can be used with ``env``; see :meth:`disabled_reason` for why not."""
        return self.disabled_reason(env) is None

    def retry_policy(self, default: RetryPolicy) -> RetryPolicy:
        """The retry policy of this channel: ``default`` with this channel's overrides."""
        return default if self.retry is None else self.retry.apply(default)


class ConsoleChannelConfig(_Channel):
    """Prints to the notifier's standard output; the default, useful locally and in demos."""

    type: Literal["console"]
    color: Literal["auto", "always", "never"] = "auto"


class WebhookChannelConfig(_Channel):
    """POSTs the signed generic JSON body to ``url``; the signing secret is required."""

    type: Literal["webhook"]
    url: str
    secret_env: str

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)


class SlackChannelConfig(_Channel):
    """POSTs Block Kit to a Slack incoming webhook.

    The Slack webhook URL is itself the credential, so production configurations give ``url_env``
    (the variable holding the URL); ``url`` is for local receivers.
    """

    type: Literal["slack"]
    url: str | None = None
    url_env: str | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("url_env")
    @classmethod
    def _check_url_env(cls, value: str | None) -> str | None:
        return _env_name(value)

    @model_validator(mode="after")
    def _one_url(self) -> SlackChannelConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        return self

    def target_url(self, env: Mapping[str, str]) -> str | None:
        """The webhook URL, from the file or from ``env``."""
        if self.url is not None:
            return self.url
        value = env.get(self.url_env or "")
        return _http_url(value) if value else None

    def disabled_reason(self, env: Mapping[str, str]) -> str | None:
        """As for every channel, and also when ``url_env`` is unset or not a URL."""
        reason = super().disabled_reason(env)
        if reason is None and self.url_env is not None:
            value = env.get(self.url_env, "")
            if not value:
                return f"environment variable {self.url_env} is not set"
            if not value.startswith(("http://", "https://")):
                return f"environment variable {self.url_env} is not an http(s) URL"
        return reason


class PagerDutyChannelConfig(_Channel):
    """Sends Events API v2 events; ``secret_env`` holds the integration's routing key."""

    type: Literal["pagerduty"]
    url: str = PAGERDUTY_EVENTS_URL
    secret_env: str

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)


class EmailChannelConfig(_Channel):
    """Sends multipart (plain text and HTML) e-mail over SMTP; ``secret_env`` holds the password, if any."""

    type: Literal["email"]
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    from_address: str = Field(alias="from", min_length=3)
    to: list[str] = Field(min_length=1)
    username: str | None = None
    starttls: bool = False
    use_tls: bool = False

    @model_validator(mode="after")
    def _auth_needs_secret(self) -> EmailChannelConfig:
        if self.username is not None and self.secret_env is None:
            raise ValueError("username needs secret_env naming the password's variable")
        if self.starttls and self.use_tls:
            raise ValueError("use either starttls or use_tls, not both")
        return self


ChannelConfig = Annotated[
    ConsoleChannelConfig
    | WebhookChannelConfig
    | SlackChannelConfig
    | PagerDutyChannelConfig
    | EmailChannelConfig,
    Field(discriminator="type"),
]


class ActionLinksConfig(PolicyModel):
    """Where signed acknowledge/resolve links point and how long they work."""

    base_url: str
    secret_env: str
    ttl_hours: float = Field(default=72, gt=0, le=24 * 30)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @field_validator("secret_env")
    @classmethod
    def _check_secret_env(cls, value: str) -> str:
        return _env_name(value) or value

    def secret(self, env: Mapping[str, str]) -> str | None:
        """The link secret, or ``None`` when unset (notifications then carry no action links)."""
        return env.get(self.secret_env) or None


class ChannelsPolicy(PolicyModel):
    """The whole ``channels.yaml``."""

    default_channel: str = "console"
    actions: ActionLinksConfig
    retry: RetryConfig = Field(default_factory=RetryConfig)
    channels: dict[str, ChannelConfig]

    @model_validator(mode="after")
    def _names(self) -> ChannelsPolicy:
        bad = sorted(name for name in self.channels if not _NAME.match(name))
        if bad:
            raise ValueError(f"channel names must be lower-case slugs: {', '.join(bad)}")
        if self.default_channel not in self.channels:
            raise ValueError(f"default_channel {self.default_channel!r} is not a configured channel")
        return self

    def default_retry(self) -> RetryPolicy:
        """The retry policy every channel starts from."""
        return self.retry.apply(RetryPolicy())

    def retry_policy_for(self, name: str) -> RetryPolicy:
        """The retry policy of channel ``name`` (defaults plus its overrides).

        Raises:
            KeyError: no such channel.
        """
        return self.channels[name].retry_policy(self.default_retry())

    def availability(self, env: Mapping[str, str]) -> tuple[dict[str, ChannelConfig], dict[str, str]]:
        """Split the channels into usable ones and disabled ones (with the reason) for ``env``."""
        usable: dict[str, ChannelConfig] = {}
        disabled: dict[str, str] = {}
        for name, config in self.channels.items():
            reason = config.disabled_reason(env)
            if reason is None:
                usable[name] = config
            else:
                disabled[name] = reason
        return usable, disabled


def load_channels_policy(policy_dir: Path) -> ChannelsPolicy:
    """Load and validate ``channels.yaml`` from ``policy_dir``.

    Raises:
        PolicyError: the file is missing or invalid (the message names the field).
    """
    return load_policy_file(policy_dir, POLICY_FILE, ChannelsPolicy)
