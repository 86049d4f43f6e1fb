"""The gateway served over real HTTP, writing to the real broker; and ``python -m hypercare_gateway``."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypercare_contracts.topics import HEADER_INGESTED_AT, HEADER_TRACE_ID
from hypercare_gateway.auth import hash_token
from hypercare_gateway.settings import GatewaySettings

from tests.factories.raw import (
    make_alertmanager,
    make_feedback,
    make_generic_ticket,
    make_grafana,
    make_pagerduty,
    make_social,
    make_zendesk,
)
from tests.support.environment import Endpoints
from tests.support.gateway import api_keys, bearer, served_gateway
from tests.support.kafka import KafkaTestKit, wait_for

pytestmark = pytest.mark.integration

TOKEN = "integration-token"
SHAPES: list[tuple[str, Callable[..., dict[str, Any]], str]] = [
    ("/v1/alerts/alertmanager", make_alertmanager, "alerts"),
    ("/v1/alerts/grafana", make_grafana, "alerts"),
    ("/v1/alerts/pagerduty", make_pagerduty, "alerts"),
    ("/v1/tickets/zendesk", make_zendesk, "tickets"),
    ("/v1/tickets", make_generic_ticket, "tickets"),
    ("/v1/feedback", make_feedback, "feedback"),
    ("/v1/social", make_social, "social"),
]


async def test_every_shape_posted_over_http_lands_on_its_raw_topic(
    kafka: KafkaTestKit, endpoints: Endpoints
) -> None:
    names = await kafka.topics("alerts", "tickets", "feedback", "social", partitions=1)
    settings = GatewaySettings(
        kafka_bootstrap=endpoints.kafka_bootstrap,
        gateway_api_keys=api_keys({"ops": (TOKEN, ("alerts", "tickets", "feedback", "social"))}),
        raw_alerts_topic=names["alerts"],
        raw_tickets_topic=names["tickets"],
        raw_feedback_topic=names["feedback"],
        raw_social_topic=names["social"],
    )
    sent: dict[str, tuple[str, bytes]] = {}
    async with served_gateway(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        for path, factory, scope in SHAPES:
            body = json.dumps(factory()).encode()
            response = await client.post(
                path, content=body, headers={**bearer(TOKEN), "Content-Type": "application/json"}
            )
            assert response.status_code == 202, response.text
            sent[response.headers["X-Hypercare-Trace-Id"]] = (names[scope], body)
        unauthorized = await client.post("/v1/feedback", json=make_feedback())
        ready = await client.get("/readyz")

    received = await kafka.collect(names.values(), count=len(SHAPES), timeout=30, settle=0.5)
    assert unauthorized.status_code == 401
    assert ready.status_code == 200
    assert len(received) == len(SHAPES)
    for message in received:
        topic, body = sent[message.headers[HEADER_TRACE_ID]]
        assert (message.topic, message.value) == (topic, body)
        assert message.headers["hypercare-producer"] == "ops"
        assert float(message.headers[HEADER_INGESTED_AT]) > 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_python_m_hypercare_gateway_serves_with_settings_from_the_environment(
    kafka: KafkaTestKit, endpoints: Endpoints, tmp_path: Path
) -> None:
    names = await kafka.topics("feedback", partitions=1)
    port = _free_port()
    keys = {"widget": {"token_sha256": hash_token(TOKEN), "scopes": ["feedback"]}}
    env = {
        **os.environ,
        "HYPERCARE_KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap,
        "HYPERCARE_HTTP_PORT": str(port),
        "HYPERCARE_GATEWAY_API_KEYS": json.dumps(keys),
        "HYPERCARE_RAW_FEEDBACK_TOPIC": names["feedback"],
        "HYPERCARE_LOG_JSON": "true",
    }
    log_path = tmp_path / "gateway.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hypercare_gateway", env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:

                async def healthy() -> bool:
                    assert process.returncode is None, log_path.read_text()
                    try:
                        return (await client.get("/healthz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await wait_for(healthy, timeout=30, what="python -m hypercare_gateway to answer /healthz")
                accepted = await client.post("/v1/feedback", json=make_feedback(), headers=bearer(TOKEN))
                forbidden = await client.post("/v1/social", json=make_social(), headers=bearer(TOKEN))
        finally:
            process.terminate()
            exit_code = await asyncio.wait_for(process.wait(), timeout=30)

    assert accepted.status_code == 202, accepted.text
    assert forbidden.status_code == 403
    received = await kafka.collect([names["feedback"]], count=1, timeout=30)
    assert [m.headers["hypercare-producer"] for m in received] == ["widget"]
    assert received[0].json() == make_feedback()
    # uvicorn shuts down gracefully, then re-raises the signal it caught, as the default handler would.
    assert exit_code == -signal.SIGTERM
    events = [json.loads(line)["event"] for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert "gateway.start" in events
    assert "gateway.stop" in events
