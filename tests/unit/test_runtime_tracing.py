"""The ingestion time carried from the raw message onwards."""

import time

import pytest
from hypercare_contracts.topics import HEADER_INGESTED_AT, HEADER_TRACE_ID
from hypercare_runtime.tracing import header_map, ingested_at_of, trace_id_of

KAFKA_MS = 1_714_644_000_000  # 2024-05-02T10:00:00Z


def test_the_header_wins_over_the_record_timestamp() -> None:
    headers = {HEADER_INGESTED_AT: "1714644001.250000"}
    assert ingested_at_of(headers, kafka_timestamp_ms=KAFKA_MS) == 1714644001.25


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-62135596800", "1e20", "7258118400", "soon", ""])
def test_a_header_no_contract_would_take_as_an_instant_gives_way_to_the_record_timestamp(value: str) -> None:
    # Before 1970, from 2200 or not a number: reports stamped with it would be refused downstream.
    assert ingested_at_of({HEADER_INGESTED_AT: value}, kafka_timestamp_ms=KAFKA_MS) == KAFKA_MS / 1000


@pytest.mark.parametrize("kafka_ms", [None, -1, 0, 10**16])
def test_without_a_usable_header_or_record_timestamp_it_is_now(kafka_ms: int | None) -> None:
    before = time.time()
    stamp = ingested_at_of({}, kafka_timestamp_ms=kafka_ms)
    assert before <= stamp <= time.time()


def test_a_header_without_a_value_is_empty_text() -> None:
    assert header_map([("x-empty", None), ("x-bin", b"caf\xe9"), ("x", b"1")]) == {
        "x-empty": "",
        "x-bin": "caf\ufffd",
        "x": "1",
    }


@pytest.mark.parametrize("value", ["ab\x00cd", "with space", "", "caf\ufffd", "é"])
def test_a_trace_id_header_that_is_not_one_gives_way_to_the_records_position(value: str) -> None:
    derived = trace_id_of({HEADER_TRACE_ID: value}, topic="t", partition=1, offset=7)

    assert derived == trace_id_of({}, topic="t", partition=1, offset=7)
    assert len(derived) == 32


def test_a_trace_id_header_is_kept_to_its_first_64_characters() -> None:
    assert trace_id_of({HEADER_TRACE_ID: "a" * 80}, topic="t", partition=0, offset=0) == "a" * 64
    assert trace_id_of({HEADER_TRACE_ID: "req-1:x/y"}, topic="t", partition=0, offset=0) == "req-1:x/y"
