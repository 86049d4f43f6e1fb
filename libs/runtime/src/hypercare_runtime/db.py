"""PostgreSQL: the asyncpg pool and versioned SQL migrations applied idempotently at start-up."""

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

from hypercare_runtime.logging import get_logger

log = get_logger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any fixed 64-bit number works; it only has to be the same for every process that migrates.
_MIGRATION_LOCK_ID = 0x6879_7065_7263_6172


@dataclass(frozen=True)
class Migration:
    """One versioned SQL file."""

    version: int
    name: str
    sql: str


def load_migrations(package: str = "hypercare_store.migrations") -> list[Migration]:
    """The migrations shipped in ``package``, ordered by version.

    Raises:
        ValueError: two files share a version, or a file name does not follow ``NNNN_name.sql``.
    """
    root: Traversable = resources.files(package)
    found: dict[int, Migration] = {}
    for entry in root.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file {entry.name!r} must be named NNNN_lower_snake.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations share version {version}: {found[version].name}, {entry.name}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def apply_migrations(pool: asyncpg.Pool, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations not yet applied, each in its own transaction, under an advisory lock.

    Safe to call from several services starting at once. Returns the versions applied now.
    """
    todo = load_migrations() if migrations is None else migrations
    applied_now: list[int] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in todo:
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
                log.info("db.migration_applied", version=migration.version, name=migration.name)
                applied_now.append(migration.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
    return applied_now


async def open_pool(url: str, *, max_size: int = 10, session_state: bool = True) -> asyncpg.Pool:
    """An asyncpg pool; opened in a service's lifespan, never at import.

    Its connections run with PostgreSQL's JIT compilation off: the services' statements are short,
    and once the planner's estimate for one crosses ``jit_above_cost`` (triage's batch read did, as
    ``issue_members`` grew), every execution compiled it first: 15-70 ms for a read that takes 1 ms.

    Args:
        url: the PostgreSQL URL.
        max_size: connections at most.
        session_state: False when no user of the pool leaves session state behind (settings, session
            advisory locks, listeners, cursors): a connection handed back is then only rolled back if a
            transaction is still open, instead of being reset with a query (a round trip per use,
            which the triage service pays twice per batch).
    """
    settings = {"jit": "off"}
    if session_state:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            url, min_size=1, max_size=max_size, command_timeout=30, server_settings=settings
        )
    else:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_size,
            command_timeout=30,
            server_settings=settings,
            reset=_end_open_transaction,
        )
    return pool


async def _end_open_transaction(conn: asyncpg.Connection) -> None:
    """The release of a connection of a pool without session state: end a transaction left open."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
