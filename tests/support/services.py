"""Running a service inside the test's event loop, on the real broker, without its HTTP server."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.asgi import AsgiFastStream


@asynccontextmanager
async def running(app: AsgiFastStream) -> AsyncIterator[AsgiFastStream]:
    """Run the app's lifespan and broker for the duration of the block."""
    async with app.start_lifespan_context():
        yield app
