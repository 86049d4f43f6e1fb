"""Building dead-letter records and their Kafka headers, and telling which messages would fail however
often they were delivered (a string PostgreSQL cannot store, a defect raised on them)."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.deadletter import ORIGINAL_MAX_BYTES
from hypercare_contracts.topics import HEADER_DEADLETTER_REASON

from hypercare_runtime.tracing import header_map

if TYPE_CHECKING:  # an annotation only: kafka imports unreadable, which imports this module
    from hypercare_runtime.kafka import RawRecord


def dead_letter(
    *,
    service: str,
    raw: bytes,
    error_class: ErrorClass,
    reason: str,
    topic: str,
    partition: int | None,
    offset: int | None,
    key: bytes | None,
    failed_at: datetime,
    trace_id: str | None,
    headers: Mapping[str, str] | None = None,
) -> DeadLetter:
    """A dead-letter record keeping the original bytes and headers (bounded), where they came from and why
    they failed."""
    kept = raw[:ORIGINAL_MAX_BYTES]
    try:
        original, encoding = kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        original, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    if encoding == "utf-8" and "\x00" in original:
        # PostgreSQL and many viewers refuse NUL in text; keep the exact bytes instead.
        original, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    return DeadLetter(
        service=service,
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=key[:KEY_KEPT_BYTES].decode("utf-8", errors="replace") if key is not None else None,
        error_class=error_class,
        reason=_writable(reason[:2000]),
        original=original,
        original_encoding=encoding,
        original_size=len(raw),
        truncated=len(raw) > len(kept),
        failed_at=failed_at,
        trace_id=trace_id,
        original_headers=kept_headers(headers or {}),
    )


KEY_KEPT_BYTES = 1024
"""Bytes of the original key a dead letter keeps: a key of hundreds of kilobytes would make the dead
letter too large for Kafka, and the dead-lettering fail on every delivery."""


def _writable(text: str) -> str:
    """``text`` with any lone surrogate (a JSON escape such as ``\\ud800`` that names no character)
    written out as its escape, so that the dead letter can be encoded as UTF-8."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


HEADERS_MAX = 32
HEADER_NAME_MAX = 256
HEADER_VALUE_MAX = 1024


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a dead letter keeps: the first :data:`HEADERS_MAX` whose name and value fit, so that
    a producer's oversized headers cannot make the dead letter too large to publish."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if len(kept) == HEADERS_MAX:
            break
        if len(name) <= HEADER_NAME_MAX and len(value) <= HEADER_VALUE_MAX:
            kept[name] = value
    return kept


def record_dead_letter(
    record: RawRecord,
    *,
    service: str,
    error_class: ErrorClass,
    reason: str,
    trace_id: str | None,
    failed_at: datetime | None = None,
) -> DeadLetter:
    """:func:`dead_letter` of a consumed record: its bytes, topic, partition, offset and key."""
    return dead_letter(
        service=service,
        raw=record.value or b"",
        error_class=error_class,
        reason=reason,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        failed_at=failed_at or datetime.now(UTC),
        trace_id=trace_id,
        headers=header_map(record.headers),
    )


def dead_letter_headers(record: DeadLetter) -> dict[str, str]:
    """Headers that let a consumer filter dead letters without parsing them."""
    return {
        HEADER_DEADLETTER_REASON: record.error_class.value,
        "hypercare-service": record.service,
        "hypercare-source-topic": record.source_topic,
    }


_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
"""A ``\\u0000`` escape that is not itself escaped: the only way a JSON text holds U+0000."""

NUL_REASON = "a string holds U+0000 (NUL), which PostgreSQL cannot store; remove it where the message is made"
"""The dead-letter reason of a message :func:`holds_nul` is true of (error class ``control_characters``)."""


def holds_nul(raw: bytes) -> bool:
    """Whether a string in the JSON text ``raw`` holds U+0000.

    Such a message can be valid for its contract, yet PostgreSQL's text and JSONB refuse it: a consumer
    that stores it fails to, and, fetching it again, fails for good (and so do the messages of its
    batch). Consumers that store what they read dead-letter it instead. Costs a byte search when the
    text has no ``\\u0000`` at all (nearly always).
    """
    return b"\\u0000" in raw and _NUL_ESCAPE.search(raw) is not None


_DEFECTS = (
    ArithmeticError,
    AssertionError,
    AttributeError,
    LookupError,
    TypeError,
    ValueError,  # pydantic's ValidationError too
    asyncpg.DataError,  # SQLSTATE class 22: a value PostgreSQL refuses
    asyncpg.IntegrityConstraintViolationError,  # 23
    asyncpg.ProgramLimitExceededError,  # 54: an index entry too large, say
)


def is_defect(exc: BaseException) -> bool:
    """Whether handling a message raised what it would raise again however often it was delivered: a
    defect of the code, or a value PostgreSQL refuses. Such a message goes to the dead-letter topic
    (``processing_error``); redelivering it would hold up its partition for good. Anything else (a
    connection, a timeout, a database restarting, Kafka) is the service's surroundings failing, and the
    message is delivered again."""
    return isinstance(exc, _DEFECTS)


def defect_reason(service: str, exc: BaseException) -> str:
    """The dead-letter reason of a message ``service`` failed on by a defect (``processing_error``)."""
    return f"{service} failed on this message, a defect to report: {type(exc).__name__}: {exc}"
