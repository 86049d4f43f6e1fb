"""Webhook request signing, so a receiver can tell a Hypercare request from a forged or replayed one.

Every webhook request carries three headers:

* ``X-Hypercare-Timestamp``: unix seconds when the request was signed;
* ``X-Hypercare-Signature``: ``v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>``; during a
  secret rotation several comma-separated ``v1=`` entries may appear and any one may match;
* ``X-Hypercare-Idempotency-Key``: the same on every retry of one notification, so the receiver can
  drop duplicates.

The timestamp is inside the MAC, so a captured request cannot be replayed once it is older than the
receiver's tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

TIMESTAMP_HEADER = "X-Hypercare-Timestamp"
SIGNATURE_HEADER = "X-Hypercare-Signature"
IDEMPOTENCY_HEADER = "X-Hypercare-Idempotency-Key"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE = 300


class WebhookSignatureError(ValueError):
    """A webhook request fails verification; the subclass says why."""


class MissingHeaderError(WebhookSignatureError):
    """A signing header is absent or unreadable."""


class StaleTimestampError(WebhookSignatureError):
    """The timestamp is further from now than the tolerance (a replay, or a badly wrong clock)."""


class SignatureMismatchError(WebhookSignatureError):
    """No ``v1`` signature matches the body under the secret."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the webhook secret must not be empty")
    return key


def compute_signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign_webhook(body: bytes, secret: str | bytes, *, timestamp: int, idempotency_key: str) -> dict[str, str]:
    """The signing headers for one request.

    Args:
        body: the exact bytes that will be sent.
        secret: the secret shared with the receiver.
        timestamp: unix seconds now.
        idempotency_key: the same value for every retry of one notification.

    Returns:
        The three ``X-Hypercare-*`` headers.
    """
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_SCHEME}={compute_signature(secret, timestamp, body)}",
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secret: str | bytes,
    now: datetime,
    tolerance: int = DEFAULT_TOLERANCE,
) -> str:
    """Check a received webhook request.

    Args:
        headers: the request headers (any capitalisation).
        body: the raw request body, exactly as received.
        secret: the shared secret.
        now: the current time (aware).
        tolerance: the largest accepted distance between the timestamp and now, in seconds.

    Returns:
        The idempotency key, for de-duplication by the receiver.

    Raises:
        MissingHeaderError: a header is absent or not readable.
        StaleTimestampError: the timestamp is outside the tolerance.
        SignatureMismatchError: no signature matches.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    raw_timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    raw_signature = lowered.get(SIGNATURE_HEADER.lower())
    key = lowered.get(IDEMPOTENCY_HEADER.lower())
    if raw_timestamp is None or raw_signature is None or not key:
        raise MissingHeaderError("the X-Hypercare timestamp, signature and idempotency headers are required")
    if not raw_timestamp.strip().isdigit():
        raise MissingHeaderError("X-Hypercare-Timestamp must be unix seconds")
    timestamp = int(raw_timestamp)
    if abs(now.timestamp() - timestamp) > tolerance:
        raise StaleTimestampError(f"timestamp {timestamp} is more than {tolerance}s from now")
    expected = compute_signature(secret, timestamp, body)
    candidates = [
        value.strip()
        for scheme, _, value in (entry.strip().partition("=") for entry in raw_signature.split(","))
        if scheme == SIGNATURE_SCHEME
    ]
    # Compare against every candidate (no early exit) so timing reveals nothing about which one matched.
    matches = [hmac.compare_digest(candidate.encode(), expected.encode()) for candidate in candidates]
    if not any(matches):
        raise SignatureMismatchError("no v1 signature matches the body")
    return key
