"""The hot lookup in Redis: fingerprint or source item key -> the issue id that currently holds it.

Only a shortcut: the store looks hinted keys up by issue id instead of through their index. Losing
Redis (or flushing it) costs nothing but those shortcuts; every miss falls back to the SQL indexes. A
hint that Redis did not take, though, while it still holds an older one for the key, would send
lookups to the issue the older one names: hints are kept until Redis took them (:class:`PendingHints`).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from typing import Protocol

import redis.asyncio as aioredis
from hypercare_contracts import MergeRule
from hypercare_domain.triage.state import report_keys
from hypercare_runtime.cache import ShortcutGuard
from hypercare_store.ports import StoredReport
from redis.commands.core import AsyncScript


def hint_pairs(links: Iterable[StoredReport], fingerprints: dict[str, str]) -> dict[str, str]:
    """Hint key -> issue id for the reports of a committed batch.

    A source item key always points at the issue its report joined (matching picks the newest issue
    of an item). A fingerprint only points at an issue the report created or joined by that same
    fingerprint: a report merged by source item or similarity says nothing about which issue is the
    current one for its fingerprint.

    Args:
        links: the batch's stored reports.
        fingerprints: issue id -> the issue's fingerprint.
    """
    pairs: dict[str, str] = {}
    for link in links:
        if link.issue_id is None:
            continue
        pairs.update({f"ref:{key}": link.issue_id for key in report_keys(link.report)})
        same = fingerprints.get(link.issue_id) == link.report.fingerprint
        if same and link.rule in (MergeRule.NEW, MergeRule.FINGERPRINT):
            pairs[f"fp:{link.report.fingerprint}"] = link.issue_id
    return pairs


class IssueHints(Protocol):
    """Where the service keeps and finds hints."""

    async def exchange(self, *, remember: dict[str, str], keys: Sequence[str]) -> dict[str, str] | None:
        """Store the hints of batches committed since the last call (``remember``), then return the
        hints known for ``keys`` (``fp:...``/``ref:...``), which see them: one round trip per batch.
        None when the store did not answer: nothing was stored (the caller keeps ``remember`` for the
        next call) and nothing is known."""
        ...


class NoHints:
    """No Redis: every lookup goes through the SQL indexes."""

    async def exchange(self, *, remember: dict[str, str], keys: Sequence[str]) -> dict[str, str]:
        """Nothing is kept, nothing is known."""
        return {}


PENDING_HINTS_MAX = 20_000
"""Hints kept for the next exchange while Redis does not answer, by default (a batch of a thousand
reports leaves about 2,000): the newest of a short outage, and few enough for the exchange after it to
end well within the client's 0.5 s timeout (else it would fail again for its size)."""


class PendingHints:
    """The hints of committed batches not stored yet, oldest first, at most ``limit`` of them.

    A failed exchange puts what it carried back, so Redis is not left with an older hint for a key
    whose newer hint was lost (a lookup would load the issue the older one names instead of asking
    the index, and miss the current one). While Redis is down they pile up: beyond ``limit`` the
    oldest are dropped, and ``on_dropped`` is told how many.
    """

    def __init__(self, *, limit: int, on_dropped: Callable[[int], None] = lambda count: None) -> None:
        """Keep at most ``limit`` hints (the newest)."""
        self._hints: dict[str, str] = {}
        self._limit = limit
        self._on_dropped = on_dropped

    def __len__(self) -> int:
        return len(self._hints)

    def add(self, pairs: Mapping[str, str]) -> None:
        """Hints newer than every one pending (a batch just committed): they replace those of the
        same keys and are the last to be dropped."""
        for key in pairs.keys() & self._hints.keys():
            del self._hints[key]  # moved to the end: it is the newest now
        self._hints.update(pairs)
        self._trim()

    def take(self) -> dict[str, str]:
        """Every pending hint, oldest first; none is pending afterwards."""
        taken, self._hints = self._hints, {}
        return taken

    def put_back(self, taken: dict[str, str]) -> None:
        """What :meth:`take` returned, after an exchange that stored none of it: older than what was
        added meanwhile, which wins over it."""
        newer, self._hints = self._hints, taken
        self.add(newer)

    def _trim(self) -> None:
        excess = len(self._hints) - self._limit
        if excess <= 0:
            return
        for key in list(islice(self._hints, excess)):
            del self._hints[key]
        self._on_dropped(excess)


_EXCHANGE = """
local set = tonumber(ARGV[#ARGV])
local ttl = ARGV[#ARGV - 1]
for i = 1, set do
    redis.call('SET', KEYS[i], ARGV[i], 'EX', ttl)
end
local found = {}
for i = set + 1, #KEYS do
    found[#found + 1] = redis.call('GET', KEYS[i])
end
return found
"""
"""``SET key issue_id EX ttl`` for the first ``set`` keys, then ``GET`` of the others, in one command:
KEYS are the keys to set and then the keys to read; ARGV the issue ids of the keys to set, in the same
order, then the TTL and ``set``. A key read that is missing comes back as nil. One command instead of a
pipeline of one per key: building and parsing a few hundred commands per batch in Python cost more than
Redis spent on them. (Not for Redis Cluster, whose scripts must keep to one hash slot.)"""


class RedisHints:
    """Hints in Redis under ``<prefix>:``, each expiring after ``ttl_seconds``."""

    def __init__(
        self, client: "aioredis.Redis", *, prefix: str, ttl_seconds: int, pause_seconds: float = 5.0
    ) -> None:
        """Use ``client`` (opened and closed by the service's lifespan, without retries).

        After Redis failed to answer, hints are neither read nor written for ``pause_seconds``: batches
        go on through the SQL indexes instead of each waiting on a server that is down.
        """
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._guard = ShortcutGuard(what="triage hints", pause_s=pause_seconds)
        self._script: AsyncScript | None = None  # registered on first use

    async def exchange(self, *, remember: dict[str, str], keys: Sequence[str]) -> dict[str, str] | None:
        """One round trip; None, and none at all, while Redis does not answer (the caller keeps what
        was to be stored for the next exchange)."""
        if not remember and not keys:
            return {}
        return await self._guard.run("exchange", lambda: self._exchange(remember, keys), None)

    async def _exchange(self, remember: dict[str, str], keys: Sequence[str]) -> dict[str, str]:
        if self._script is None:
            self._script = self._client.register_script(_EXCHANGE)
        prefix = self._prefix
        values = await self._script(
            keys=[*(f"{prefix}:{key}" for key in remember), *(f"{prefix}:{key}" for key in keys)],
            args=[*remember.values(), self._ttl, len(remember)],
        )
        found: dict[str, str] = {}
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                found[key] = value.decode() if isinstance(value, bytes) else str(value)
        return found
