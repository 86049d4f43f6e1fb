"""Slack incoming webhook: Block Kit blocks with a plain ``text`` fallback."""

from __future__ import annotations

import time

import httpx
from hypercare_domain.notify.payloads import encode_json, slack_message
from hypercare_domain.notify.render import RenderedNotification
from hypercare_domain.notify.signing import IDEMPOTENCY_HEADER

from hypercare_notifier.channels.base import Attempt, Clock, post


class SlackChannel:
    """POSTs :func:`~hypercare_domain.notify.payloads.slack_message` to an incoming-webhook URL.

    Slack answers 200 ``ok``; 429 carries ``Retry-After``; 4xx such as ``invalid_payload`` or
    ``no_service`` are final.
    """

    def __init__(
        self, *, name: str, url: str, client: httpx.AsyncClient, timeout: float, clock: Clock = time.monotonic
    ) -> None:
        self._name = name
        self._url = url
        self._client = client
        self._timeout = timeout
        self._clock = clock

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    async def send(self, note: RenderedNotification, *, idempotency_key: str) -> Attempt:
        """POST the Block Kit message once (Slack ignores the idempotency header; proxies may use it)."""
        return await post(
            self._client,
            self._url,
            content=encode_json(slack_message(note)),
            headers={IDEMPOTENCY_HEADER: idempotency_key},
            request_timeout=self._timeout,
            clock=self._clock,
        )
