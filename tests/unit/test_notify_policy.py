"""The channel policy file: shipped file loads, secrets come from the environment, validation."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypercare_domain.notify.policy import (
    ChannelsPolicy,
    EmailChannelConfig,
    SlackChannelConfig,
    load_channels_policy,
)
from hypercare_domain.notify.retry import RetryPolicy
from hypercare_domain.policy import PolicyError, default_policy_dir

pytestmark = pytest.mark.unit

FULL_ENV = {
    "HYPERCARE_WEBHOOK_SECRET": "whsec",
    "HYPERCARE_PAGERDUTY_PAYMENTS_ROUTING_KEY": "rk",
    "HYPERCARE_PAGERDUTY_IDENTITY_ROUTING_KEY": "rk-identity",
    "HYPERCARE_ACTION_SECRET": "links",
}


def make_policy(**channels: dict[str, Any]) -> ChannelsPolicy:
    data: dict[str, Any] = {
        "actions": {"base_url": "http://127.0.0.1:8080/", "secret_env": "HC_LINKS"},
        "channels": {"console": {"type": "console"}, **channels},
    }
    return ChannelsPolicy.model_validate(data)


def test_shipped_policy_has_the_documented_channels() -> None:
    policy = load_channels_policy(default_policy_dir())
    assert policy.default_channel == "console"
    assert {name: c.type for name, c in policy.channels.items()} == {
        "console": "console",
        "webhook": "webhook",
        "slack-payments": "slack",
        "slack-identity": "slack",
        "slack-mobile": "slack",
        "slack-growth": "slack",
        "pagerduty-payments": "pagerduty",
        "pagerduty-identity": "pagerduty",
        "email-leads": "email",
    }


def test_shipped_policy_without_secrets_disables_only_the_channels_that_need_one() -> None:
    usable, disabled = load_channels_policy(default_policy_dir()).availability({})
    assert set(usable) == {
        "console",
        "slack-payments",
        "slack-identity",
        "slack-mobile",
        "slack-growth",
        "email-leads",
    }
    assert disabled == {
        "webhook": "environment variable HYPERCARE_WEBHOOK_SECRET is not set",
        "pagerduty-payments": "environment variable HYPERCARE_PAGERDUTY_PAYMENTS_ROUTING_KEY is not set",
        "pagerduty-identity": "environment variable HYPERCARE_PAGERDUTY_IDENTITY_ROUTING_KEY is not set",
    }


def test_shipped_policy_with_secrets_enables_everything() -> None:
    policy = load_channels_policy(default_policy_dir())
    usable, disabled = policy.availability(FULL_ENV)
    assert disabled == {}
    assert usable["webhook"].secret(FULL_ENV) == "whsec"
    assert policy.actions.secret(FULL_ENV) == "links"


def test_empty_secret_counts_as_unset() -> None:
    policy = make_policy(hook={"type": "webhook", "url": "http://h/x", "secret_env": "HOOK"})
    assert not policy.channels["hook"].enabled({"HOOK": ""})
    assert policy.channels["hook"].enabled({"HOOK": "s"})


def test_enabled_false_disables_with_a_reason() -> None:
    policy = make_policy(
        hook={"type": "webhook", "url": "http://h/x", "secret_env": "HOOK", "enabled": False}
    )
    assert (
        policy.channels["hook"].disabled_reason({"HOOK": "s"}) == "disabled in channels.yaml (enabled: false)"
    )


def test_slack_url_from_the_environment() -> None:
    policy = make_policy(s={"type": "slack", "url_env": "SLACK_URL"})
    channel = policy.channels["s"]
    assert isinstance(channel, SlackChannelConfig)
    assert channel.disabled_reason({}) == "environment variable SLACK_URL is not set"
    assert channel.disabled_reason({"SLACK_URL": "hooks.slack.com/x"}) is not None
    assert channel.target_url({"SLACK_URL": "https://hooks.slack.com/x"}) == "https://hooks.slack.com/x"


def test_retry_overrides_apply_over_the_defaults() -> None:
    policy = make_policy(
        pd={"type": "pagerduty", "secret_env": "PD", "retry": {"max_attempts": 8, "jitter": "none"}}
    )
    assert policy.retry_policy_for("pd") == RetryPolicy(max_attempts=8, jitter="none")
    assert policy.retry_policy_for("console") == RetryPolicy()
    assert policy.channels["pd"].type == "pagerduty"


def test_email_keys() -> None:
    policy = make_policy(m={"type": "email", "host": "smtp", "from": "hc@x.io", "to": ["a@x.io"]})
    channel = policy.channels["m"]
    assert isinstance(channel, EmailChannelConfig)
    assert (channel.from_address, channel.port) == ("hc@x.io", 25)


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"type": "webhook", "url": "http://h/x"}, "secret_env"),
        ({"type": "webhook", "url": "ftp://h/x", "secret_env": "S"}, "http"),
        ({"type": "webhook", "url": "http://h/x", "secret_env": "lower-case"}, "environment variable"),
        ({"type": "webhook", "url": "http://h/x", "secret_env": "S", "secret": "oops"}, "secret"),
        ({"type": "slack", "url": "http://h", "url_env": "U"}, "exactly one"),
        ({"type": "slack"}, "exactly one"),
        ({"type": "email", "host": "h", "from": "a@b", "to": []}, "to"),
        ({"type": "email", "host": "h", "from": "a@b", "to": ["c@d"], "username": "u"}, "secret_env"),
        ({"type": "carrier-pigeon"}, "type"),
    ],
)
def test_invalid_channels_are_rejected_naming_the_problem(
    channel: dict[str, Any], message: str, tmp_path: Path
) -> None:
    data = {
        "actions": {"base_url": "http://127.0.0.1:8080", "secret_env": "L"},
        "channels": {"console": {"type": "console"}, "bad": channel},
    }
    (tmp_path / "channels.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(PolicyError, match=message):
        load_channels_policy(tmp_path)


def test_default_channel_must_exist() -> None:
    with pytest.raises(ValueError, match="default_channel"):
        ChannelsPolicy.model_validate(
            {
                "default_channel": "nope",
                "actions": {"base_url": "http://x", "secret_env": "L"},
                "channels": {"console": {"type": "console"}},
            }
        )


def test_action_base_url_loses_its_trailing_slash() -> None:
    assert make_policy().actions.base_url == "http://127.0.0.1:8080"
