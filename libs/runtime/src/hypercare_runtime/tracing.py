"""Trace id and ingestion time carried in Kafka headers from the raw message onwards."""

import hashlib
import re
import time
from collections.abc import Mapping, Sequence

from hypercare_contracts.common import INSTANT_MAX, INSTANT_MIN
from hypercare_contracts.topics import HEADER_INGESTED_AT, HEADER_TRACE_ID


def header_map(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Kafka's list of (name, bytes) headers as a dict of text values (last one wins; a header without a
    value, which Kafka allows, is the empty text)."""
    return {name: (value or b"").decode("utf-8", errors="replace") for name, value in headers or ()}


_TRACE_ID = re.compile(r"[!-~]{1,64}")
"""What a trace id taken from a header may be: 1-64 visible ASCII characters (no space, no control
character such as NUL, which PostgreSQL refuses in text)."""


def trace_id_of(headers: Mapping[str, str], *, topic: str, partition: int, offset: int) -> str:
    """The trace id from the headers (its first 64 characters), or, when there is none or it is not one
    (:data:`_TRACE_ID`), one derived from the message's position (stable on replay)."""
    existing = headers.get(HEADER_TRACE_ID, "")[:64]
    if _TRACE_ID.fullmatch(existing):
        return existing
    return hashlib.sha256(f"{topic}/{partition}/{offset}".encode()).hexdigest()[:32]


_EARLIEST, _LATEST = INSTANT_MIN.timestamp(), INSTANT_MAX.timestamp()


def ingested_at_of(headers: Mapping[str, str], *, kafka_timestamp_ms: int | None) -> float:
    """Unix time the raw message entered Kafka: the header when set, else the record timestamp, else now.

    A value the contracts would not take as an instant (:data:`~hypercare_contracts.common.Instant`:
    before 1970, from 2200, not a number) is passed over: the reports stamped with it would be refused.
    """
    value = headers.get(HEADER_INGESTED_AT)
    if value:
        try:
            stamp = float(value)
        except ValueError:
            pass
        else:
            if _EARLIEST < stamp < _LATEST:  # also false for NaN
                return stamp
    if kafka_timestamp_ms is not None and _EARLIEST < kafka_timestamp_ms / 1000.0 < _LATEST:
        return kafka_timestamp_ms / 1000.0
    return time.time()


def propagate(trace_id: str, ingested_at: float) -> dict[str, str]:
    """Headers to put on every message derived from a raw message."""
    return {HEADER_TRACE_ID: trace_id, HEADER_INGESTED_AT: f"{ingested_at:.6f}"}
