"""Remove what kept bench runs left on the local stack: their databases, topics and Redis keys.

``uv run python -m bench.clean [--dry-run]``. A run with ``--keep`` (and ``bench.exit_count --keep``)
leaves its database ``hypercare_bench_<run>`` (hundreds of MiB after 200,000 messages), its topics
``bench.<run>.*`` and triage's hints under ``hypercare:bench:<run>:`` (which expire within the hint
TTL). A run that was killed leaves the same. Do not clean while a bench runs: its own database, topics and
keys would go too.
"""

import argparse
import asyncio

import asyncpg
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient
from hypercare_runtime.settings import ServiceSettings

from bench.passthrough import delete_topics
from bench.processes import REDIS_PREFIX, drop_database, drop_redis_keys

DATABASE_PREFIX = "hypercare_bench_"
TOPIC_PREFIX = "bench."


async def leftovers(settings: ServiceSettings) -> tuple[list[str], list[str], int]:
    """The bench databases, the bench topics, and how many bench Redis keys there are."""
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        databases = [
            row["datname"]
            for row in await conn.fetch(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
                DATABASE_PREFIX,
            )
        ]
    finally:
        await conn.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(TOPIC_PREFIX))
    finally:
        await admin.close()
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        keys = sum([1 async for _ in client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000)])
    finally:
        await client.aclose()
    return databases, topics, keys


async def run(dry_run: bool) -> None:
    """Say what is left, and remove it unless ``dry_run``."""
    settings = ServiceSettings()
    databases, topics, keys = await leftovers(settings)
    print(f"{len(databases)} databases, {len(topics)} topics, {keys} Redis keys left by bench runs")
    for name in databases:
        print(f"  database {name}")
    if dry_run:
        return
    for name in databases:
        await drop_database(settings.database_url.get_secret_value(), name)
    if topics:
        await delete_topics(settings.kafka_bootstrap, topics)
    removed = await drop_redis_keys(settings.redis_url.get_secret_value(), REDIS_PREFIX)
    print(f"removed {len(databases)} databases, {len(topics)} topics, {removed} Redis keys")


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.clean", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="only list what is left")
    asyncio.run(run(parser.parse_args().dry_run))


if __name__ == "__main__":
    main()
