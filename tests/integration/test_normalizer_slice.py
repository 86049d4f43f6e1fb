"""The normalizer on the real broker: raw topics in, normalized reports and dead letters out."""

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hypercare_contracts import DeadLetter, ErrorClass, NormalizedReport, ReportAction
from hypercare_contracts.topics import HEADER_TRACE_ID
from hypercare_normalizer.app import create_app
from hypercare_normalizer.settings import NormalizerSettings

from tests.factories.raw import (
    make_alertmanager,
    make_am_alert,
    make_feedback,
    make_generic_ticket,
    make_grafana,
    make_pagerduty,
    make_social,
    make_zendesk,
)
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit
from tests.support.services import running

pytestmark = pytest.mark.integration

LOGICAL = ("tickets", "feedback", "social", "alerts", "normalized", "deadletter")


async def _normalizer(kafka: KafkaTestKit, endpoints: Endpoints, group_id: str) -> tuple[Any, dict[str, str]]:
    names = await kafka.topics(*LOGICAL)
    settings = NormalizerSettings(
        kafka_bootstrap=endpoints.kafka_bootstrap,
        group_id=group_id,
        raw_tickets_topic=names["tickets"],
        raw_feedback_topic=names["feedback"],
        raw_social_topic=names["social"],
        raw_alerts_topic=names["alerts"],
        normalized_topic=names["normalized"],
        deadletter_topic=names["deadletter"],
        max_message_bytes=64 * 1024,
    )
    return create_app(settings), names


async def test_alertmanager_message_yields_one_report_per_alert(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str
) -> None:
    app, names = await _normalizer(kafka, endpoints, group_id)
    message = make_alertmanager(
        alerts=[
            make_am_alert(
                labels={"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical"}
            ),
            make_am_alert(
                status="resolved",
                labels={"alertname": "LoginLatency", "service": "login", "severity": "warning"},
                fingerprint="b2c3",
            ),
        ]
    )
    async with running(app):
        await kafka.send(names["alerts"], message, headers={HEADER_TRACE_ID: "trace-42"})
        out = await kafka.collect([names["normalized"]], count=2, timeout=30, settle=1.0)

    assert len(out) == 2
    by_component = {r.component: (m, r) for m in out for r in [NormalizedReport.model_validate_json(m.value)]}
    checkout_msg, checkout = by_component["checkout"]
    login_msg, login = by_component["login"]
    assert checkout.action is ReportAction.REPORT
    assert login.action is ReportAction.RESOLVE
    assert checkout.signals.alert_severity == "critical"
    assert checkout_msg.key == checkout.fingerprint.encode()
    assert checkout_msg.headers[HEADER_TRACE_ID] == "trace-42"
    assert checkout.trace_id == "trace-42"
    assert login_msg.key == login.fingerprint.encode()


SHAPES: list[tuple[str, str, dict[str, Any]]] = [
    ("alerts", "alertmanager", make_alertmanager()),
    ("alerts", "grafana", make_grafana()),
    ("alerts", "pagerduty", make_pagerduty()),
    ("tickets", "zendesk", make_zendesk()),
    ("tickets", "generic_ticket", make_generic_ticket()),
    ("feedback", "feedback", make_feedback()),
    ("social", "social", make_social()),
]


async def test_every_payload_shape_is_normalized(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str
) -> None:
    app, names = await _normalizer(kafka, endpoints, group_id)
    async with running(app):
        for topic, _, payload in SHAPES:
            await kafka.send(names[topic], payload)
        out = await kafka.collect([names["normalized"]], count=len(SHAPES), timeout=30, settle=1.0)
        dead = await kafka.collect([names["deadletter"]], count=0, timeout=0.5)

    formats = sorted(NormalizedReport.model_validate_json(m.value).source_format.value for m in out)
    assert formats == sorted(fmt for _, fmt, _ in SHAPES)
    assert dead == []


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


BAD_INPUTS: list[tuple[str, bytes, ErrorClass]] = [
    ("alerts", b"{not json", ErrorClass.INVALID_JSON),
    ("alerts", b"[1, 2, 3]", ErrorClass.NOT_AN_OBJECT),
    ("feedback", b'"just a string"', ErrorClass.NOT_AN_OBJECT),
    (
        "feedback",
        json.dumps({k: v for k, v in make_feedback().items() if k != "text"}).encode(),
        ErrorClass.SCHEMA_VIOLATION,
    ),
    ("feedback", json.dumps(make_feedback(rating="five")).encode(), ErrorClass.SCHEMA_VIOLATION),
    ("feedback", json.dumps(make_feedback(rating=9)).encode(), ErrorClass.SCHEMA_VIOLATION),
    ("alerts", json.dumps({"hello": "world"}).encode(), ErrorClass.UNKNOWN_FORMAT),
    ("alerts", json.dumps(make_alertmanager(version="3")).encode(), ErrorClass.UNSUPPORTED_VERSION),
    ("social", b'{"text": "' + b"x" * (70 * 1024) + b'"}', ErrorClass.OVERSIZE),
    (
        "tickets",
        json.dumps(make_generic_ticket(subject="bad\u0000subject")).encode(),
        ErrorClass.CONTROL_CHARACTERS,
    ),
    ("tickets", _deep(10_000), ErrorClass.TOO_DEEP),
    ("social", b"\xff\xfe\x00bad utf-8", ErrorClass.INVALID_ENCODING),
    ("social", b"", ErrorClass.INVALID_JSON),
    # Half a UTF-16 pair parses, but no output made from it can be written as UTF-8: before, the batch's
    # publish failed on every delivery.
    ("feedback", json.dumps(make_feedback(extra="\ud800")).encode(), ErrorClass.INVALID_ENCODING),
    ("feedback", json.dumps(make_feedback()).encode()[:-1] + b', "weight": 1e400}', ErrorClass.INVALID_JSON),
]


async def test_bad_input_goes_to_the_dead_letter_topic_and_nothing_is_lost(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str
) -> None:
    app, names = await _normalizer(kafka, endpoints, group_id)
    good_before = [("alerts", make_alertmanager()), ("feedback", make_feedback(id="fb-before"))]
    good_after = [("social", make_social(id="post-after")), ("tickets", make_generic_ticket(id="T-after"))]
    async with running(app):
        for topic, payload in good_before:
            await kafka.send(names[topic], payload)
        for topic, raw, _ in BAD_INPUTS:
            await kafka.send(names[topic], raw, key=b"k1")
        for topic, payload in good_after:
            await kafka.send(names[topic], payload)
        expected_out = 4  # one report per good message (the default Alertmanager message holds one alert)
        dead = await kafka.collect([names["deadletter"]], count=len(BAD_INPUTS), timeout=30, settle=1.0)
        out = await kafka.collect([names["normalized"]], count=expected_out, timeout=30, settle=1.0)

    records = [DeadLetter.model_validate_json(m.value) for m in dead]
    assert len(out) == expected_out, "the consumer kept consuming after the bad inputs"
    assert len(records) == len(BAD_INPUTS)
    assert sorted(r.error_class.value for r in records) == sorted(e.value for _, _, e in BAD_INPUTS)
    for record in records:
        assert record.service == "normalizer"
        assert record.source_topic in names.values()
        assert record.offset is not None
        assert record.partition is not None
        assert record.reason
        assert record.key == "k1"
    oversize = next(r for r in records if r.error_class is ErrorClass.OVERSIZE)
    assert oversize.original_size > 70 * 1024
    assert oversize.truncated
    binary = next(
        r
        for r in records
        if r.error_class is ErrorClass.INVALID_ENCODING and r.source_topic == names["social"]
    )
    assert binary.original_encoding == "base64"
    # in = out + dead: every input message is accounted for.
    assert len(good_before) + len(good_after) + len(BAD_INPUTS) == len(out) + len(records)


async def test_headers_without_a_value_or_with_an_unusable_trace_id_lose_nothing(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str
) -> None:
    # A header without a value is allowed by Kafka, and a header value need not be UTF-8; FastStream's
    # parsing of either failed the batch before the handler ran, and the next batch committed past it:
    # its messages were lost without a trace. A trace id holding NUL was copied into the report, which
    # PostgreSQL then refused downstream.
    app, names = await _normalizer(kafka, endpoints, group_id)
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        async with running(app):
            await producer.send_and_wait(
                names["feedback"],
                json.dumps(make_feedback(id="fb-odd-headers")).encode(),
                headers=[("x-empty", None), (HEADER_TRACE_ID, b"ab\x00cd")],
            )
            await producer.send_and_wait(
                names["feedback"],
                json.dumps(make_feedback(id="fb-latin1-header")).encode(),
                headers=[("x-source", b"caf\xe9")],  # not UTF-8
            )
            await kafka.send(names["feedback"], make_feedback(id="fb-after"))
            out = await kafka.collect([names["normalized"]], count=3, timeout=30, settle=1.0)
    finally:
        await producer.stop()

    reports = {NormalizedReport.model_validate_json(m.value).event_id: m for m in out}
    assert set(reports) == {"feedback:fb-odd-headers", "feedback:fb-latin1-header", "feedback:fb-after"}
    odd = reports["feedback:fb-odd-headers"]
    trace_id = NormalizedReport.model_validate_json(odd.value).trace_id
    assert re.fullmatch("[0-9a-f]{32}", trace_id), "derived from the record's position instead"
    assert odd.headers[HEADER_TRACE_ID] == trace_id


async def test_kcat_publishing_each_shape_yields_reports(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, tmp_path: Path
) -> None:
    app, names = await _normalizer(kafka, endpoints, group_id)
    async with running(app):
        for topic, _, payload in SHAPES:
            file = tmp_path / "payload.json"
            file.write_text(json.dumps(payload))
            proc = await asyncio.create_subprocess_exec(
                "kcat", "-P", "-b", endpoints.kafka_bootstrap, "-t", names[topic], "-l", str(file)
            )
            assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
        out = await kafka.collect([names["normalized"]], count=len(SHAPES), timeout=30, settle=1.0)
    assert sorted(NormalizedReport.model_validate_json(m.value).source_format.value for m in out) == sorted(
        fmt for _, fmt, _ in SHAPES
    )
