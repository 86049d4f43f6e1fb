"""``python -m hypercare_normalizer``: run the normalizer with settings from the environment."""

import asyncio

from hypercare_runtime.process import tune_garbage_collector

from hypercare_normalizer.app import create_app
from hypercare_normalizer.settings import NormalizerSettings


def main() -> None:
    """Run until SIGINT/SIGTERM."""
    settings = NormalizerSettings()
    app = create_app(settings)
    tune_garbage_collector(settings.gc_threshold)
    asyncio.run(app.run(run_extra_options={"host": settings.http_host, "port": settings.http_port}))


if __name__ == "__main__":
    main()
