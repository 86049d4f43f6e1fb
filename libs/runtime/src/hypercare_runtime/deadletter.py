"""Building dead-letter records and their Kafka headers."""

import base64
from datetime import datetime

from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.deadletter import ORIGINAL_MAX_BYTES
from hypercare_contracts.topics import HEADER_DEADLETTER_REASON


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
) -> DeadLetter:
    """A dead-letter record keeping the original bytes (bounded), where they came from and why they failed."""
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
        key=key.decode("utf-8", errors="replace") if key is not None else None,
        error_class=error_class,
        reason=reason[:2000],
        original=original,
        original_encoding=encoding,
        original_size=len(raw),
        truncated=len(raw) > len(kept),
        failed_at=failed_at,
        trace_id=trace_id,
    )


def dead_letter_headers(record: DeadLetter) -> dict[str, str]:
    """Headers that let a consumer filter dead letters without parsing them."""
    return {
        HEADER_DEADLETTER_REASON: record.error_class.value,
        "hypercare-service": record.service,
        "hypercare-source-topic": record.source_topic,
    }
