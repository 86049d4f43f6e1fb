"""Signed acknowledge/resolve links: a person clicks, the gateway verifies, no login needed.

A token is ``<payload>.<mac>``, both URL-safe base64 without padding. The payload is the canonical
string ``hc1\\n<action>\\n<expires unix seconds>\\n<issue id>`` (the issue id last, so it may contain
any character); the MAC is HMAC-SHA256 of the payload under the link secret. Verification checks the
MAC in constant time before reading anything out of the payload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

_VERSION = "hc1"
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
ACTIONS_PATH = "/v1/actions/"


class Action(StrEnum):
    """What a signed link does to its issue."""

    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class ActionTokenError(ValueError):
    """A link token cannot be honoured; the subclass says why."""


class MalformedTokenError(ActionTokenError):
    """The token is not something :func:`sign_action` produced (wrong shape, bad base64, bad fields)."""


class BadSignatureError(ActionTokenError):
    """The token's MAC does not match: tampered with, or signed with another secret."""


class ExpiredTokenError(ActionTokenError):
    """The token was genuine but its expiry has passed."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the link secret must not be empty")
    return key


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise MalformedTokenError("token is not URL-safe base64")
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise MalformedTokenError("token is not URL-safe base64") from exc


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def sign_action(issue_id: str, action: Action, expires_at: datetime, secret: str | bytes) -> str:
    """Make a token that lets its holder perform ``action`` on ``issue_id`` until ``expires_at``.

    Args:
        issue_id: the issue the link acts on.
        action: acknowledge or resolve.
        expires_at: an aware datetime after which the link stops working.
        secret: the link secret shared with the gateway that verifies.

    Returns:
        A URL-safe token.

    Raises:
        ValueError: empty issue id or secret, or a naive ``expires_at``.
    """
    if not issue_id:
        raise ValueError("issue_id must not be empty")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = f"{_VERSION}\n{Action(action).value}\n{int(expires_at.timestamp())}\n{issue_id}".encode()
    return f"{_b64encode(payload)}.{_b64encode(_mac(_key(secret), payload))}"


def verify_action(token: str, secret: str | bytes, now: datetime) -> tuple[str, Action]:
    """Check a token and say what it allows.

    Args:
        token: the token from the link.
        secret: the link secret.
        now: the current time (aware).

    Returns:
        ``(issue_id, action)``.

    Raises:
        MalformedTokenError: the token cannot be parsed.
        BadSignatureError: the MAC does not match.
        ExpiredTokenError: the token has expired.
    """
    parts = token.split(".")
    if len(parts) != 2 or not all(parts):
        raise MalformedTokenError("token must be two base64 parts joined by a dot")
    payload, mac = _b64decode(parts[0]), _b64decode(parts[1])
    if not hmac.compare_digest(mac, _mac(_key(secret), payload)):
        raise BadSignatureError("token signature does not match")
    try:
        version, action_text, expires_text, issue_id = payload.decode().split("\n", 3)
        action = Action(action_text)
        expires = int(expires_text)
    except ValueError as exc:
        raise MalformedTokenError("token payload is not a signed action") from exc
    if version != _VERSION or not issue_id:
        raise MalformedTokenError("token payload is not a signed action")
    if now.timestamp() >= expires:
        raise ExpiredTokenError(f"token expired at {datetime.fromtimestamp(expires, UTC).isoformat()}")
    return issue_id, action


@dataclass(frozen=True, slots=True)
class ActionLinks:
    """The signed acknowledge and resolve links of one issue.

    Build with :meth:`sign`; the URLs are ``{base_url}/v1/actions/{token}``.

    Attributes:
        base_url: the public URL of the gateway, without a trailing slash.
        issue_id: the issue these links act on.
        acknowledge_token: the signed token of the acknowledge link.
        resolve_token: the signed token of the resolve link.
        expires_at: when both links stop working.
    """

    base_url: str
    issue_id: str
    acknowledge_token: str
    resolve_token: str
    expires_at: datetime

    @classmethod
    def sign(cls, *, base_url: str, issue_id: str, secret: str | bytes, expires_at: datetime) -> ActionLinks:
        """Sign both links of ``issue_id``, valid until ``expires_at``."""
        return cls(
            base_url=base_url.rstrip("/"),
            issue_id=issue_id,
            acknowledge_token=sign_action(issue_id, Action.ACKNOWLEDGE, expires_at, secret),
            resolve_token=sign_action(issue_id, Action.RESOLVE, expires_at, secret),
            expires_at=expires_at,
        )

    @property
    def acknowledge_url(self) -> str:
        """The link that acknowledges the issue."""
        return f"{self.base_url}{ACTIONS_PATH}{self.acknowledge_token}"

    @property
    def resolve_url(self) -> str:
        """The link that resolves the issue."""
        return f"{self.base_url}{ACTIONS_PATH}{self.resolve_token}"
