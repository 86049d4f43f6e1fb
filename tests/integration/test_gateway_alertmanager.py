"""A real Prometheus Alertmanager posting to the gateway, and the normalizer turning that into reports."""

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest
from hypercare_contracts import NormalizedReport, ReportAction, SourceFormat
from hypercare_contracts.topics import HEADER_TRACE_ID
from hypercare_gateway.settings import GatewaySettings
from hypercare_normalizer.app import create_app as create_normalizer
from hypercare_normalizer.settings import NormalizerSettings

from tests.support.environment import Endpoints
from tests.support.gateway import api_keys, served_gateway
from tests.support.kafka import KafkaTestKit, Received, wait_for
from tests.support.services import running

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).parent / "alertmanager" / "alertmanager.yml.tmpl"
TOKEN = "alertmanager-integration-token"
RECEIVER = "hypercare-gateway"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def alertmanager(workdir: Path, *, gateway_url: str, token: str) -> AsyncIterator[str]:
    """A real Alertmanager whose only receiver is the gateway; yields its base URL."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.fail("prometheus-alertmanager is not installed; run `make install`")
    config = workdir / "alertmanager.yml"
    config.write_text(Template(TEMPLATE.read_text()).substitute(gateway_url=gateway_url, token=token))
    base_url = f"http://127.0.0.1:{_free_port()}"
    log_path = workdir / "alertmanager.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={base_url.removeprefix('http://')}",
            "--cluster.listen-address=",
            "--log.level=debug",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:

                async def ready() -> bool:
                    assert process.returncode is None, f"alertmanager exited:\n{log_path.read_text()}"
                    try:
                        return (await client.get("/-/ready")).status_code == 200
                    except httpx.TransportError:
                        return False

                await wait_for(ready, timeout=30, what="Alertmanager to be ready")
            yield base_url
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), timeout=30)


async def collect_until(
    kafka: KafkaTestKit, topics: Iterable[str], found: Callable[[Received], bool], *, timeout: float = 60
) -> Received:
    """Read the topics until a message satisfies ``found``; fail at the deadline."""
    deadline = time.monotonic() + timeout
    count = 1
    while True:
        received = await kafka.collect(topics, count=count, timeout=max(0.5, deadline - time.monotonic()))
        matching = [m for m in received if found(m)]
        if matching:
            return matching[0]
        if time.monotonic() >= deadline:
            raise AssertionError(f"no matching message within {timeout}s; saw {[m.value for m in received]}")
        count = len(received) + 1


def am_alert(alertname: str, *, starts: datetime, ends: datetime | None = None) -> dict[str, Any]:
    """An alert as a Prometheus server posts it to Alertmanager's API."""
    alert: dict[str, Any] = {
        "labels": {"alertname": alertname, "severity": "critical", "service": "checkout-api"},
        "annotations": {
            "summary": "Checkout error rate above 5%",
            "runbook_url": "https://runbooks.example/c",
        },
        "startsAt": starts.isoformat(),
        "generatorURL": "http://prometheus.example/graph?g0.expr=checkout_errors",
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    return alert


def _is(alertname: str, status: str) -> Callable[[Received], bool]:
    def check(message: Received) -> bool:
        body = message.json()
        return body.get("status") == status and any(
            a["labels"].get("alertname") == alertname for a in body.get("alerts", [])
        )

    return check


async def test_alertmanager_firing_and_resolved_reach_the_raw_topic_and_become_reports(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, tmp_path: Path
) -> None:
    names = await kafka.topics(
        "alerts", "tickets", "feedback", "social", "normalized", "deadletter", partitions=1
    )
    gateway = GatewaySettings(
        kafka_bootstrap=endpoints.kafka_bootstrap,
        gateway_api_keys=api_keys({"alertmanager": (TOKEN, ("alerts",))}),
        raw_alerts_topic=names["alerts"],
    )
    normalizer = create_normalizer(
        NormalizerSettings(
            kafka_bootstrap=endpoints.kafka_bootstrap,
            group_id=group_id,
            raw_alerts_topic=names["alerts"],
            raw_tickets_topic=names["tickets"],
            raw_feedback_topic=names["feedback"],
            raw_social_topic=names["social"],
            normalized_topic=names["normalized"],
            deadletter_topic=names["deadletter"],
        )
    )
    alertname = f"GatewayCheckout{uuid.uuid4().hex[:8]}"
    started = datetime.now(UTC) - timedelta(minutes=1)
    async with (
        served_gateway(gateway) as gateway_url,
        running(normalizer),
        alertmanager(tmp_path, gateway_url=gateway_url, token=TOKEN) as am_url,
        httpx.AsyncClient(base_url=am_url, timeout=5) as am,
    ):
        posted = await am.post("/api/v2/alerts", json=[am_alert(alertname, starts=started)])
        assert posted.status_code == 200, posted.text
        firing = await collect_until(kafka, [names["alerts"]], _is(alertname, "firing"))

        ended = datetime.now(UTC) - timedelta(seconds=1)
        posted = await am.post("/api/v2/alerts", json=[am_alert(alertname, starts=started, ends=ended)])
        assert posted.status_code == 200, posted.text
        resolved = await collect_until(kafka, [names["alerts"]], _is(alertname, "resolved"))

        def report_for(message: Received, action: ReportAction) -> Callable[[Received], bool]:
            return lambda m: (
                NormalizedReport.model_validate_json(m.value).action is action
                and m.headers.get(HEADER_TRACE_ID) == message.headers[HEADER_TRACE_ID]
            )

        opened = await collect_until(kafka, [names["normalized"]], report_for(firing, ReportAction.REPORT))
        closed = await collect_until(kafka, [names["normalized"]], report_for(resolved, ReportAction.RESOLVE))

    body = firing.json()
    assert body["version"] == "4"
    assert body["receiver"] == RECEIVER
    assert body["alerts"][0]["labels"]["service"] == "checkout-api"
    assert firing.headers["hypercare-producer"] == "alertmanager"
    assert firing.key == body["groupKey"].encode()
    assert resolved.json()["alerts"][0]["status"] == "resolved"

    report = NormalizedReport.model_validate_json(opened.value)
    assert report.source_format is SourceFormat.ALERTMANAGER
    assert report.trace_id == firing.headers[HEADER_TRACE_ID]
    assert report.source_ref.endswith(body["alerts"][0]["fingerprint"])
    assert NormalizedReport.model_validate_json(closed.value).fingerprint == report.fingerprint
