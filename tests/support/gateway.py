"""Running the gateway in tests: in memory (FastStream's TestKafkaBroker) or served by uvicorn for real."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from hypercare_gateway.app import create_app
from hypercare_gateway.auth import hash_token
from hypercare_gateway.settings import GatewaySettings, ProducerKey, Scope

from tests.support.kafka import wait_for

SCOPES: tuple[Scope, ...] = ("alerts", "tickets", "feedback", "social")


def api_keys(producers: dict[str, tuple[str, Iterable[Scope]]]) -> dict[str, ProducerKey]:
    """``{"name": (token, scopes)}`` as the gateway's key table (tokens hashed, as operators store them)."""
    return {
        name: ProducerKey(token_sha256=hash_token(token), scopes=frozenset(scopes))
        for name, (token, scopes) in producers.items()
    }


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Published:
    """One message the gateway wrote."""

    topic: str
    key: bytes | None
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


PublishHook = Callable[[Published], Awaitable[None]]


@dataclass(frozen=True)
class InMemoryGateway:
    """The gateway app with an HTTP client on it and what it published."""

    app: FastAPI
    client: httpx.AsyncClient
    published: list[Published]

    def on(self, topic: str) -> list[Published]:
        """The messages published to one topic."""
        return [p for p in self.published if p.topic == topic]


@asynccontextmanager
async def in_memory_gateway(
    settings: GatewaySettings, *, on_publish: PublishHook | None = None
) -> AsyncIterator[InMemoryGateway]:
    """The app with its broker patched by ``TestKafkaBroker``, its lifespan run, and an ASGI client.

    Args:
        settings: the gateway settings.
        on_publish: awaited inside each publish, before Kafka "acknowledges": a test can hold or slow
            the acknowledgement with it.
    """
    app = create_app(settings)
    broker: KafkaBroker = app.state.broker
    published: list[Published] = []

    @broker.subscriber(*sorted({settings.topic_for(s) for s in SCOPES}))
    async def record(message: KafkaMessage) -> None:
        raw = message.raw_message
        assert not isinstance(raw, tuple), "the recorder subscribes one message at a time"
        item = Published(raw.topic, raw.key or None, message.body, dict(message.headers))
        if on_publish is not None:
            await on_publish(item)
        published.append(item)

    transport = httpx.ASGITransport(app=app)
    async with (
        TestKafkaBroker(broker),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client,
    ):
        yield InMemoryGateway(app, client, published)


@asynccontextmanager
async def served_gateway(settings: GatewaySettings) -> AsyncIterator[str]:
    """The gateway served by uvicorn in this event loop on a port the OS picked; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_for(lambda: server.started or task.done(), timeout=30, what="the gateway to start")
        if task.done():
            task.result()
            raise AssertionError("the gateway stopped during start-up")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
        sock.close()
