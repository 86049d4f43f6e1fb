"""``python -m hypercare_sla``: serve the SLA service with uvicorn, settings from the environment."""

import uvicorn
from hypercare_runtime.process import tune_garbage_collector

from hypercare_sla.app import create_app
from hypercare_sla.settings import SlaSettings


def main() -> None:
    """Run until SIGINT/SIGTERM (uvicorn drains requests, then the lifespan stops the scheduler and broker)."""
    settings = SlaSettings()
    app = create_app(settings)
    tune_garbage_collector(settings.gc_threshold)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep the structlog/stdlib configuration create_app installed
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
