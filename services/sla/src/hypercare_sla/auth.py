"""Bearer tokens of the lifecycle API: each user's token is stored only as its SHA-256."""

import hashlib
import hmac
from collections.abc import Mapping

from hypercare_sla.errors import ApiError

LOCAL_USER = "local-dev"
"""The actor of every request while authentication is disabled (local development)."""


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as stored in ``HYPERCARE_API_TOKENS``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiAuth:
    """Identifies users by bearer token; ``tokens=None`` disables authentication."""

    def __init__(self, tokens: Mapping[str, str] | None) -> None:
        self._tokens = (
            None
            if tokens is None
            else tuple((user, bytes.fromhex(digest)) for user, digest in tokens.items())
        )

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a known token."""
        return self._tokens is not None

    def identify(self, authorization: str | None) -> str:
        """The user an ``Authorization`` header belongs to; every stored hash is compared in constant time.

        Raises:
            ApiError: 401 when the header is missing, not a bearer token, or the token is unknown.
        """
        if self._tokens is None:
            return LOCAL_USER
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("missing bearer token; send 'Authorization: Bearer <token>'")
        presented = hashlib.sha256(token.strip().encode("utf-8")).digest()
        found: str | None = None
        for user, digest in self._tokens:
            if hmac.compare_digest(presented, digest) and found is None:
                found = user
        if found is None:
            raise _unauthorized("unknown bearer token")
        return found


def _unauthorized(reason: str) -> ApiError:
    return ApiError(401, "unauthorized", reason, headers={"WWW-Authenticate": "Bearer"})
