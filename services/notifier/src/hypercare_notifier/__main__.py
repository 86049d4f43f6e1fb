"""``python -m hypercare_notifier``: run the notifier with settings from the environment."""

import asyncio

from hypercare_notifier.app import create_app
from hypercare_notifier.settings import NotifierSettings


def main() -> None:
    """Run until SIGINT/SIGTERM."""
    settings = NotifierSettings()
    app = create_app(settings)
    asyncio.run(app.run(run_extra_options={"host": settings.http_host, "port": settings.http_port}))


if __name__ == "__main__":
    main()
