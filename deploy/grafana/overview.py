"""The "Hypercare overview" dashboard: exit readiness, open issues, SLA status and incoming reports."""

from deploy.grafana.model import Dashboard, Panel, Row, q

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
