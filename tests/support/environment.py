"""Where the tests find Kafka, PostgreSQL and Redis.

Order: the ``HYPERCARE_*`` environment variables; else, when a Docker engine answers, testcontainers;
otherwise the test fails and tells the user to run ``make stack-up``.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pytest

STACK_HINT = (
    "run `make stack-up` (or set HYPERCARE_KAFKA_BOOTSTRAP, HYPERCARE_DATABASE_URL, HYPERCARE_REDIS_URL)"
)


@dataclass(frozen=True)
class Endpoints:
    """Connection strings of the three servers."""

    kafka_bootstrap: str
    database_url: str
    redis_url: str


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    result = subprocess.run([docker, "info"], capture_output=True, timeout=10, check=False)
    return result.returncode == 0


@contextmanager
def _from_testcontainers() -> Iterator[Endpoints]:
    from testcontainers.community.kafka import KafkaContainer  # noqa: PLC0415 - only where Docker exists
    from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415
    from testcontainers.community.redis import RedisContainer  # noqa: PLC0415

    with ExitStack() as stack:
        kafka = stack.enter_context(KafkaContainer().with_kraft())
        pg = stack.enter_context(PostgresContainer("postgres:16", driver=None))
        redis = stack.enter_context(RedisContainer("redis:7"))
        yield Endpoints(
            kafka_bootstrap=kafka.get_bootstrap_server(),
            database_url=pg.get_connection_url(),
            redis_url=f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
        )


@contextmanager
def resolve_endpoints() -> Iterator[Endpoints]:
    """The servers the integration tier runs against."""
    names = ("HYPERCARE_KAFKA_BOOTSTRAP", "HYPERCARE_DATABASE_URL", "HYPERCARE_REDIS_URL")
    values = [os.environ.get(n) for n in names]
    if all(values):
        yield Endpoints(*values)  # type: ignore[arg-type]
        return
    if any(values):
        missing = [n for n, v in zip(names, values, strict=True) if not v]
        pytest.fail(f"set all three server variables; missing {', '.join(missing)}; or {STACK_HINT}")
    if _docker_answers():
        with _from_testcontainers() as endpoints:
            yield endpoints
        return
    pytest.fail(f"no Kafka/PostgreSQL/Redis configured and no Docker engine answers: {STACK_HINT}")
