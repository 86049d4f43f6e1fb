"""Turns ended storm windows into digest deliveries, one per route and digest-capable channel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from hypercare_runtime.logging import get_logger
from hypercare_store.deliveries import DeliveryStore

from hypercare_notifier.metrics import NotifierMetrics
from hypercare_notifier.planning import Channels, idempotency_key

log = get_logger(__name__)


def digest_channels(channels: Channels) -> Callable[[Sequence[str]], list[str]]:
    """Where a window's digest goes: the folded rows' channels that take digests, else the default.

    A pager (PagerDuty) cannot take a digest (it pages per issue); what was folded for it is listed
    in the digest of the route's other channels, or of the default channel when the route has none.
    """

    def choose(folded: Sequence[str]) -> list[str]:
        usable = [c for c in folded if c in channels.known and not channels.known[c].pager]
        return usable or [channels.default]

    return choose


def digest_key(digest: str, channel: str) -> str:
    """The idempotency key of one digest on one channel."""
    return idempotency_key(digest, digest, 0, channel)


async def plan_due_digests(
    store: DeliveryStore, channels: Channels, metrics: NotifierMetrics, *, grace_seconds: float
) -> int:
    """Plan the digests of every ended window; returns how many digest deliveries were planned."""
    planned = await store.plan_digests(
        grace_seconds=grace_seconds, choose=digest_channels(channels), key=digest_key
    )
    for window, targets in planned:
        metrics.digests.labels(window.route).inc()
        log.info("digest.planned", digest_id=window.digest_id, route=window.route, channels=targets)
    return sum(len(t) for _, t in planned)


async def run_digest_planner(
    store: DeliveryStore,
    channels: Channels,
    metrics: NotifierMetrics,
    *,
    grace_seconds: float,
    interval: float,
    wake: Callable[[], None],
) -> None:
    """Plan due digests every ``interval`` seconds until cancelled, waking the worker when it did."""
    while True:
        if await plan_due_digests(store, channels, metrics, grace_seconds=grace_seconds):
            wake()
        await asyncio.sleep(interval)
