"""The Grafana dashboards: generated, provisioned, and querying only metrics the services really export.

Exported names are discovered by instantiating every service's metrics class, FastStream's Kafka Prometheus
middleware and the exit-readiness collector on fresh registries; a panel naming anything else fails.
"""

import importlib.util
import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from hypercare_domain.exit import ExitFacts, ExitPolicy, ExitVerdict, evaluate_exit
from hypercare_gateway.metrics import GatewayMetrics
from hypercare_normalizer.metrics import NormalizerMetrics
from hypercare_notifier.metrics import NotifierMetrics
from hypercare_sla.metrics import SlaMetrics
from hypercare_store.exit_metrics import ExitReadinessCollector
from hypercare_triage.metrics import TriageMetrics
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
RECORDING = ROOT / "deploy" / "prometheus" / "rules" / "recording.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "rules" / "alerts.yml"
SERVICE_METRICS = (GatewayMetrics, NormalizerMetrics, TriageMetrics, SlaMetrics, NotifierMetrics)
PROMETHEUS_SYNTHETIC = frozenset({"up"})
"""Series Prometheus itself writes for every target."""

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "unknown": ("",),
}


def _sample_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry's metrics can expose, whether or not a labelled child exists yet."""
    return {family.name + suffix for family in registry.collect() for suffix in _SUFFIXES[family.type]}


@cache
def exported_metrics() -> frozenset[str]:
    """The sample names the five services, FastStream's middleware and the exit collector export."""
    names: set[str] = set()
    for metrics_class in SERVICE_METRICS:
        registry = CollectorRegistry()
        metrics_class(registry)
        names |= _sample_names(registry)
    registry = CollectorRegistry()
    KafkaPrometheusMiddleware(registry=registry, app_name="any", metrics_prefix="hypercare_kafka")
    names |= _sample_names(registry)
    registry = CollectorRegistry()
    ExitReadinessCollector(registry).update(_a_verdict())
    names |= _sample_names(registry)
    return frozenset(names)


def _a_verdict() -> ExitVerdict:
    days = (0,) * 7
    facts = ExitFacts(
        as_of=datetime(2026, 5, 20, 12, 0, tzinfo=UTC),
        daily_reports=days,
        daily_feedback=days,
        daily_negative=days,
        sla_breached=0,
        sla_met=0,
        firing_critical_alerts=0,
    )
    return evaluate_exit(facts, ExitPolicy())


# ------------------------------------------------------------------ PromQL metric names

_FUNCTIONS_OR_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords or labels."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("{}", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub("[]", text)
    names = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in _FUNCTIONS_OR_KEYWORDS or name.lower() in {"inf", "nan"}:
            continue
        names.add(name)
    return names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("hypercare_reports_total", {"hypercare_reports_total"}),
        (
            'sum by (source) (rate(hypercare_reports_total{format="x", source=~"a|b"}[5m]))',
            {"hypercare_reports_total"},
        ),
        ('up{job=~"hypercare-.+"} == 0', {"up"}),
        ("histogram_quantile(0.95, sum by (stage, le) (rate(x_bucket[5m])))", {"x_bucket"}),
        ("a:b:rate5m > 1000 and deriv(a:b:rate5m[10m]) > 0", {"a:b:rate5m"}),
        ("sum(rate(a[1h])) / on (target) group_left (kind) (sum(b) > 0)", {"a", "b"}),
        ("topk(10, sum by (route) (g)) offset 5m", {"g"}),
        ("max(x) or vector(0) unless y", {"x", "y"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)")', {"m"}),
        ("1e3 * m + Inf", {"m"}),
    ],
)
def test_metric_names_are_parsed_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# ------------------------------------------------------------------ the generated dashboards


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hypercare_grafana_generate", GRAFANA / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def _targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def _recorded() -> dict[str, str]:
    rules = yaml.safe_load(RECORDING.read_text())
    return {r["record"]: r["expr"] for group in rules["groups"] for r in group["rules"]}


def test_committed_json_equals_the_generator_output() -> None:
    generator = _generator()
    committed = _dashboards()
    generated = {generator.path_of(d).name: generator.render(d) for d in generator.DASHBOARDS}
    assert sorted(committed) == sorted(generated) == ["hypercare-overview.json", "pipeline-health.json"]
    for name, text in generated.items():
        assert (GRAFANA / "dashboards" / name).read_text() == text, f"{name}: run deploy/grafana/generate.py"


def test_dashboards_have_their_titles_and_unique_uids() -> None:
    dashboards = _dashboards()
    assert dashboards["hypercare-overview.json"]["title"] == "Hypercare overview"
    assert dashboards["pipeline-health.json"]["title"] == "Pipeline health"
    assert len({d["uid"] for d in dashboards.values()}) == 2


def test_recording_rules_use_only_exported_metrics() -> None:
    unknown = {
        record: metric_names(expr) - exported_metrics() - PROMETHEUS_SYNTHETIC
        for record, expr in _recorded().items()
    }
    assert {k: v for k, v in unknown.items() if v} == {}


def test_alerts_use_only_exported_or_recorded_metrics() -> None:
    allowed = exported_metrics() | PROMETHEUS_SYNTHETIC | set(_recorded())
    rules = yaml.safe_load(ALERTS.read_text())
    unknown = {
        r["alert"]: metric_names(r["expr"]) - allowed for group in rules["groups"] for r in group["rules"]
    }
    assert {k: v for k, v in unknown.items() if v} == {}


@pytest.mark.parametrize("name", ["hypercare-overview.json", "pipeline-health.json"])
def test_every_panel_queries_only_metrics_someone_exports(name: str) -> None:
    allowed = exported_metrics() | PROMETHEUS_SYNTHETIC | set(_recorded())
    targets = _targets(_dashboards()[name])
    assert targets
    unknown = [(title, expr, metric_names(expr) - allowed) for title, expr in targets]
    assert [u for u in unknown if u[2]] == []
    assert all(metric_names(expr) for _, expr in targets), "a target selects no metric"


def test_the_check_catches_a_metric_nobody_exports() -> None:
    allowed = exported_metrics() | PROMETHEUS_SYNTHETIC | set(_recorded())
    assert metric_names("sum by (component) (hypercare_issues_open_by_component)") - allowed == {
        "hypercare_issues_open_by_component"
    }
    assert {
        "hypercare_reports_total",
        "hypercare_issues_open",
        "hypercare_kafka_received_messages_total",
    } <= allowed


@pytest.mark.parametrize(
    "metric",
    [
        "hypercare_issues_open",
        "hypercare_sla_events_total",
        "hypercare_reports_total",
        "hypercare_exit_ready",
        "hypercare_exit_criterion_met",
        "hypercare_end_to_end_latency_seconds_bucket",
        "hypercare_consumer_lag_messages",
        "hypercare_dead_letters_total",
        "hypercare_notifications_total",
    ],
)
def test_the_dashboards_cover_what_a_lead_asks_for(metric: str) -> None:
    recorded = _recorded()
    queried: set[str] = set()
    for dashboard in _dashboards().values():
        for _, expr in _targets(dashboard):
            for name in metric_names(expr):
                queried |= {name} | metric_names(recorded.get(name, ""))
    assert metric in queried


def test_panels_reference_the_provisioned_datasource_and_do_not_overlap() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    for name, dashboard in _dashboards().items():
        cells: set[tuple[int, int]] = set()
        for panel in dashboard["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == uid, (name, panel["title"])
                assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (name, panel["title"])
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & area, (name, panel["title"])
            cells |= area


def test_dashboard_provisioning_points_where_compose_mounts_the_dashboards() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "hypercare.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in mounts
