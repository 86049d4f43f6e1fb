"""``hypercare dead-letters``: which dead letters a command selects, and what a redrive sends."""

from datetime import UTC, datetime, timedelta

import pytest
from hypercare_cli.dead_letters import (
    HEADER_REDRIVEN_FROM,
    Found,
    Resend,
    Selection,
    parse_record,
    redrive_plan,
    resend_of,
    summary,
)
from hypercare_cli.main import build_parser
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.topics import HEADER_INGESTED_AT, HEADER_MESSAGE_KIND, HEADER_TRACE_ID
from hypercare_runtime.deadletter import dead_letter

AT = datetime(2026, 6, 4, 12, 0, tzinfo=UTC)


def _letter(**overrides: object) -> DeadLetter:
    fields: dict[str, object] = {
        "service": "triage",
        "raw": b'{"event_id": "e-1"}',
        "error_class": ErrorClass.PROCESSING_ERROR,
        "reason": "refused",
        "topic": "hypercare.issues.normalized",
        "partition": 1,
        "offset": 7,
        "key": b"checkout:fp",
        "failed_at": AT,
        "trace_id": "trace-1",
        "headers": {HEADER_TRACE_ID: "trace-1", HEADER_INGESTED_AT: "1780000000.5"},
    }
    fields.update(overrides)
    return dead_letter(**fields)  # type: ignore[arg-type]


def test_a_redrive_sends_the_original_bytes_key_and_headers_back_to_their_topic() -> None:
    resend = resend_of(_letter(), origin="hypercare.deadletter/0/3")

    assert resend == Resend(
        topic="hypercare.issues.normalized",
        value=b'{"event_id": "e-1"}',
        key=b"checkout:fp",
        headers=[(HEADER_TRACE_ID, b"trace-1"), (HEADER_REDRIVEN_FROM, b"hypercare.deadletter/0/3")],
    ), "without the first ingestion time: latency is measured from the redrive"


def test_bytes_that_were_not_text_are_sent_back_as_they_were() -> None:
    raw = b"\xff\xfe not utf-8 \x00"
    letter = _letter(raw=raw, headers={HEADER_MESSAGE_KIND: "event"})
    assert letter.original_encoding == "base64"

    resend = resend_of(letter, origin="dl/0/0")

    assert isinstance(resend, Resend)
    assert resend.value == raw
    assert dict(resend.headers)[HEADER_MESSAGE_KIND] == b"event", "the kind a lifecycle consumer needs"


def test_a_dead_letter_written_before_headers_were_kept_gets_its_trace_id_back() -> None:
    letter = DeadLetter.model_validate(_letter().model_dump() | {"original_headers": {}})

    resend = resend_of(letter, origin="dl/0/0")

    assert isinstance(resend, Resend)
    assert dict(resend.headers) == {HEADER_TRACE_ID: b"trace-1", HEADER_REDRIVEN_FROM: b"dl/0/0"}


def test_a_redriven_message_dead_lettered_again_names_only_its_latest_dead_letter() -> None:
    letter = _letter(headers={HEADER_REDRIVEN_FROM: "dl/0/1"})

    resend = resend_of(letter, origin="dl/0/9")

    assert isinstance(resend, Resend)
    assert [value for name, value in resend.headers if name == HEADER_REDRIVEN_FROM] == [b"dl/0/9"]


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"raw": b"x" * (64 * 1024 + 1)}, "kept only in part"),
        ({"error_class": ErrorClass.DELIVERY_FAILED}, "a channel refused for good"),
    ],
    ids=["truncated", "delivery failed"],
)
def test_what_cannot_be_sent_again_says_why(overrides: dict[str, object], why: str) -> None:
    outcome = resend_of(_letter(**overrides), origin="dl/0/0")

    assert isinstance(outcome, str)
    assert why in outcome


def test_a_selection_narrows_by_service_class_topic_and_time() -> None:
    letter = _letter()
    assert Selection().matches(letter)
    assert Selection(services=frozenset({"triage", "sla"})).matches(letter)
    assert not Selection(services=frozenset({"normalizer"})).matches(letter)
    assert not Selection(error_classes=frozenset({ErrorClass.SCHEMA_VIOLATION})).matches(letter)
    assert not Selection(source_topics=frozenset({"hypercare.raw.alerts"})).matches(letter)
    assert Selection(since=AT, until=AT + timedelta(seconds=1)).matches(letter), "since is inclusive"
    assert not Selection(until=AT).matches(letter), "until is exclusive"
    assert not Selection(since=AT + timedelta(microseconds=1)).matches(letter)


def test_the_plan_skips_what_is_not_selected_and_names_a_missing_source_topic() -> None:
    found = [
        Found(0, 0, _letter()),
        Found(0, 1, _letter(service="normalizer", topic="hypercare.raw.tickets")),
        Found(0, 2, _letter(topic="gone")),
        parse_record(1, 0, b'{"not": "a dead letter"}'),
    ]

    plan = redrive_plan(
        found,
        Selection(services=frozenset({"triage"})),
        topics={"hypercare.issues.normalized"},
        dead_letter_topic="dl",
    )

    assert [(item.at, isinstance(outcome, Resend)) for item, outcome in plan] == [
        ("0:0", True),
        ("0:2", False),
    ]
    assert plan[1][1] == "its source topic 'gone' does not exist"
    assert found[3].letter is None
    assert "not a dead letter" in found[3].problem


def test_the_summary_counts_by_service_and_class() -> None:
    found = [Found(0, 0, _letter()), Found(0, 1, _letter()), parse_record(0, 2, b"[]")]

    assert summary(found, total=5) == "3 of 5 dead letters: not a dead letter 1, triage/processing_error 2"


def test_the_command_line_refuses_an_instant_without_a_time_zone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["dead-letters", "list", "--since", "2026-06-04T12:00"])
    assert "has no time zone" in capsys.readouterr().err
