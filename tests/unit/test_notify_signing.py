"""Webhook signing: round trip, tampering, stale timestamps, missing headers, rotation."""

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypercare_domain.notify.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    MissingHeaderError,
    SignatureMismatchError,
    StaleTimestampError,
    sign_webhook,
    verify_webhook,
)

pytestmark = pytest.mark.unit

SECRET = "whsec-test"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
TS = int(NOW.timestamp())
BODY = b'{"schema_version":1,"title":"Checkout fails"}'


def signed(body: bytes = BODY, *, ts: int = TS, secret: str = SECRET) -> dict[str, str]:
    return sign_webhook(body, secret, timestamp=ts, idempotency_key="key-1")


def test_headers_follow_the_documented_format() -> None:
    headers = signed()
    expected = hmac.new(SECRET.encode(), f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers == {
        TIMESTAMP_HEADER: str(TS),
        SIGNATURE_HEADER: f"v1={expected}",
        IDEMPOTENCY_HEADER: "key-1",
    }


def test_round_trip_returns_the_idempotency_key_whatever_the_header_case() -> None:
    lowered = {k.lower(): v for k, v in signed().items()}
    assert verify_webhook(lowered, BODY, SECRET, NOW) == "key-1"


@pytest.mark.parametrize(
    "body",
    [BODY.replace(b"Checkout", b"Checkoutt"), BODY + b" ", b""],
)
def test_changed_body_fails(body: bytes) -> None:
    with pytest.raises(SignatureMismatchError):
        verify_webhook(signed(), body, SECRET, NOW)


def test_other_secret_fails() -> None:
    with pytest.raises(SignatureMismatchError):
        verify_webhook(signed(), BODY, "other", NOW)


def test_changed_timestamp_fails_because_it_is_signed() -> None:
    headers = signed() | {TIMESTAMP_HEADER: str(TS + 1)}
    with pytest.raises(SignatureMismatchError):
        verify_webhook(headers, BODY, SECRET, NOW)


@pytest.mark.parametrize("offset", [301, -301, 3600])
def test_timestamps_outside_the_tolerance_are_stale(offset: int) -> None:
    with pytest.raises(StaleTimestampError):
        verify_webhook(signed(ts=TS + offset), BODY, SECRET, NOW)


def test_timestamp_at_the_edge_of_the_tolerance_passes() -> None:
    assert verify_webhook(signed(ts=TS - 300), BODY, SECRET, NOW) == "key-1"
    assert verify_webhook(signed(ts=TS), BODY, SECRET, NOW + timedelta(seconds=30), tolerance=30) == "key-1"


@pytest.mark.parametrize("missing", [TIMESTAMP_HEADER, SIGNATURE_HEADER, IDEMPOTENCY_HEADER])
def test_missing_headers(missing: str) -> None:
    headers = {k: v for k, v in signed().items() if k != missing}
    with pytest.raises(MissingHeaderError):
        verify_webhook(headers, BODY, SECRET, NOW)


def test_non_numeric_timestamp_is_refused() -> None:
    with pytest.raises(MissingHeaderError):
        verify_webhook(signed() | {TIMESTAMP_HEADER: "yesterday"}, BODY, SECRET, NOW)


def test_any_of_several_signatures_may_match_during_rotation() -> None:
    old = signed(secret="old-secret")[SIGNATURE_HEADER]
    new = signed()[SIGNATURE_HEADER]
    headers = signed() | {SIGNATURE_HEADER: f"{old}, {new}"}
    assert verify_webhook(headers, BODY, SECRET, NOW) == "key-1"


def test_unknown_scheme_does_not_count() -> None:
    digest = signed()[SIGNATURE_HEADER].removeprefix("v1=")
    with pytest.raises(SignatureMismatchError):
        verify_webhook(signed() | {SIGNATURE_HEADER: f"v0={digest}"}, BODY, SECRET, NOW)


def _documented_verifier() -> Callable[[dict[str, str], bytes, str], str]:
    doc = (Path(__file__).parents[2] / "docs" / "notifications.md").read_text(encoding="utf-8")
    section = doc.split("### Verifying a webhook", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "docs/notifications.md", "exec"), namespace)
    verify: Callable[[dict[str, str], bytes, str], str] = namespace["verify"]
    return verify


def test_the_documented_receiver_snippet_accepts_genuine_and_refuses_forged_requests() -> None:
    verify = _documented_verifier()
    headers = signed(ts=int(time.time()))
    assert verify(headers, BODY, SECRET) == "key-1"
    with pytest.raises(ValueError, match="bad signature"):
        verify(headers, BODY + b"x", SECRET)
    with pytest.raises(ValueError, match="stale"):
        verify(signed(ts=int(time.time()) - 3600), BODY, SECRET)
