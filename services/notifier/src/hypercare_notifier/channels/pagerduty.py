"""PagerDuty Events API v2: trigger, acknowledge and resolve one incident per issue."""

from __future__ import annotations

import time

import httpx
from hypercare_domain.notify.payloads import encode_json, pagerduty_event
from hypercare_domain.notify.render import RenderedNotification
from hypercare_domain.notify.retry import ErrorKind
from hypercare_domain.notify.signing import IDEMPOTENCY_HEADER

from hypercare_notifier.channels.base import Attempt, Clock, post


class PagerDutyChannel:
    """POSTs :func:`~hypercare_domain.notify.payloads.pagerduty_event` to the configured events URL.

    PagerDuty answers 202 when it accepted the event, 400 for an invalid one (final), 429 when
    throttled and 5xx when unavailable (both retried). ``dedup_key`` (the issue id) makes repeated
    triggers update one incident, so retries are safe.
    """

    def __init__(
        self,
        *,
        name: str,
        url: str,
        routing_key: str,
        client: httpx.AsyncClient,
        timeout: float,
        clock: Clock = time.monotonic,
    ) -> None:
        if not routing_key:
            raise ValueError(f"PagerDuty channel {name} needs a routing key")
        self._name = name
        self._url = url
        self._routing_key = routing_key
        self._client = client
        self._timeout = timeout
        self._clock = clock

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    async def send(self, note: RenderedNotification, *, idempotency_key: str) -> Attempt:
        """POST the event once; a digest (no single issue) is reported as an invalid attempt."""
        try:
            event = pagerduty_event(note, routing_key=self._routing_key)
        except ValueError as exc:
            return Attempt(error=ErrorKind.INVALID, detail=str(exc))
        return await post(
            self._client,
            self._url,
            content=encode_json(event),
            headers={IDEMPOTENCY_HEADER: idempotency_key},
            request_timeout=self._timeout,
            clock=self._clock,
        )
