"""Redis holds only hints: while it does not answer, triage goes on without them."""

import socket
from typing import Any

import pytest
from hypercare_runtime.cache import open_redis
from hypercare_triage.hints import PendingHints, RedisHints

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there any more: connections are refused at once


async def test_an_exchange_with_redis_down_says_nothing_was_stored_or_found() -> None:
    client = open_redis(f"redis://127.0.0.1:{_closed_port()}/0", timeout_s=0.5, retries=0)
    hints = RedisHints(client, prefix="hypercare:test", ttl_seconds=60)
    try:
        assert await hints.exchange(remember={"fp:checkout": "iss_1"}, keys=["ref:zendesk:1"]) is None
    finally:
        await client.aclose()


async def test_after_a_failure_redis_is_left_alone_for_a_pause() -> None:
    calls: list[str] = []

    class Refusing:
        def register_script(self, script: str) -> Any:
            async def run(*, keys: list[str], args: list[object]) -> list[bytes | None]:
                calls.append("script")
                raise ConnectionRefusedError("down")

            return run

    refusing: Any = Refusing()
    hints = RedisHints(refusing, prefix="p", ttl_seconds=60, pause_seconds=60)

    assert await hints.exchange(remember={}, keys=["fp:a"]) is None
    assert await hints.exchange(remember={"fp:b": "iss_1"}, keys=["fp:b"]) is None
    assert calls == ["script"], "the second exchange did not wait on a server that just failed"


def test_hints_put_back_after_a_failed_exchange_are_older_than_those_added_meanwhile() -> None:
    pending = PendingHints(limit=10)
    pending.add({"fp:a": "iss_1", "ref:z:1": "iss_1"})
    taken = pending.take()
    pending.add({"fp:a": "iss_2", "ref:z:2": "iss_2"})  # a batch committed while the exchange ran

    pending.put_back(taken)  # the exchange failed

    assert list(pending.take().items()) == [("ref:z:1", "iss_1"), ("fp:a", "iss_2"), ("ref:z:2", "iss_2")]
    assert not pending, "all taken"


def test_beyond_the_limit_the_oldest_hints_are_dropped_and_counted() -> None:
    # Redis down for long: what piles up stays bounded, and the hints kept are the newest.
    dropped: list[int] = []
    pending = PendingHints(limit=3, on_dropped=dropped.append)
    pending.add({"fp:a": "iss_1", "fp:b": "iss_1"})
    pending.add({"fp:c": "iss_2", "fp:a": "iss_2"})  # fp:a is the newest now
    pending.put_back({"fp:old": "iss_0"})  # from an exchange that failed: older than all of them
    pending.add({"fp:d": "iss_3"})

    assert list(pending.take().items()) == [("fp:c", "iss_2"), ("fp:a", "iss_2"), ("fp:d", "iss_3")]
    assert dropped == [1, 1], "fp:old, then fp:b"
