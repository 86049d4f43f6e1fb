"""The services' Redis client reads replies with hiredis, the C parser redis-py uses when it is installed."""

import pytest
from hypercare_runtime.cache import open_redis
from redis._parsers.hiredis import _AsyncHiredisParser

pytestmark = pytest.mark.unit


async def test_replies_are_parsed_by_hiredis() -> None:
    # Without hiredis (the dependency's extra dropped), redis-py falls back to its pure-Python parser
    # without a word: a triage batch's hint exchange of 1,800 keys then costs 5.6 instead of 3.1 ms of CPU.
    client = open_redis("redis://127.0.0.1:6379/0")
    try:
        connection = client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        assert isinstance(connection._parser, _AsyncHiredisParser)
    finally:
        await client.aclose()
