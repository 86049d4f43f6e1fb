"""``python -m hypercare_triage``: run the triage service with settings from the environment."""

import asyncio

from hypercare_runtime.process import BatchCollector, tune_garbage_collector

from hypercare_triage.app import create_app
from hypercare_triage.settings import TriageSettings


def main() -> None:
    """Run until SIGINT/SIGTERM."""
    settings = TriageSettings()
    collector = (
        BatchCollector(
            full_every_s=settings.gc_full_every_s, full_after_growth_mib=settings.gc_full_after_growth_mib
        )
        if settings.gc_threshold > 0
        else None
    )
    app = create_app(settings, collector=collector)
    tune_garbage_collector(settings.gc_threshold)
    asyncio.run(app.run(run_extra_options={"host": settings.http_host, "port": settings.http_port}))


if __name__ == "__main__":
    main()
