"""The channel port: one delivery attempt of one rendered notification, reported as an :class:`Attempt`.

Adapters never raise for a delivery problem: a timeout, a refused connection or an error status
is an :class:`Attempt` that :func:`hypercare_domain.notify.retry.classify` judges. Exceptions are
mapped by type, never by their text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx
from hypercare_domain.notify.render import RenderedNotification
from hypercare_domain.notify.retry import ErrorKind, Verdict, classify, parse_retry_after

USER_AGENT = "hypercare-notifier/1"
ERROR_DETAIL_MAX = 300

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt produced.

    Attributes:
        status_code: the HTTP status, for HTTP channels that got an answer.
        error: why no usable answer came back, if so.
        detail: short text for logs and the delivery record (an exception type, a reply line).
        retry_after: seconds the receiver asked to wait (``Retry-After``), if it did.
        elapsed: seconds the attempt took.
    """

    status_code: int | None = None
    error: ErrorKind | None = None
    detail: str | None = None
    retry_after: float | None = None
    elapsed: float = 0.0

    @property
    def verdict(self) -> Verdict:
        """Delivered, retry, or give up."""
        return classify(self.status_code, self.error)


class Channel(Protocol):
    """A configured destination that can make one delivery attempt."""

    @property
    def name(self) -> str:
        """The channel's name in ``channels.yaml``."""
        ...

    async def send(self, note: RenderedNotification, *, idempotency_key: str) -> Attempt:
        """Make one attempt; never raises for a delivery problem."""
        ...


def _short(text: str) -> str:
    return text if len(text) <= ERROR_DETAIL_MAX else text[: ERROR_DETAIL_MAX - 1] + "…"


def transport_error_kind(exc: httpx.TransportError) -> ErrorKind:
    """Map an httpx transport exception to an :class:`ErrorKind` by its type."""
    if isinstance(exc, httpx.TimeoutException):
        return ErrorKind.TIMEOUT
    if isinstance(exc, httpx.ConnectError | httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return ErrorKind.CONNECTION
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError | httpx.DecodingError):
        return ErrorKind.PROTOCOL
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ErrorKind.INVALID
    return ErrorKind.CONNECTION


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    request_timeout: float,
    clock: Clock = time.monotonic,
) -> Attempt:
    """POST JSON once and report the attempt.

    Args:
        client: the shared HTTP client (its pool is reused across deliveries).
        url: where to POST.
        content: the exact body bytes.
        headers: extra headers (signing, idempotency).
        request_timeout: seconds for connect, write, read and pool each.
        clock: monotonic clock for ``elapsed``.
    """
    started = clock()
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        response = await client.post(url, content=content, headers=all_headers, timeout=request_timeout)
    except httpx.TransportError as exc:
        kind = transport_error_kind(exc)
        return Attempt(error=kind, detail=_short(type(exc).__name__), elapsed=clock() - started)
    except httpx.InvalidURL as exc:
        return Attempt(error=ErrorKind.INVALID, detail=_short(str(exc)), elapsed=clock() - started)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    detail = None if response.is_success else _short(response.text.strip() or response.reason_phrase)
    return Attempt(
        status_code=response.status_code,
        detail=detail,
        retry_after=retry_after,
        elapsed=clock() - started,
    )
