"""Files a user runs without our code in the loop: docker-compose.yml, the Makefile, the Procfile."""

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_there_are_five_services() -> None:
    assert SERVICES == ["gateway", "normalizer", "notifier", "sla", "triage"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_compose_entry_built_from_the_dockerfile(service: str) -> None:
    entry = _compose()["services"][service]
    assert entry["image"] == "hypercare:local" or "build" in entry
    assert entry["command"] == ["python", "-m", f"hypercare_{service}"]
    assert "healthcheck" in entry
    assert entry["environment"]["HYPERCARE_KAFKA_BOOTSTRAP"]


def test_compose_has_the_infrastructure_with_health_checks() -> None:
    services = _compose()["services"]
    for name in ("kafka", "postgres", "redis", "prometheus", "grafana"):
        assert name in services, name
    assert services["kafka"]["image"].startswith("apache/kafka")
    for name in ("kafka", "postgres", "redis"):
        assert "healthcheck" in services[name], name


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_in_the_procfile(service: str) -> None:
    lines = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert f"python -m hypercare_{service}" in lines[service]


def test_every_service_module_is_runnable() -> None:
    for service in SERVICES:
        main = ROOT / "services" / service / "src" / f"hypercare_{service}" / "__main__.py"
        assert main.exists(), main


def test_make_help_lists_every_documented_target() -> None:
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for target in (
        "install",
        "stack-up",
        "stack-down",
        "stack-status",
        "up",
        "down",
        "run",
        "test",
        "lint",
        "typecheck",
        "fmt",
        "bench",
    ):
        assert f"  {target} " in out, target
