"""Redis client, opened in a service's lifespan."""

import redis.asyncio as aioredis


def open_redis(url: str) -> "aioredis.Redis":
    """A Redis client (connections are made lazily, on first use)."""
    return aioredis.Redis.from_url(url, decode_responses=False, health_check_interval=30)
