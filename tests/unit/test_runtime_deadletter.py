"""Telling which messages would fail however often they were delivered: a valid JSON message that
PostgreSQL could not store (a string holding U+0000), and what handling one raised."""

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_runtime.deadletter import (
    HEADER_NAME_MAX,
    HEADER_VALUE_MAX,
    HEADERS_MAX,
    KEY_KEPT_BYTES,
    dead_letter,
    holds_nul,
    is_defect,
    record_dead_letter,
)


@pytest.mark.parametrize(
    "value",
    [
        {"title": "checkout\x00 fails"},
        {"labels": {"team\x00": "payments"}},  # keys are strings too
        {"links": [{"href": "https://x.test/\x00"}]},
        {"title": "a backslash, then a NUL: \\\x00"},
        {"title": "\x00"},
    ],
)
def test_a_string_holding_nul_is_found_wherever_it_is(value: object) -> None:
    assert holds_nul(json.dumps(value).encode())


@pytest.mark.parametrize(
    "value",
    [
        {"title": "checkout fails"},
        {"title": "the text \\u0000 written out"},  # a backslash and 'u0000': storable
        {"title": "two backslashes, then u0000: \\\\u0000"},
        {"count": 0, "ids": ["u0000", "0000"]},
    ],
)
def test_text_that_only_looks_like_an_escaped_nul_is_storable(value: object) -> None:
    assert not holds_nul(json.dumps(value).encode())


@pytest.mark.parametrize(
    "exc",
    [
        ZeroDivisionError("x"),
        KeyError("x"),
        ValueError("x"),
        OverflowError("date value out of range"),
        asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
        asyncpg.ProgramLimitExceededError("index row size 6016 exceeds btree version 4 maximum 2704"),
        asyncpg.UniqueViolationError("duplicate key"),
    ],
    ids=type,
)
def test_what_would_be_raised_again_on_every_delivery_is_a_defect(exc: Exception) -> None:
    assert is_defect(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError("x"),
        TimeoutError(),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.UndefinedTableError("relation does not exist"),  # not migrated yet: not the message's fault
        KafkaConnectionError(),
    ],
    ids=type,
)
def test_what_the_surroundings_raise_is_delivered_again(exc: Exception) -> None:
    assert not is_defect(exc)


def test_a_dead_letter_keeps_the_headers_that_fit_and_leaves_out_the_rest() -> None:
    record = SimpleNamespace(
        topic="hypercare.issues.lifecycle",
        partition=2,
        offset=9,
        key=b"iss-1",
        value=b"{}",
        headers=[
            ("hypercare-message", b"event"),
            ("x-huge", b"v" * (HEADER_VALUE_MAX + 1)),
            ("n" * (HEADER_NAME_MAX + 1), b"long name"),
            *((f"x-{i}", str(i).encode()) for i in range(HEADERS_MAX)),
        ],
    )

    letter = record_dead_letter(
        record, service="triage", error_class=ErrorClass.SCHEMA_VIOLATION, reason="r", trace_id=None
    )

    assert letter.original_headers["hypercare-message"] == "event"
    assert len(letter.original_headers) == HEADERS_MAX
    assert "x-huge" not in letter.original_headers
    assert max(len(name) for name in letter.original_headers) <= HEADER_NAME_MAX
    assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter


def test_a_reason_holding_half_a_surrogate_pair_still_makes_a_dead_letter_kafka_can_carry() -> None:
    letter = dead_letter(
        service="normalizer",
        raw=b"{}",
        error_class=ErrorClass.UNKNOWN_FORMAT,
        reason="keys seen: \ud800",
        topic="t",
        partition=0,
        offset=1,
        key=b"k" * 300_000,
        failed_at=datetime(2026, 6, 4, tzinfo=UTC),
        trace_id=None,
    )

    encoded = letter.model_dump_json().encode()  # raised before: surrogates not allowed
    assert "\\ud800" in letter.reason
    assert letter.key == "k" * KEY_KEPT_BYTES, "a huge key would make the dead letter too large for Kafka"
    assert len(encoded) < 10_000
