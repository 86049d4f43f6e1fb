"""Fixtures shared by every tier."""

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.support.environment import Endpoints, resolve_endpoints
from tests.support.kafka import KafkaTestKit


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    """Kafka, PostgreSQL and Redis for the integration tier."""
    with resolve_endpoints() as found:
        yield found


@pytest.fixture
async def kafka(endpoints: Endpoints) -> AsyncIterator[KafkaTestKit]:
    """Per-test topics and a producer on the real broker."""
    kit = KafkaTestKit(endpoints.kafka_bootstrap)
    await kit.start()
    try:
        yield kit
    finally:
        await kit.stop()


@pytest.fixture
async def database_url(endpoints: Endpoints) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"hc_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(endpoints.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = endpoints.database_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(endpoints.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def redis_url(endpoints: Endpoints) -> str:
    """The Redis server (tests use unique keys; services namespace theirs)."""
    return endpoints.redis_url


@pytest.fixture
def group_id() -> str:
    """A unique consumer group per test."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=False)
def policy_dir() -> str:
    """The shipped policy folder."""
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "deploy", "policy")
