"""Triage's hints on a real Redis: what a batch stores is read back by the same round trip, and expires."""

import uuid

import pytest
import redis.asyncio as aioredis
from hypercare_triage.hints import RedisHints

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
