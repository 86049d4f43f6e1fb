"""``python -m hypercare_notifier``: run the notifier with settings from the environment."""

import asyncio

from hypercare_runtime.process import tune_garbage_collector

from hypercare_notifier.app import create_app
from hypercare_notifier.settings import NotifierSettings


def main() -> None:
    """Run until SIGINT/SIGTERM."""
    settings = NotifierSettings()
    app = create_app(settings)
    tune_garbage_collector(settings.gc_threshold)
    asyncio.run(app.run(run_extra_options={"host": settings.http_host, "port": settings.http_port}))


if __name__ == "__main__":
    main()
