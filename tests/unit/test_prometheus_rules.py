"""The Prometheus configuration, rules and their promtool unit tests, checked by Debian's ``promtool``.

Runs ``promtool`` as a subprocess on files only (no server), so it belongs to the unit tier.
"""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
SERVICE_PORTS = {"gateway": 8080, "sla": 8081, "normalizer": 9101, "triage": 9102, "notifier": 9104}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool (Debian's ``prometheus`` package, installed by ``make install``)."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (make install does)")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PROMETHEUS / name).read_text())
    return data


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.docker.yml"])
def test_config_is_valid(config: str) -> None:
    result = promtool("check", "config", str(PROMETHEUS / config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", *(str(p) for p in sorted((PROMETHEUS / "rules").glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    files = sorted((PROMETHEUS / "tests").glob("*.yml"))
    assert [f.name for f in files] == ["alerts_test.yml", "recording_test.yml"]
    result = promtool("test", "rules", *(str(f) for f in files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_a_wrong_expectation_fails_promtool(tmp_path: Path) -> None:
    broken = (
        (PROMETHEUS / "tests" / "alerts_test.yml")
        .read_text()
        .replace("severity: critical", "severity: minor")
    )
    target = PROMETHEUS / "tests" / "alerts_test.yml"
    copy = tmp_path / "tests" / target.name
    copy.parent.mkdir()
    copy.write_text(broken)
    (tmp_path / "rules").symlink_to(PROMETHEUS / "rules")
    result = promtool("test", "rules", str(copy))
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    alerts = {r["alert"] for g in _load("rules/alerts.yml")["groups"] for r in g["rules"]}
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _load("tests/alerts_test.yml")["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert alerts == {
        "HypercareServiceDown",
        "HypercareConsumerLagGrowing",
        "HypercareDeadLettersHigh",
        "HypercareProcessingErrors",
        "HypercareSlaBreachRateHigh",
        "HypercareNotificationsFailing",
        "HypercareNotifierLoopFailing",
        "HypercareNotExitReady",
    }
    assert alerts - firing == set()
    assert alerts - quiet == set()


def test_every_recording_rule_is_tested() -> None:
    records = {r["record"] for g in _load("rules/recording.yml")["groups"] for r in g["rules"]}
    tested = {
        check["expr"]
        for case in _load("tests/recording_test.yml")["tests"]
        for check in case["promql_expr_test"]
    }
    assert records - tested == set()


def test_every_alert_says_how_bad_and_what_happened() -> None:
    for group in _load("rules/alerts.yml")["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            assert rule["annotations"]["description"], rule["alert"]


@pytest.mark.parametrize(
    ("config", "host"),
    [("prometheus.yml", "127.0.0.1"), ("prometheus.docker.yml", None)],
)
def test_every_service_is_scraped_on_its_port(config: str, host: str | None) -> None:
    jobs = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in _load(config)["scrape_configs"]
    }
    assert jobs == {
        f"hypercare-{service}": [f"{host or service}:{port}"] for service, port in SERVICE_PORTS.items()
    }


def test_service_ports_match_compose() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service, port in SERVICE_PORTS.items():
        assert f"{port}:{port}" in compose["services"][service]["ports"], service
