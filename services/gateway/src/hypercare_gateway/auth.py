"""Per-producer API keys: bearer tokens checked against stored SHA-256 hashes, scopes per endpoint."""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args

from hypercare_gateway.errors import GatewayError
from hypercare_gateway.settings import ProducerKey, Scope

ALL_SCOPES: frozenset[Scope] = frozenset(get_args(Scope))
LOCAL_PRODUCER = "local-dev"
"""The producer name every request gets while authentication is disabled."""


@dataclass(frozen=True)
class Producer:
    """Who sent a request, and what it may post."""

    name: str
    scopes: frozenset[Scope]


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as stored in ``HYPERCARE_GATEWAY_API_KEYS``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Authenticator:
    """Identifies producers by bearer token; ``keys=None`` disables authentication (local development)."""

    def __init__(self, keys: Mapping[str, ProducerKey] | None) -> None:
        self._keys = (
            None
            if keys is None
            else tuple((name, bytes.fromhex(key.token_sha256), key.scopes) for name, key in keys.items())
        )

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a known token."""
        return self._keys is not None

    def identify(self, token: str | None) -> Producer:
        """The producer a token belongs to.

        Every stored hash is compared, in constant time, so the time taken says nothing about which key
        (if any) almost matched.

        Raises:
            GatewayError: 401 when the token is missing or unknown.
        """
        if self._keys is None:
            return Producer(LOCAL_PRODUCER, ALL_SCOPES)
        if not token:
            raise _unauthorized("missing bearer token; send 'Authorization: Bearer <token>'")
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        found: Producer | None = None
        for name, digest, scopes in self._keys:
            if hmac.compare_digest(presented, digest) and found is None:
                found = Producer(name, scopes)
        if found is None:
            raise _unauthorized("unknown bearer token; ask the operators for a producer key")
        return found


def authorize(producer: Producer, scope: Scope) -> None:
    """Check that a producer may post to an endpoint of ``scope``.

    Raises:
        GatewayError: 403 when the producer's key does not carry the scope.
    """
    if scope not in producer.scopes:
        raise GatewayError(
            403,
            "forbidden",
            f"producer {producer.name!r} may not post {scope}; its key allows "
            f"{', '.join(sorted(producer.scopes))}",
        )


def _unauthorized(reason: str) -> GatewayError:
    return GatewayError(401, "unauthorized", reason, headers={"WWW-Authenticate": "Bearer"})
