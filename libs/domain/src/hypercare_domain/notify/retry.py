"""When to try a notification again, and how long to wait: pure, so every case is a table-driven test.

An adapter reports one attempt as an HTTP status code, or as an :class:`ErrorKind` when no response
came back (or, for a non-HTTP channel, when the channel refused). :func:`classify` turns that into a
:class:`Verdict`; :class:`RetryPolicy` says how long to wait before the next attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Literal

Jitter = Literal["full", "equal", "none"]


class ErrorKind(StrEnum):
    """Why an attempt produced no usable response; adapters map their exceptions to one of these by type."""

    TIMEOUT = "timeout"
    """No answer within the channel's timeout (connect, read or the delivery deadline)."""
    CONNECTION = "connection"
    """Could not connect, or the connection dropped."""
    PROTOCOL = "protocol"
    """The peer broke the protocol (closed mid-response, garbage bytes)."""
    TRANSIENT = "transient"
    """A non-HTTP channel refused for now (an SMTP 4xx reply)."""
    REJECTED = "rejected"
    """A non-HTTP channel refused for good (an SMTP 5xx reply, every recipient refused)."""
    INVALID = "invalid"
    """The request could not be built or sent as configured (bad URL, nothing to send); never retried."""


_RETRYABLE_ERRORS = frozenset(
    {ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.PROTOCOL, ErrorKind.TRANSIENT}
)
_RETRYABLE_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one attempt means: delivered, worth another try, or a final failure.

    Attributes:
        delivered: the receiver accepted the notification.
        retry: another attempt may succeed (false when delivered).
        reason: short machine-friendly text for logs and the delivery record (``http_503``, ``timeout``).
    """

    delivered: bool
    retry: bool
    reason: str


def classify(status_code: int | None, exc_kind: ErrorKind | None) -> Verdict:
    """Classify one attempt.

    2xx is delivered; 429, 408, 425 and every 5xx are retried; every other status (other 4xx, an
    unexpected 1xx or 3xx) is a final failure, since sending the same request again cannot change the
    answer. Without a status, timeouts, connection and protocol errors and transient refusals are
    retried; rejected and invalid requests are not. An attempt with neither a status nor an error
    is a non-HTTP channel (console, e-mail) that accepted the message.

    Args:
        status_code: the HTTP status the receiver answered with, if any.
        exc_kind: why no usable response came back, if so; ignored when a status is given.

    Returns:
        The verdict.
    """
    if status_code is not None:
        reason = f"http_{status_code}"
        if 200 <= status_code < 300:
            return Verdict(delivered=True, retry=False, reason=reason)
        retry = status_code in _RETRYABLE_STATUS or 500 <= status_code < 600
        return Verdict(delivered=False, retry=retry, reason=reason)
    if exc_kind is None:
        return Verdict(delivered=True, retry=False, reason="accepted")
    return Verdict(delivered=False, retry=exc_kind in _RETRYABLE_ERRORS, reason=exc_kind.value)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Read a ``Retry-After`` header: delay seconds, or an HTTP-date.

    Args:
        value: the header value, or ``None`` when absent.
        now: the current time (aware), to turn a date into a delay.

    Returns:
        Seconds to wait (0 for a date already past), or ``None`` when absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, a cap on each delay, and an overall deadline.

    Attributes:
        max_attempts: attempts in total, the first included.
        base: the ceiling of the first delay, in seconds.
        factor: how much the ceiling grows after each failed attempt.
        max_delay: the largest computed backoff delay, in seconds.
        jitter: ``full`` waits a uniform random time in ``[0, ceiling]`` (spreads retries of many
            senders best); ``equal`` waits in ``[ceiling/2, ceiling]``; ``none`` waits the ceiling.
        max_retry_after: the longest a receiver's ``Retry-After`` is honoured, in seconds.
        deadline: seconds from the first attempt after which no further attempt starts; ``None``
            for no deadline.
    """

    max_attempts: int = 5
    base: float = 0.5
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: Jitter = "full"
    max_retry_after: float = 300.0
    deadline: float | None = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError("deadline must be positive")

    def ceiling(self, attempt: int) -> float:
        """The largest backoff after failed attempt number ``attempt`` (1-based), before jitter."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        value = self.base
        for _ in range(attempt - 1):
            if value >= self.max_delay:
                break
            value *= self.factor
        return min(value, self.max_delay)

    def next_delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Args:
            attempt: the number of the attempt that just failed.
            rng: the random source for jitter; pass a seeded ``random.Random`` for determinism.

        Returns:
            A delay in ``[0, max_delay]``.
        """
        ceiling = self.ceiling(attempt)
        if self.jitter == "none":
            return ceiling
        if self.jitter == "equal":
            return ceiling / 2 + rng.uniform(0, ceiling / 2)
        return rng.uniform(0, ceiling)

    def delay_before_retry(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """The wait before the next attempt: the receiver's ``Retry-After`` (capped) when it gave one.

        Args:
            attempt: the number of the attempt that just failed.
            retry_after: seconds the receiver asked for, if any.
            rng: the random source for jitter.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.next_delay(attempt, rng)
