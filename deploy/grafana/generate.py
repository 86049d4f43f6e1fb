"""Generate the Grafana dashboards in ``dashboards/`` from overview.py and pipeline_health.py.

    uv run python deploy/grafana/generate.py          # rewrite the JSON files
    uv run python deploy/grafana/generate.py --check  # exit 1 when a committed file differs

No maintained dashboard SDK is a project dependency, so this small generator writes Grafana's dashboard
JSON (schema 39) itself; tests/unit/test_grafana_dashboards.py checks the committed files equal its output
and that every query names only metrics the services export.

This file is only the command line; the rest is in the modules beside it (package ``deploy.grafana``):
model (queries, panels, rows and their Grafana JSON), overview and pipeline_health (the two dashboards).
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DASHBOARD_DIR = HERE / "dashboards"
_ROOT = str(HERE.parent.parent)
# Run as a script, only deploy/grafana is on sys.path: the repository root makes `deploy.grafana` importable.
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from deploy.grafana.model import Dashboard, render  # noqa: E402 - importable only after the lines above
from deploy.grafana.overview import OVERVIEW  # noqa: E402
from deploy.grafana.pipeline_health import PIPELINE  # noqa: E402

DASHBOARDS = (OVERVIEW, PIPELINE)
__all__ = ["DASHBOARDS", "main", "path_of", "render"]


def path_of(dashboard: Dashboard) -> Path:
    """Where the dashboard's JSON is committed."""
    return DASHBOARD_DIR / dashboard.file


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards, or with ``--check`` report those whose committed JSON differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for dashboard in DASHBOARDS:
        path = path_of(dashboard)
        text = render(dashboard)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent.parent)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python deploy/grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
