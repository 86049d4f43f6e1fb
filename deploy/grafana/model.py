"""The dashboard model (queries, panels, rows) and the Grafana JSON (schema 39) it is written as.

generate.py turns the dashboards of overview.py and pipeline_health.py into ``dashboards/*.json`` with
``render``; the panel lists there are written with ``q`` and these dataclasses.
"""

import json
from dataclasses import dataclass, field
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "hypercare-prometheus"}
WIDTH = 24


@dataclass(frozen=True)
class Query:
    """One PromQL target and the legend of its series."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    """A panel: its kind (timeseries, stat, bargauge, table), queries, unit and width (of 24)."""

    title: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    field_config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """A titled row of panels, laid out left to right."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: uid, the JSON file it is committed as, title, tags and rows."""

    uid: str
    file: str
    title: str
    description: str
    tags: tuple[str, ...]
    rows: tuple[Row, ...]


def q(expr: str, legend: str = "", *, instant: bool = False) -> Query:
    """A query (short name keeps the panel lists readable)."""
    return Query(" ".join(expr.split()), legend, instant)


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = [
        {
            "datasource": DATASOURCE,
            "expr": query.expr,
            "legendFormat": query.legend or "__auto",
            "instant": query.instant,
            "range": not query.instant,
            "refId": chr(ord("A") + i),
        }
        for i, query in enumerate(panel.queries)
    ]
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                **{k: v for k, v in panel.field_config.items() if k != "overrides"},
            },
            "overrides": panel.field_config.get("overrides", []),
        },
        "options": panel.options,
        "targets": targets,
    }


def build(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard's JSON model, panels laid out row by row, left to right, wrapping at 24 columns."""
    panels: list[dict[str, Any]] = []
    panel_id = 0
    y = 0
    for row in dashboard.rows:
        panel_id += 1
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x = 0
        line_height = 0
        for panel in row.panels:
            if x + panel.width > WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panel_id += 1
            panels.append(_panel_json(panel, panel_id, x, y))
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "utc",
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def render(dashboard: Dashboard) -> str:
    """The dashboard as the text committed in ``dashboards/<uid>.json``."""
    return json.dumps(build(dashboard), indent=2, ensure_ascii=False) + "\n"
