"""Signed action links: round trip, tampering, expiry, malformed tokens."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypercare_domain.notify.links import (
    Action,
    ActionLinks,
    BadSignatureError,
    ExpiredTokenError,
    MalformedTokenError,
    sign_action,
    verify_action,
)

pytestmark = pytest.mark.unit

SECRET = "link-secret"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("issue_id", ["iss-1", "payments|checkout\nweird.id", "ü-ñ"])
def test_round_trip(issue_id: str, action: Action) -> None:
    token = sign_action(issue_id, action, LATER, SECRET)
    assert verify_action(token, SECRET, NOW) == (issue_id, action)


def test_token_is_url_safe() -> None:
    token = sign_action("iss/+?=&", Action.RESOLVE, LATER, SECRET)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_other_secret_is_a_bad_signature() -> None:
    token = sign_action("iss-1", Action.ACKNOWLEDGE, LATER, SECRET)
    with pytest.raises(BadSignatureError):
        verify_action(token, "another-secret", NOW)


def test_changed_payload_is_a_bad_signature() -> None:
    token = sign_action("iss-1", Action.ACKNOWLEDGE, LATER, SECRET)
    payload, mac = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = raw.replace(b"acknowledge", b"resolve").replace(b"iss-1", b"iss-2")
    forged_token = base64.urlsafe_b64encode(forged).rstrip(b"=").decode() + "." + mac
    with pytest.raises(BadSignatureError):
        verify_action(forged_token, SECRET, NOW)


def test_flipped_mac_character_is_a_bad_signature() -> None:
    token = sign_action("iss-1", Action.ACKNOWLEDGE, LATER, SECRET)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(BadSignatureError):
        verify_action(flipped, SECRET, NOW)


def test_expired_token() -> None:
    token = sign_action("iss-1", Action.RESOLVE, LATER, SECRET)
    with pytest.raises(ExpiredTokenError):
        verify_action(token, SECRET, LATER)
    with pytest.raises(ExpiredTokenError):
        verify_action(token, SECRET, LATER + timedelta(days=1))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", ".", "abc.", "***.***", "é.é"])
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(MalformedTokenError):
        verify_action(token, SECRET, NOW)


def test_signed_garbage_payload_is_malformed_not_accepted() -> None:
    payload = b"not a signed action"
    mac = hmac.new(SECRET.encode(), payload, hashlib.sha256).digest()
    token = ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in (payload, mac))
    with pytest.raises(MalformedTokenError):
        verify_action(token, SECRET, NOW)


def test_naive_expiry_and_empty_secret_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        sign_action("iss-1", Action.RESOLVE, datetime(2025, 1, 1), SECRET)  # noqa: DTZ001
    with pytest.raises(ValueError, match="secret"):
        sign_action("iss-1", Action.RESOLVE, LATER, "")


def test_action_links_build_gateway_urls_that_verify() -> None:
    links = ActionLinks.sign(
        base_url="https://hc.example/", issue_id="iss-9", secret=SECRET, expires_at=LATER
    )
    for url, action in ((links.acknowledge_url, Action.ACKNOWLEDGE), (links.resolve_url, Action.RESOLVE)):
        assert url.startswith("https://hc.example/v1/actions/")
        token = url.removeprefix("https://hc.example/v1/actions/")
        assert verify_action(token, SECRET, NOW) == ("iss-9", action)
