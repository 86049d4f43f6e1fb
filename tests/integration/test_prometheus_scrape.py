"""Debian's Prometheus scraping the real services: a normalized report shows up as a queryable series."""

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.factories.raw import make_feedback
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"


def free_port() -> int:
    """A port the kernel just handed out on the loopback (closed again for the child to bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def child(args: list[str], *, env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process writing to ``log``, terminated (then killed) when the block ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def answers(url: str, proc: subprocess.Popen[bytes], log: Path) -> Callable[[], Any]:
    """A predicate for :func:`wait_for`: ``url`` answers 200; fails at once if the process exited."""

    async def check() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(url)).status_code == 200
        except httpx.TransportError:
            return False

    return check


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@pytest.fixture
async def services(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, tmp_path: Path
) -> AsyncIterator[dict[str, Any]]:
    """The normalizer and the gateway as ``python -m`` processes on their own topics and free ports."""
    names = await kafka.topics("tickets", "feedback", "social", "alerts", "normalized", "deadletter")
    common = {
        "HYPERCARE_KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap,
        "HYPERCARE_LOG_JSON": "true",
        "HYPERCARE_RAW_TICKETS_TOPIC": names["tickets"],
        "HYPERCARE_RAW_FEEDBACK_TOPIC": names["feedback"],
        "HYPERCARE_RAW_SOCIAL_TOPIC": names["social"],
        "HYPERCARE_RAW_ALERTS_TOPIC": names["alerts"],
    }
    ports = {"normalizer": free_port(), "gateway": free_port()}
    extra = {
        "normalizer": {
            "HYPERCARE_GROUP_ID": group_id,
            "HYPERCARE_NORMALIZED_TOPIC": names["normalized"],
            "HYPERCARE_DEADLETTER_TOPIC": names["deadletter"],
        },
        "gateway": {},
    }
    with (
        child(
            [sys.executable, "-m", "hypercare_normalizer"],
            env={**common, **extra["normalizer"], "HYPERCARE_HTTP_PORT": str(ports["normalizer"])},
            log=tmp_path / "normalizer.log",
        ) as normalizer,
        child(
            [sys.executable, "-m", "hypercare_gateway"],
            env={**common, "HYPERCARE_HTTP_PORT": str(ports["gateway"])},
            log=tmp_path / "gateway.log",
        ) as gateway,
    ):
        for name, proc in (("normalizer", normalizer), ("gateway", gateway)):
            url = f"http://127.0.0.1:{ports[name]}/healthz"
            await wait_for(answers(url, proc, tmp_path / f"{name}.log"), timeout=60, what=f"{name} /healthz")
        yield {"ports": ports, "topics": names}


@pytest.fixture
async def prometheus(services: dict[str, Any], tmp_path: Path) -> AsyncIterator[str]:
    """Debian's Prometheus scraping both services every second, with the shipped rules; yields its URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: apt-get install prometheus (make install does)")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES / "recording.yml"), str(RULES / "alerts.yml")],
        "scrape_configs": [
            {"job_name": f"hypercare-{name}", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for name, port in services["ports"].items()
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "prometheus.log"
    with child(args, env={}, log=log) as proc:
        await wait_for(answers(f"{url}/-/ready", proc, log), timeout=60, what="prometheus ready")
        yield url


async def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The result vector of an instant query."""
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{url}/api/v1/query", params={"query": promql})
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def test_a_normalized_report_is_scraped_into_prometheus(
    services: dict[str, Any], prometheus: str, kafka: KafkaTestKit
) -> None:
    up = await wait_for(lambda: _both_up(prometheus), timeout=30, what="both services up in Prometheus")
    assert up == {"hypercare-gateway", "hypercare-normalizer"}

    await kafka.send(services["topics"]["feedback"], make_feedback(rating=1))

    async def feedback_counted() -> list[dict[str, Any]]:
        return [
            s
            for s in await query(prometheus, "hypercare_reports_total")
            if s["metric"].get("source") == "feedback" and float(s["value"][1]) >= 1
        ]

    series = await wait_for(
        feedback_counted, timeout=60, interval=0.5, what="hypercare_reports_total in Prometheus"
    )
    assert series[0]["metric"]["job"] == "hypercare-normalizer"
    assert series[0]["metric"]["format"] == "feedback"

    consumed = await wait_for(
        lambda: query(prometheus, 'hypercare:messages_consumed:rate5m{service="normalizer"}'),
        timeout=30,
        interval=0.5,
        what="the recording rule over the scraped counter",
    )
    assert consumed[0]["metric"]["topic"] == services["topics"]["feedback"]


async def _both_up(url: str) -> set[str] | None:
    result = await query(url, 'up{job=~"hypercare-.+"} == 1')
    jobs = {s["metric"]["job"] for s in result}
    return jobs if len(jobs) == 2 else None
