"""The "Pipeline health" dashboard: throughput, latency, lag and dead letters, notification delivery."""

from deploy.grafana.model import Dashboard, Panel, Row, q

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
                Panel(
                    "Triage batches done again",
                    (
                        q("rate(hypercare_triage_stale_reads_total[5m])", "conflict with another writer"),
                        q(
                            "sum by (why) (rate(hypercare_triage_overlap_redone_total[5m]))",
                            "overlapped, beneath {{why}}",
                        ),
                    ),
                    unit="ops",
                    description="Batches read and triaged again after a conflict, or (overlapped) because "
                    "the batch beneath them was triaged again or failed; a steady rate means wasted work.",
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
