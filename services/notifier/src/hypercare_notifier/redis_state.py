"""Redis: the "already sent" fast path and the per-route storm counters.

The ``limits`` package is not installed in this workspace, so storm control is a fixed-window
counter: one ``INCRBY`` + ``EXPIRE`` pipeline per batch, counting every route of the batch at once.
Fixed windows let a burst of twice the limit through across a window boundary; that is acceptable
for storm control (the aim is "bounded", not "smooth") and keeps the digest window and the counter
window the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from hypercare_runtime.cache import ShortcutGuard

SENT = b"sent"


class SentMarks:
    """``SET <prefix>:sent:<key> sent`` after a delivery succeeded; one ``MGET`` per batch before PostgreSQL.

    Only a shortcut: while Redis does not answer, nothing is remembered here and PostgreSQL's delivery
    log decides alone.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str, ttl_seconds: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._guard = ShortcutGuard(what="notifier sent marks")

    def _name(self, key: str) -> str:
        return f"{self._prefix}:sent:{key}"

    async def already_sent(self, keys: Sequence[str]) -> set[str]:
        """The keys Redis remembers as sent (a miss says nothing: PostgreSQL decides)."""
        if not keys:
            return set()
        return await self._guard.run("lookup", lambda: self._already_sent(keys), set())

    async def mark(self, key: str) -> None:
        """Remember that ``key`` was sent."""
        await self._guard.run("mark", lambda: self._mark(key), None)

    async def _already_sent(self, keys: Sequence[str]) -> set[str]:
        values = await self._client.mget([self._name(k) for k in keys])
        return {k for k, v in zip(keys, values, strict=True) if v == SENT}

    async def _mark(self, key: str) -> None:
        await self._client.set(self._name(key), SENT, ex=self._ttl)


@dataclass(frozen=True, slots=True)
class Window:
    """One fixed storm window."""

    start: datetime
    end: datetime


def window_of(now: datetime, seconds: int) -> Window:
    """The fixed window (aligned to the Unix epoch) containing ``now``."""
    start = int(now.timestamp()) // seconds * seconds
    return Window(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(start + seconds, UTC))


class StormCounter:
    """Counts notifications per route and window; says how many of a batch's are still allowed.

    Error policy: while Redis does not answer, storm control is off and every notification is allowed
    (logged as ``redis.unavailable``): a page that goes out during a storm is better than one held back
    because the counter is down.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._guard = ShortcutGuard(what="notifier storm control")

    async def take(
        self, wanted: Mapping[str, int], window: Window, limits: Mapping[str, int]
    ) -> dict[str, int]:
        """Count ``wanted[route]`` new notifications per route; return how many of them may be sent.

        Args:
            wanted: route -> notifications this batch would send.
            window: the current window.
            limits: route -> the most notifications per window.

        Returns:
            route -> how many of the wanted ones are within the limit (the first ones, in order).
        """
        routes = [r for r, n in wanted.items() if n > 0]
        if not routes:
            return {}
        return await self._guard.run("take", lambda: self._take(routes, wanted, window, limits), dict(wanted))

    async def _take(
        self, routes: Sequence[str], wanted: Mapping[str, int], window: Window, limits: Mapping[str, int]
    ) -> dict[str, int]:
        ttl = int((window.end - window.start).total_seconds()) * 2
        stamp = int(window.start.timestamp())
        pipe = self._client.pipeline(transaction=True)
        for route in routes:
            name = f"{self._prefix}:storm:{route}:{stamp}"
            pipe.incrby(name, wanted[route])
            pipe.expire(name, ttl)
        results = await pipe.execute()
        allowed: dict[str, int] = {}
        for index, route in enumerate(routes):
            total = int(results[index * 2])
            before = total - wanted[route]
            allowed[route] = max(0, min(wanted[route], limits[route] - before))
        return allowed
