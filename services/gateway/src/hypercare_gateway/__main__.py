"""``python -m hypercare_gateway``: serve the gateway with uvicorn, settings from the environment."""

import uvicorn
from hypercare_runtime.process import tune_garbage_collector

from hypercare_gateway.app import create_app
from hypercare_gateway.settings import GatewaySettings


def main() -> None:
    """Run until SIGINT/SIGTERM (uvicorn drains requests, then the lifespan closes the producer)."""
    settings = GatewaySettings()
    app = create_app(settings)
    tune_garbage_collector(settings.gc_threshold)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep the structlog/stdlib configuration create_app installed
        access_log=False,  # the gateway logs each accepted request itself, with producer and trace id
        server_header=False,
    )


if __name__ == "__main__":
    main()
