"""Redis: the "already sent" fast path and the per-route storm counters.

The ``limits`` package is not installed in this workspace, so storm control is a fixed-window
counter: one small script per batch, counting every route of the batch at once. It counts each trigger
once per window (a hash of the window's triggers and their rank), so a batch planned again (its write
refused, :class:`~hypercare_store.deliveries.SnapshotChanged`) gets the verdicts it got the first time.
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


_COUNT_ONCE = """
local ttl = ARGV[1]
local at = 2 + #KEYS
local ranks = {}
for k = 1, #KEYS do
  for i = at, at + tonumber(ARGV[1 + k]) - 1 do
    local rank = redis.call('HGET', KEYS[k], ARGV[i])
    if not rank then
      rank = redis.call('HLEN', KEYS[k]) + 1
      redis.call('HSET', KEYS[k], ARGV[i], rank)
    end
    ranks[#ranks + 1] = tonumber(rank)
  end
  at = at + tonumber(ARGV[1 + k])
  redis.call('EXPIRE', KEYS[k], ttl)
end
return ranks
"""
"""For each route's key (``KEYS``) and its triggers (``ARGV``: the ttl, the number of triggers of each
key, then the triggers in order), each trigger's rank in its window: the rank it was given when first
counted, else the next one."""


class StormCounter:
    """Counts notifications per route and window; says which of a batch's are still allowed.

    Error policy: while Redis does not answer, storm control is off and every notification is allowed
    (logged as ``redis.unavailable``): a page that goes out during a storm is better than one held back
    because the counter is down.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._guard = ShortcutGuard(what="notifier storm control")
        self._count_once = client.register_script(_COUNT_ONCE)

    async def take(
        self, wanted: Mapping[str, Sequence[str]], window: Window, limits: Mapping[str, int]
    ) -> dict[str, set[str]]:
        """Count the triggers of each route in ``window``; return those that may be sent.

        A trigger already counted in the window keeps the rank it had: a batch planned again after its
        write was refused is not counted twice, and gets the same verdicts.

        Args:
            wanted: route -> the triggers (decision ids) this batch would notify of, in order.
            window: the current window.
            limits: route -> the most triggers per window.

        Returns:
            route -> the triggers within the limit (the first ones counted in the window).
        """
        routes = [r for r, t in wanted.items() if t]
        if not routes:
            return {}
        everything = {r: set(wanted[r]) for r in routes}
        return await self._guard.run("take", lambda: self._take(routes, wanted, window, limits), everything)

    async def _take(
        self,
        routes: Sequence[str],
        wanted: Mapping[str, Sequence[str]],
        window: Window,
        limits: Mapping[str, int],
    ) -> dict[str, set[str]]:
        ttl = int((window.end - window.start).total_seconds()) * 2
        stamp = int(window.start.timestamp())
        keys = [f"{self._prefix}:storm:{route}:{stamp}:triggers" for route in routes]
        args: list[str | int] = [ttl, *(len(wanted[r]) for r in routes)]
        for route in routes:
            args.extend(wanted[route])
        ranks = iter(await self._count_once(keys=keys, args=args))
        return {r: {t for t in wanted[r] if int(next(ranks)) <= limits[r]} for r in routes}
