"""The notifier's outbox in PostgreSQL (``0014_notifier_outbox.sql``): Kafka messages committed with the
change they report, until the relay published them.

:class:`~hypercare_store.deliveries.DeliveryStore` writes them (:func:`write_outbox`) in the transaction
that changes a delivery row; :class:`NotifierOutbox` relays them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
from asyncpg.pool import PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A Kafka message committed with the change it reports, for the relay to publish."""

    topic: str
    key: str | None
    value: str
    """JSON text, published as it is (a message published again is the same bytes)."""
    headers: Mapping[str, str] = field(default_factory=dict)


_RELAY_LOCK = (0x6E6F7469, 14)
"""The relay's transaction-level advisory lock (the two-integer key space: no other lock of the
services, which take single ``bigint`` keys, can collide with it)."""

RELAY_IDLE_TIMEOUT = timedelta(seconds=60)
"""How long a relay round's transaction may stay idle (waiting for Kafka's acknowledgement) before
PostgreSQL ends its session: a little above Kafka's request timeout (40 s, the producer's default), so a
round whose host froze mid-way gives up the advisory lock (and its rows) within a minute instead of
holding them until TCP gives up on the connection, about two hours later."""

Publish = Callable[[Sequence[OutboxMessage]], Awaitable[None]]
"""Publishes messages and returns once Kafka acknowledged every one (raises otherwise)."""


async def write_outbox(conn: PoolConnectionProxy, messages: Sequence[OutboxMessage]) -> None:
    """Add ``messages`` to the outbox on ``conn``, inside the caller's transaction.

    Args:
        conn: a connection in the transaction that makes the change the messages report.
        messages: what to publish once that transaction committed.
    """
    if messages:
        await conn.execute(
            "INSERT INTO notifier_outbox (topic, key, value, headers)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
            [m.topic for m in messages],
            [m.key for m in messages],
            [m.value for m in messages],
            [json.dumps(dict(m.headers)) for m in messages],
        )


class NotifierOutbox:
    """asyncpg adapter of the relay's side of the outbox."""

    def __init__(self, pool: asyncpg.Pool, *, idle_timeout: timedelta = RELAY_IDLE_TIMEOUT) -> None:
        """Relay through ``pool``.

        Args:
            pool: the notifier's database pool.
            idle_timeout: how long a round may wait for Kafka with its transaction open
                (:data:`RELAY_IDLE_TIMEOUT`; shorter in tests).
        """
        self._pool = pool
        self._idle_ms = max(1, round(idle_timeout.total_seconds() * 1000))

    async def relay_outbox(self, *, limit: int, publish: Publish) -> int:
        """Publish up to ``limit`` outbox messages, oldest first, and delete them once ``publish`` returned.

        One relay at a time, of all instances: the round's transaction first takes an advisory lock,
        and a round that does not get it relays nothing (returns 0). Two relays at once would each hold
        some rows while waiting for Kafka, and one could publish a delivery's ``sent`` before the other
        published its ``retried``. If ``publish`` raises, the rows stay for a later round; if the process
        dies after Kafka acknowledged them and before the commit, they are published again: at least
        once. The transaction may stay idle for ``idle_timeout`` at most (``SET LOCAL
        idle_in_transaction_session_timeout``): past it, as when the instance froze, PostgreSQL ends the
        session, which frees the lock and the rows for another instance's relay.

        Args:
            limit: the most messages to publish in this round.
            publish: sends the messages and returns once Kafka acknowledged them all.

        Returns:
            How many messages were published.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT set_config('idle_in_transaction_session_timeout', $1, true)", str(self._idle_ms)
            )
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, $2)", *_RELAY_LOCK):
                return 0  # another instance is relaying; it publishes these rows, in order
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers FROM notifier_outbox ORDER BY id LIMIT $1 FOR UPDATE",
                limit,
            )
            if not rows:
                return 0
            await publish(
                [OutboxMessage(r["topic"], r["key"], r["value"], json.loads(r["headers"])) for r in rows]
            )
            await conn.execute(
                "DELETE FROM notifier_outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        return len(rows)
