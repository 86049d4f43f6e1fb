"""Storm control: a burst on one route sends at most the limit per window; the rest arrive as digests."""

import re
import uuid
from datetime import UTC, datetime

import pytest
from hypercare_contracts.notifications import DeliveryOutcome
from hypercare_notifier.app import create_app
from hypercare_notifier.redis_state import StormCounter, window_of
from hypercare_runtime.cache import open_redis

from tests.support.kafka import wait_for
from tests.support.receivers import NotifierStack, make_decision
from tests.support.services import running

pytestmark = pytest.mark.integration

BURST = 500
LIMIT = 10
DIGEST_TITLE = re.compile(r"^\[DIGEST\] (\d+) issues? for payments-urgent$")


def accounted(stack: NotifierStack) -> int:
    """Decisions the webhook receiver has heard of: one each individually, plus each digest's count."""
    total = 0
    for request in stack.receiver.on("/hook"):
        body = request.json()
        if body["kind"] == "digest":
            match = DIGEST_TITLE.match(body["title"])
            assert match is not None, body["title"]
            total += int(match.group(1))
        else:
            total += 1
    return total


async def test_a_burst_on_one_route_is_bounded_and_the_digest_accounts_for_every_suppressed_one(
    stack: NotifierStack, group_id: str
) -> None:
    policy = stack.policy(
        storm={
            "window_seconds": 4,
            "max_per_window": LIMIT,
            "digest_grace_seconds": 0.5,
            "digest_max_entries": 20,
        }
    )
    decisions = [make_decision() for _ in range(BURST)]
    async with running(create_app(stack.settings(group_id, policy))):
        await stack.decide(*decisions)
        await wait_for(lambda: accounted(stack) >= BURST, timeout=90, what="every decision sent or digested")
        records = await stack.records(BURST + 20, settle=2.0, timeout=30)

    bodies = [r.json() for r in stack.receiver.on("/hook")]
    individual = [b for b in bodies if b["kind"] != "digest"]
    digests = [b for b in bodies if b["kind"] == "digest"]
    assert digests, "the burst overflowed the limit, so a digest went out"
    assert LIMIT <= len(individual) <= LIMIT * (len(digests) + 1)
    assert accounted(stack) == BURST
    assert all(len(d["digest"]) <= 20 for d in digests)
    sent = [r for r in records if r.outcome is DeliveryOutcome.SENT]
    digest_sent = [r for r in sent if r.digest_count is not None]
    digested = [r for r in records if r.outcome is DeliveryOutcome.DIGESTED]
    assert len(sent) - len(digest_sent) == len(individual)
    assert sum(r.digest_count or 0 for r in digest_sent) == len(digested) == BURST - len(individual)
    assert {r.issue_id for r in digested} | {b["issue_id"] for b in individual} == {
        d.issue_id for d in decisions
    }


async def test_a_batch_counted_again_after_its_write_was_refused_is_not_counted_twice(redis_url: str) -> None:
    # A batch is counted, its write refused (SnapshotChanged: another instance wrote one of its
    # snapshots during a rebalance), and it is delivered and counted again.
    redis = open_redis(redis_url, timeout_s=2, retries=0)
    counter = StormCounter(redis, prefix=f"test-storm-{uuid.uuid4().hex[:10]}")
    window, limits = window_of(datetime.now(UTC), 60), {"payments": 4}
    try:
        first = await counter.take({"payments": ["d1", "d2", "d3"]}, window, limits)
        again = await counter.take({"payments": ["d1", "d2", "d3"]}, window, limits)
        later = await counter.take({"payments": ["d4", "d5"]}, window, limits)
    finally:
        await redis.aclose()

    assert first == again == {"payments": {"d1", "d2", "d3"}}, "the same verdicts the second time"
    assert later == {"payments": {"d4"}}, "the limit is spent on four decisions, not seven"
