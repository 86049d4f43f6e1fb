"""Overload protection and request metrics for the webhook endpoints (a plain ASGI middleware).

Requests over the in-flight limit are refused at once with 429 and ``Retry-After`` rather than queued:
every sender on the list (Alertmanager, Grafana, PagerDuty clients, Zendesk) retries, and a refused
request costs nothing while a queued one holds memory and a Kafka write slot.
"""

import time
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hypercare_gateway.errors import ErrorBody, error_response
from hypercare_gateway.metrics import GatewayMetrics


class AdmissionMiddleware:
    """Limits webhook requests in flight and records their count, status and duration."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        endpoints: Mapping[str, str],
        max_inflight: int,
        retry_after_seconds: int,
        metrics: GatewayMetrics,
    ) -> None:
        """Wrap ``app``.

        Args:
            app: the application.
            endpoints: URL path to metric label, for the paths this middleware guards.
            max_inflight: requests handled at once; more are answered 429.
            retry_after_seconds: the ``Retry-After`` of a 429.
            metrics: where requests are counted.
        """
        self._app = app
        self._endpoints = dict(endpoints)
        self._max_inflight = max_inflight
        self._retry_after = str(retry_after_seconds)
        self._metrics = metrics
        self._inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        label = self._endpoints.get(scope["path"]) if scope["type"] == "http" else None
        if label is None:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self._inflight >= self._max_inflight:
                body = ErrorBody(
                    error="overloaded",
                    reason=f"more than {self._max_inflight} requests in flight; retry after "
                    f"{self._retry_after}s",
                )
                response = error_response(429, body, {"Retry-After": self._retry_after})
                await response(scope, receive, send_and_record)
                return
            self._inflight += 1
            self._metrics.inflight.inc()
            try:
                await self._app(scope, receive, send_and_record)
            finally:
                self._inflight -= 1
                self._metrics.inflight.dec()
        finally:
            self._metrics.requests.labels(label, str(status)).inc()
            self._metrics.request_seconds.labels(label).observe(time.perf_counter() - started)
