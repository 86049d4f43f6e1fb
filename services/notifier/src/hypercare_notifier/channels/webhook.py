"""Generic JSON webhook: the versioned body, signed with HMAC-SHA256 (see ``docs/notifications.md``)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from hypercare_domain.notify.payloads import encode_json, webhook_body
from hypercare_domain.notify.render import RenderedNotification
from hypercare_domain.notify.signing import sign_webhook

from hypercare_notifier.channels.base import Attempt, Clock, post


class WebhookChannel:
    """POSTs :func:`~hypercare_domain.notify.payloads.webhook_body` with the signing headers.

    The timestamp is taken at each attempt, so a retried request is signed afresh and still passes a
    receiver's replay window; the idempotency key stays the same across retries.
    """

    def __init__(
        self,
        *,
        name: str,
        url: str,
        secret: str,
        client: httpx.AsyncClient,
        timeout: float,
        wall_clock: Callable[[], float] = time.time,
        clock: Clock = time.monotonic,
    ) -> None:
        if not secret:
            raise ValueError(f"webhook channel {name} needs a signing secret")
        self._name = name
        self._url = url
        self._secret = secret
        self._client = client
        self._timeout = timeout
        self._wall_clock = wall_clock
        self._clock = clock

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    async def send(self, note: RenderedNotification, *, idempotency_key: str) -> Attempt:
        """Sign and POST the body once."""
        body = encode_json(webhook_body(note))
        headers = sign_webhook(
            body, self._secret, timestamp=int(self._wall_clock()), idempotency_key=idempotency_key
        )
        return await post(
            self._client,
            self._url,
            content=body,
            headers=headers,
            request_timeout=self._timeout,
            clock=self._clock,
        )
