"""Generate the Grafana dashboards in ``dashboards/`` from the panel lists below.

    uv run python deploy/grafana/generate.py          # rewrite the JSON files
    uv run python deploy/grafana/generate.py --check  # exit 1 when a committed file differs

No maintained dashboard SDK is a project dependency, so this small generator writes Grafana's dashboard
JSON (schema 39) itself; tests/unit/test_grafana_dashboards.py checks the committed files equal its output
and that every query names only metrics the services export.
"""

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "hypercare-prometheus"}
HERE = Path(__file__).resolve().parent
DASHBOARD_DIR = HERE / "dashboards"
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


READY_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "NOT READY", "color": "red", "index": 0},
            "1": {"text": "READY", "color": "green", "index": 1},
        },
    }
]
MET_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "✗", "color": "red", "index": 0},
            "1": {"text": "✓", "color": "green", "index": 1},
        },
    }
]
SEVERITY_COLORS = {"critical": "dark-red", "high": "orange", "medium": "yellow", "low": "blue"}

OVERVIEW = Dashboard(
    uid="hypercare-overview",
    file="hypercare-overview.json",
    title="Hypercare overview",
    description="Where the launch stands: exit readiness, open issues, SLA status and incoming reports.",
    tags=("hypercare",),
    rows=(
        Row(
            "Exit readiness",
            (
                Panel(
                    "Exit ready",
                    (q("max(hypercare_exit_ready)", instant=True),),
                    kind="stat",
                    width=6,
                    description="Every exit criterion met (hypercare exit-report for details).",
                    field_config={"mappings": READY_MAPPING},
                ),
                Panel(
                    "Exit criteria",
                    (q("max by (criterion) (hypercare_exit_criterion_met)", "{{criterion}}", instant=True),),
                    kind="stat",
                    width=18,
                    field_config={"mappings": MET_MAPPING},
                    options={"textMode": "value_and_name"},
                ),
                Panel(
                    "Exit criterion values",
                    (
                        q("max by (criterion) (hypercare_exit_criterion_value)", "{{criterion}} value"),
                        q(
                            "max by (criterion) (hypercare_exit_criterion_threshold)",
                            "{{criterion}} threshold",
                        ),
                    ),
                    width=24,
                    description="Counts, the SLA breach ratio, and daily slopes (falling below 0).",
                ),
            ),
        ),
        Row(
            "Open issues",
            (
                Panel(
                    "Open issues by severity",
                    (q("sum by (severity) (hypercare_issues_open)", "{{severity}}", instant=True),),
                    kind="bargauge",
                    width=8,
                    field_config={
                        "overrides": [
                            {
                                "matcher": {"id": "byName", "options": name},
                                "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": c}}],
                            }
                            for name, c in SEVERITY_COLORS.items()
                        ]
                    },
                ),
                Panel(
                    "Open issues by severity over time",
                    (q("sum by (severity) (hypercare_issues_open)", "{{severity}}"),),
                    width=16,
                ),
                Panel(
                    "Top components by reports (last hour)",
                    (
                        q(
                            "topk(10, sum by (component) (increase(hypercare_reports_total[1h])))",
                            "{{component}}",
                            instant=True,
                        ),
                    ),
                    kind="bargauge",
                    width=12,
                    description="Components from the policy's component map; 'unknown' when nothing matched.",
                ),
                Panel(
                    "Top routes by open issues",
                    (q("topk(10, sum by (route) (hypercare_issues_open))", "{{route}}", instant=True),),
                    kind="bargauge",
                    width=12,
                ),
                Panel(
                    "Triage decisions",
                    (q("sum by (decision) (rate(hypercare_triage_decisions_total[5m]))", "{{decision}}"),),
                    unit="ops",
                    width=12,
                ),
            ),
        ),
        Row(
            "SLA",
            (
                Panel(
                    "SLA breach ratio (1h)",
                    (q("hypercare:sla_breach_ratio:rate1h", "{{target}}"),),
                    unit="percentunit",
                    width=8,
                    description="Breached / (breached + met) SLA clocks over the last hour.",
                ),
                Panel(
                    "SLA events",
                    (q("sum by (kind) (increase(hypercare_sla_events_total[1h]))", "{{kind}}"),),
                    width=8,
                ),
                Panel(
                    "Time to acknowledge p95",
                    (
                        q(
                            "histogram_quantile(0.95, sum by (severity, le) "
                            "(rate(hypercare_time_to_acknowledge_seconds_bucket[1h])))",
                            "{{severity}}",
                        ),
                    ),
                    unit="s",
                    width=8,
                ),
            ),
        ),
        Row(
            "Reports",
            (
                Panel(
                    "Reports by source",
                    (q("sum by (source) (rate(hypercare_reports_total[5m]))", "{{source}}"),),
                    unit="ops",
                    width=16,
                ),
                Panel(
                    "Reports in the last 24 hours",
                    (
                        q(
                            "sum by (source) (increase(hypercare_reports_total[24h]))",
                            "{{source}}",
                            instant=True,
                        ),
                    ),
                    kind="bargauge",
                    width=8,
                ),
            ),
        ),
    ),
)

PIPELINE = Dashboard(
    uid="hypercare-pipeline-health",
    file="pipeline-health.json",
    title="Pipeline health",
    description="Throughput, latency, lag and dead letters of every stage, and notification delivery.",
    tags=("hypercare",),
    rows=(
        Row(
            "Services",
            (
                Panel(
                    "Services up",
                    (q('up{job=~"hypercare-.+"}', "{{job}}", instant=True),),
                    kind="stat",
                    width=24,
                    height=4,
                    field_config={
                        "mappings": [
                            {
                                "type": "value",
                                "options": {
                                    "0": {"text": "DOWN", "color": "red", "index": 0},
                                    "1": {"text": "UP", "color": "green", "index": 1},
                                },
                            }
                        ]
                    },
                    options={"textMode": "value_and_name"},
                ),
            ),
        ),
        Row(
            "Throughput",
            (
                Panel(
                    "Consumed by topic",
                    (q("hypercare:messages_consumed:rate5m", "{{service}} ← {{topic}}"),),
                    unit="ops",
                ),
                Panel(
                    "Produced by topic",
                    (q("hypercare:messages_produced:rate5m", "{{service}} → {{topic}}"),),
                    unit="ops",
                ),
                Panel(
                    "Handler outcomes (FastStream)",
                    (
                        q(
                            "sum by (app_name, status) "
                            "(rate(hypercare_kafka_received_processed_messages_total[5m]))",
                            "{{app_name}} {{status}}",
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Handler exceptions (FastStream)",
                    (
                        q(
                            "sum by (app_name, exception_type) "
                            "(rate(hypercare_kafka_received_processed_messages_exceptions_total[5m]))",
                            "{{app_name}} {{exception_type}}",
                        ),
                    ),
                    unit="ops",
                ),
            ),
        ),
        Row(
            "Latency",
            (
                Panel(
                    "End-to-end latency by stage",
                    (
                        q("hypercare:end_to_end_latency_seconds:p95_5m", "p95 {{stage}}"),
                        q("hypercare:end_to_end_latency_seconds:p99_5m", "p99 {{stage}}"),
                    ),
                    unit="s",
                    description="From the raw message entering Kafka to each stage's output.",
                ),
                Panel(
                    "Batch duration p95 by stage",
                    (
                        q(
                            "histogram_quantile(0.95, sum by (service, stage, le) "
                            "(rate(hypercare_stage_duration_seconds_bucket[5m])))",
                            "{{service}} {{stage}}",
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "Gateway requests",
                    (
                        q(
                            "sum by (endpoint, status) (rate(hypercare_gateway_requests_total[5m]))",
                            "{{endpoint}} {{status}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Gateway request duration p95",
                    (
                        q(
                            "histogram_quantile(0.95, sum by (endpoint, le) "
                            "(rate(hypercare_gateway_request_duration_seconds_bucket[5m])))",
                            "{{endpoint}}",
                        ),
                    ),
                    unit="s",
                ),
            ),
        ),
        Row(
            "Lag and dead letters",
            (
                Panel(
                    "Consumer lag",
                    (q("hypercare:consumer_lag_messages:sum", "{{service}} {{topic}}"),),
                ),
                Panel(
                    "Dead letters",
                    (q("hypercare:dead_letters:rate5m", "{{service}} {{reason}}"),),
                    unit="ops",
                ),
            ),
        ),
        Row(
            "Notifier",
            (
                Panel(
                    "Notifications by channel and outcome",
                    (
                        q(
                            "sum by (channel, outcome) (rate(hypercare_notifications_total[5m]))",
                            "{{channel}} {{outcome}}",
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Delivery time p95",
                    (
                        q(
                            "histogram_quantile(0.95, sum by (channel, le) "
                            "(rate(hypercare_notification_delivery_seconds_bucket[5m])))",
                            "{{channel}}",
                        ),
                    ),
                    unit="s",
                ),
            ),
        ),
    ),
)

DASHBOARDS = (OVERVIEW, PIPELINE)


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
