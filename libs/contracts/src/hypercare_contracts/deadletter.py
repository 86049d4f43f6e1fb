"""The dead-letter record on ``hypercare.deadletter``: what failed, where, and why."""

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from hypercare_contracts.common import Contract

ORIGINAL_MAX_BYTES = 64 * 1024


class ErrorClass(StrEnum):
    """Why a message could not be processed; also the ``reason`` label of the dead-letter metric."""

    OVERSIZE = "oversize"
    INVALID_ENCODING = "invalid_encoding"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    TOO_DEEP = "too_deep"
    CONTROL_CHARACTERS = "control_characters"
    UNKNOWN_FORMAT = "unknown_format"
    UNSUPPORTED_VERSION = "unsupported_version"
    SCHEMA_VIOLATION = "schema_violation"
    UNKNOWN_TOPIC = "unknown_topic"
    DELIVERY_FAILED = "delivery_failed"
    PROCESSING_ERROR = "processing_error"
    UNKNOWN_ISSUE = "unknown_issue"
    """A command for an issue the service does not know: sent before its issue's first decision reached
    it, or naming no issue. Redriven once the issue exists, it applies."""


class DeadLetter(Contract):
    """One message that could not be processed, with enough to act on it and replay it."""

    schema_version: Literal[1] = 1
    service: str
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    error_class: ErrorClass
    reason: str = Field(description="What is wrong and what to do, for a person.")
    original: str = Field(description="The original bytes, bounded; utf-8 text or base64.")
    original_encoding: Literal["utf-8", "base64"] = "utf-8"
    original_size: int = Field(ge=0)
    truncated: bool = False
    failed_at: AwareDatetime
    trace_id: str | None = None
    original_headers: dict[str, str] = Field(
        default_factory=dict,
        description="The original message's Kafka headers as text (at most 32, each name up to 256 and"
        " value up to 1,024 characters; longer ones are left out), so that a redrive sends them again.",
    )
