"""Deliver one notification on one channel: attempt, classify, wait, try again, within a deadline.

Each call is one independent coroutine; the notifier runs one task per (notification, channel), so
a receiver that never answers holds up only its own delivery.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hypercare_contracts.notifications import DeliveryOutcome
from hypercare_domain.notify.render import RenderedNotification
from hypercare_domain.notify.retry import ErrorKind, RetryPolicy, Verdict

from hypercare_notifier.channels.base import Attempt, Channel, Clock

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AttemptReport:
    """One finished attempt, as told to the ``on_attempt`` callback.

    Attributes:
        number: 1 for the first attempt.
        attempt: what the channel reported.
        verdict: how it was judged.
        next_delay: seconds until the next attempt, or ``None`` when this attempt was the last
            (delivered, final failure, attempts or deadline exhausted). A report with a delay is
            what the service publishes as a ``retried`` record.
    """

    number: int
    attempt: Attempt
    verdict: Verdict
    next_delay: float | None


OnAttempt = Callable[[AttemptReport], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The end of one delivery: sent or failed, every attempt, and why it ended."""

    outcome: DeliveryOutcome
    attempts: list[Attempt]
    reason: str

    @property
    def last(self) -> Attempt:
        """The final attempt."""
        return self.attempts[-1]

    @property
    def status_code(self) -> int | None:
        """The final attempt's HTTP status, if any (for the delivery record)."""
        return self.last.status_code

    @property
    def error(self) -> str | None:
        """The reason of a failed delivery, ``None`` when sent (for the delivery record)."""
        return None if self.outcome is DeliveryOutcome.SENT else self.reason


async def _one_attempt(
    channel: Channel, note: RenderedNotification, key: str, remaining: float | None, clock: Clock
) -> Attempt:
    if remaining is None:
        return await channel.send(note, idempotency_key=key)
    started = clock()
    try:
        async with asyncio.timeout(max(remaining, 0.0)):
            return await channel.send(note, idempotency_key=key)
    except TimeoutError:
        return Attempt(error=ErrorKind.TIMEOUT, detail="delivery deadline", elapsed=clock() - started)


async def deliver(
    channel: Channel,
    note: RenderedNotification,
    key: str,
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    on_attempt: OnAttempt | None = None,
    clock: Clock = time.monotonic,
) -> DeliveryResult:
    """Deliver ``note`` on ``channel``, retrying as ``policy`` allows.

    2xx (or a non-HTTP channel's acceptance) ends in ``sent``. Retryable failures wait the
    receiver's ``Retry-After`` (capped) or the jittered backoff, then try again; any other 4xx or a
    permanent refusal ends in ``failed`` at once. No attempt starts, or runs, past the policy's
    deadline.

    Args:
        channel: the destination.
        note: the rendered notification.
        key: the idempotency key, the same on every attempt.
        policy: attempts, backoff and deadline.
        sleep: how to wait; tests pass a recorder instead of waiting.
        rng: jitter source; defaults to the system's.
        on_attempt: awaited after every attempt (before any wait); errors it raises propagate.
        clock: monotonic clock, for the deadline.

    Returns:
        The outcome and all attempts.
    """
    jitter = rng if rng is not None else random.SystemRandom()
    started = clock()
    attempts: list[Attempt] = []
    number = 0
    while True:
        number += 1
        remaining = None if policy.deadline is None else policy.deadline - (clock() - started)
        attempt = await _one_attempt(channel, note, key, remaining, clock)
        attempts.append(attempt)
        verdict = attempt.verdict
        final = _final(verdict, number, policy)
        delay = 0.0
        if final is None:
            delay = policy.delay_before_retry(number, attempt.retry_after, jitter)
            if policy.deadline is not None and clock() - started + delay >= policy.deadline:
                final = (DeliveryOutcome.FAILED, f"{verdict.reason}; deadline reached")
        if on_attempt is not None:
            report = AttemptReport(
                number=number, attempt=attempt, verdict=verdict, next_delay=None if final else delay
            )
            await on_attempt(report)
        if final is not None:
            return DeliveryResult(outcome=final[0], attempts=attempts, reason=final[1])
        await sleep(delay)


def _final(verdict: Verdict, number: int, policy: RetryPolicy) -> tuple[DeliveryOutcome, str] | None:
    """How the delivery ends after this attempt, or ``None`` when it may try again."""
    if verdict.delivered:
        return DeliveryOutcome.SENT, verdict.reason
    if not verdict.retry:
        return DeliveryOutcome.FAILED, verdict.reason
    if number >= policy.max_attempts:
        return DeliveryOutcome.FAILED, f"{verdict.reason}; gave up after {number} attempts"
    return None
