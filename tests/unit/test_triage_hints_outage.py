"""Redis holds only hints: while it does not answer, triage goes on without them."""

import socket
from typing import Any

import pytest
from hypercare_runtime.cache import open_redis
from hypercare_triage.hints import RedisHints

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there any more: connections are refused at once


async def test_hints_are_empty_and_not_kept_while_redis_is_down() -> None:
    client = open_redis(f"redis://127.0.0.1:{_closed_port()}/0", timeout_s=0.5, retries=0)
    hints = RedisHints(client, prefix="hypercare:test", ttl_seconds=60)
    try:
        assert await hints.exchange(remember={"fp:checkout": "iss_1"}, keys=["ref:zendesk:1"]) == {}
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

    assert await hints.exchange(remember={}, keys=["fp:a"]) == {}
    assert await hints.exchange(remember={"fp:b": "iss_1"}, keys=["fp:b"]) == {}
    assert calls == ["script"], "the second exchange did not wait on a server that just failed"
