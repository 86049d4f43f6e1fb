"""The hot lookup in Redis: fingerprint or source item key -> the issue id that currently holds it.

Only a shortcut: the store looks hinted keys up by issue id instead of through their index. Losing
Redis (or flushing it) costs nothing but those shortcuts; every miss falls back to the SQL indexes.
"""

from collections.abc import Iterable, Sequence
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

    async def lookup(self, *, keys: Sequence[str]) -> dict[str, str]:
        """The hints known for ``keys`` (``fp:...``/``ref:...``)."""
        ...

    async def remember(self, *, pairs: dict[str, str]) -> None:
        """Store hints after a committed batch."""
        ...


class NoHints:
    """No Redis: every lookup goes through the SQL indexes."""

    async def lookup(self, *, keys: Sequence[str]) -> dict[str, str]:
        """Nothing is known."""
        return {}

    async def remember(self, *, pairs: dict[str, str]) -> None:
        """Nothing is kept."""


_REMEMBER = """
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
    redis.call('SET', key, ARGV[i], 'EX', ttl)
end
return #KEYS
"""
"""``SET key issue_id EX ttl`` for every key: KEYS are the hint keys, ARGV their issue ids in the same
order and then the TTL. One command instead of a pipeline of one per key: building and parsing a few
hundred commands per batch in Python cost more than Redis spent on them. (Not for Redis Cluster, whose
scripts must keep to one hash slot.)"""


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
        self._set_all: AsyncScript | None = None  # registered on first use

    async def lookup(self, *, keys: Sequence[str]) -> dict[str, str]:
        """One ``MGET`` round trip; none at all while Redis does not answer."""
        if not keys:
            return {}
        return await self._guard.run("lookup", lambda: self._lookup(keys), {})

    async def remember(self, *, pairs: dict[str, str]) -> None:
        """One round trip setting every pair with ``EX ttl``; given up while Redis does not answer."""
        if pairs:
            await self._guard.run("remember", lambda: self._remember(pairs), None)

    async def _lookup(self, keys: Sequence[str]) -> dict[str, str]:
        values = await self._client.mget([f"{self._prefix}:{key}" for key in keys])
        found: dict[str, str] = {}
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                found[key] = value.decode() if isinstance(value, bytes) else str(value)
        return found

    async def _remember(self, pairs: dict[str, str]) -> None:
        if self._set_all is None:
            self._set_all = self._client.register_script(_REMEMBER)
        prefix = self._prefix
        await self._set_all(keys=[f"{prefix}:{key}" for key in pairs], args=[*pairs.values(), self._ttl])
