"""Delivery outcomes on ``hypercare.notifications``."""

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from hypercare_contracts.common import Contract


class DeliveryOutcome(StrEnum):
    """What happened to one notification on one channel."""

    SENT = "sent"
    RETRIED = "retried"
    FAILED = "failed"
    DIGESTED = "digested"


class NotificationRecord(Contract):
    """One delivery outcome; ``idempotency_key`` is per (issue, event, escalation step, channel)."""

    schema_version: Literal[1] = 1
    idempotency_key: str
    issue_id: str
    trigger_id: str = Field(description="The triage decision or SLA event that caused it.")
    channel: str
    route: str
    outcome: DeliveryOutcome
    attempt: int = Field(ge=1)
    at: AwareDatetime
    status_code: int | None = None
    error: str | None = None
    digest_count: int | None = Field(default=None, ge=0)
