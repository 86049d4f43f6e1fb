"""Turns ended storm windows into digest deliveries, one per route and digest-capable channel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from hypercare_runtime.logging import get_logger
from hypercare_store.deliveries import ChooseChannels, DigestWindow

from hypercare_notifier.loops import DEFAULT_BACKOFF, Backoff, Failures
from hypercare_notifier.metrics import NotifierMetrics
from hypercare_notifier.planning import Channels, idempotency_key

log = get_logger(__name__)


class DigestPlanner(Protocol):
    """The digest planner's view of the delivery log (``hypercare_store.deliveries.DeliveryStore``)."""

    async def plan_digests(
        self, *, grace_seconds: float, choose: ChooseChannels, key: Callable[[str, str], str]
    ) -> list[tuple[DigestWindow, list[str]]]: ...


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
    store: DigestPlanner, channels: Channels, metrics: NotifierMetrics, *, grace_seconds: float
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
    store: DigestPlanner,
    channels: Channels,
    metrics: NotifierMetrics,
    *,
    grace_seconds: float,
    interval: float,
    wake: Callable[[], None],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> None:
    """Plan due digests every ``interval`` seconds until cancelled, waking the worker when it did.

    A failed round (the database unreachable, a defect) is logged and tried again after ``backoff``
    (:mod:`hypercare_notifier.loops`): the planner only ends when cancelled.
    """
    failures = Failures("digests", backoff, metrics.loop_failures)
    while True:
        try:
            planned = await plan_due_digests(store, channels, metrics, grace_seconds=grace_seconds)
        except Exception as exc:  # logged by kind; the next round is tried after the backoff
            await asyncio.sleep(failures.failed(exc))
            continue
        failures.succeeded()
        if planned:
            wake()
        await asyncio.sleep(interval)
