"""Triage's hints on a real Redis: what a batch stores is read back by the same round trip, and expires;
what a failed exchange carried is stored by the next one."""

import uuid
from datetime import datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypercare_contracts import Decision, IssueStatus, LifecycleAction, LifecycleEvent, Via
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_store.issues import PgIssueStore
from hypercare_triage.hints import RedisHints
from hypercare_triage.pipeline import Incoming, TriagePipeline
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.unit.triage_factories import at, make_report, shipped_policies

pytestmark = pytest.mark.integration


async def test_one_exchange_stores_hints_then_reads_them_with_their_expiry(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    prefix = f"hypercare:test:{uuid.uuid4().hex[:12]}"
    hints = RedisHints(client, prefix=prefix, ttl_seconds=60)
    try:
        assert await hints.exchange(remember={}, keys=["fp:a"]) == {}
        found = await hints.exchange(
            remember={"fp:a": "iss_1", "ref:zendesk:1": "iss_1"}, keys=["fp:a", "fp:missing", "ref:zendesk:1"]
        )
        assert found == {"fp:a": "iss_1", "ref:zendesk:1": "iss_1"}, "read back in the call that stored them"
        assert await hints.exchange(remember={"fp:a": "iss_2"}, keys=["fp:a"]) == {"fp:a": "iss_2"}
        assert await client.get(f"{prefix}:fp:a") == b"iss_2"
        assert 0 < await client.ttl(f"{prefix}:ref:zendesk:1") <= 60
    finally:
        await client.delete(*[key async for key in client.scan_iter(f"{prefix}:*")])
        await client.aclose()


class _FailingOnce:
    """A real Redis client whose next hint exchange, once ``fail_next`` is set, times out."""

    def __init__(self, client: "aioredis.Redis") -> None:
        self.client, self.fail_next = client, False

    def register_script(self, script: str) -> Any:
        real = self.client.register_script(script)

        async def run(*, keys: list[str], args: list[str | int]) -> Any:
            if self.fail_next:
                self.fail_next = False
                raise RedisTimeoutError("Timeout reading from socket")
            return await real(keys=keys, args=args)

        return run


async def test_a_hint_a_failed_exchange_carried_still_replaces_the_older_one(
    database_url: str, redis_url: str
) -> None:
    # Redis holds fp -> the first issue of a fingerprint; a newer issue of it takes over, and the
    # exchange carrying its hint times out. Lost, the older hint would stay: the next report of the
    # fingerprint would load the first issue by id instead of asking the index, miss the newer one
    # (resolved, so no open issue of the scope either) and open a third instead of reopening it.
    client = aioredis.Redis.from_url(redis_url)
    redis = _FailingOnce(client)
    flaky: Any = redis
    prefix = f"hypercare:test:{uuid.uuid4().hex[:12]}"
    pool = await open_pool(database_url)
    try:
        await apply_migrations(pool)
        pipeline = TriagePipeline(
            PgIssueStore(pool),
            RedisHints(flaky, prefix=prefix, ttl_seconds=60, pause_seconds=0),
            shipped_policies(),
            clock=lambda: at(25 * 60 + 10),
        )
        first = make_report(minutes=0)
        newer = make_report(minutes=25 * 60)  # past the first issue's absorb cap (24 h): a new issue
        await pipeline.triage([Incoming(first, 0.0)])
        created = await pipeline.triage([Incoming(newer, 0.0)])  # its lookup stores fp -> the first
        [newer_issue] = {d.decision.issue_id for d in created.decisions}
        redis.fail_next = True
        await pipeline.flush_hints()  # the timer's: fp -> the newer issue, times out
        assert await pipeline.lifecycle(_resolve(newer_issue, at(25 * 60 + 1)))
        again = await pipeline.triage([Incoming(make_report(minutes=25 * 60 + 5), 0.0)])
        pipeline.close()
        issues = await pool.fetch("SELECT issue_id, status FROM issues ORDER BY first_seen")
    finally:
        await client.delete(*[key async for key in client.scan_iter(f"{prefix}:*")])
        await client.aclose()
        await pool.close()

    assert len(issues) == 2, "no third issue for the fingerprint"
    assert [(d.decision.issue_id, d.decision.decision) for d in again.decisions] == [
        (newer_issue, Decision.REOPENED)
    ]


def _resolve(issue_id: str, moment: datetime) -> LifecycleEvent:
    return LifecycleEvent(
        event_id=f"resolve-{issue_id}",
        command_id=f"cmd-resolve-{issue_id}",
        issue_id=issue_id,
        action=LifecycleAction.RESOLVE,
        actor="oncall@example.com",
        via=Via.API,
        at=moment,
        from_status=IssueStatus.OPEN,
        to_status=IssueStatus.RESOLVED,
    )
