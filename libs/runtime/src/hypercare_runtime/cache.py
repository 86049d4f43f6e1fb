"""Redis client, opened in a service's lifespan."""

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def open_redis(url: str, *, timeout_s: float | None = None, retries: int | None = None) -> "aioredis.Redis":
    """A Redis client (connections are made lazily, on first use).

    Args:
        url: ``redis://host:port/db``.
        timeout_s: connect and command timeout; None keeps the client's defaults.
        retries: attempts after a failed command; None keeps the client's policy (several, with a
            backoff of seconds). A caller for whom Redis is only a shortcut passes 0 and goes on without it.
    """
    options: dict[str, Any] = {"decode_responses": False, "health_check_interval": 30}
    if timeout_s is not None:
        options.update(socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    if retries is not None:
        options["retry"] = Retry(NoBackoff(), retries)
    return aioredis.Redis.from_url(url, **options)
