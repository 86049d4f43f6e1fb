"""Redis client, opened in a service's lifespan, and a guard for calls whose result is only a shortcut."""

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hypercare_runtime.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")


def open_redis(url: str, *, timeout_s: float | None = None, retries: int | None = None) -> "aioredis.Redis":
    """A Redis client (connections are made lazily, on first use).

    Args:
        url: ``redis://host:port/db``.
        timeout_s: connect and command timeout; None keeps the client's defaults.
        retries: attempts after a failed command; None keeps the client's policy (several, with a
            backoff of seconds). A caller for whom Redis is only a shortcut passes 0 and goes on without it.
    """
    options: dict[str, Any] = {"decode_responses": False, "health_check_interval": 30}
    if timeout_s is not None:
        options.update(socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    if retries is not None:
        options["retry"] = Retry(NoBackoff(), retries)
    return aioredis.Redis.from_url(url, **options)


class ShortcutGuard:
    """Runs Redis calls that only save work elsewhere (hints, "already sent" marks), so that Redis being
    down slows nothing: a failing call returns its fallback at once, and Redis is then left alone for
    ``pause_s`` instead of every batch waiting on it. Open the client with ``retries=0``.
    """

    def __init__(self, *, what: str, pause_s: float = 5.0) -> None:
        """``what`` names the shortcut in the log (``redis.unavailable``)."""
        self._what = what
        self._pause_s = pause_s
        self._paused_until = 0.0

    async def run(self, step: str, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        """``await call()``, or ``fallback`` while Redis is paused or when the call fails."""
        if time.monotonic() < self._paused_until:
            return fallback
        try:
            return await call()
        except (RedisError, OSError) as exc:
            self._paused_until = time.monotonic() + self._pause_s
            log.warning(
                "redis.unavailable",
                shortcut=self._what,
                step=step,
                error=type(exc).__name__,
                pause_s=self._pause_s,
            )
            return fallback
