"""Connection pools: JIT off; a pool without session state ends a transaction left open, and resets nothing else."""

import pytest
from hypercare_runtime.db import open_pool

pytestmark = pytest.mark.integration


async def test_a_pool_without_session_state_rolls_back_a_transaction_left_open(database_url: str) -> None:
    pool = await open_pool(database_url, max_size=1, session_state=False)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE t (n integer)")
            await conn.execute("BEGIN; INSERT INTO t VALUES (1)")  # never committed
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM t") == 0
    finally:
        await pool.close()


@pytest.mark.parametrize("session_state", [True, False])
async def test_only_a_pool_with_session_state_resets_settings(database_url: str, session_state: bool) -> None:
    pool = await open_pool(database_url, max_size=1, session_state=session_state)
    try:
        async with pool.acquire() as conn:
            default = await conn.fetchval("SHOW application_name")
            await conn.execute("SET application_name = 'changed'")
        async with pool.acquire() as conn:
            kept = await conn.fetchval("SHOW application_name")
        assert kept == (default if session_state else "changed")
    finally:
        await pool.close()


async def test_pools_run_without_jit_compilation(database_url: str) -> None:
    pool = await open_pool(database_url, max_size=1)
    try:
        assert await pool.fetchval("SHOW jit") == "off"
    finally:
        await pool.close()
