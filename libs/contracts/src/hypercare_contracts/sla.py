"""SLA and escalation events on ``hypercare.sla.events``."""

from enum import StrEnum
from typing import Literal

from pydantic import Field

from hypercare_contracts.common import Contract, Instant, Int32, Key, Severity


class SlaTarget(StrEnum):
    """Which clock: time to acknowledge, or time to resolve."""

    RESPONSE = "response"
    RESOLUTION = "resolution"


class SlaEventKind(StrEnum):
    """What the clock says."""

    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"
    ESCALATION = "escalation"
    RENOTIFY = "renotify"


class SlaEvent(Contract):
    """An SLA milestone or escalation step for one issue; ``event_id`` is unique per milestone."""

    schema_version: Literal[1] = 1
    event_id: Key
    kind: SlaEventKind
    issue_id: Key
    severity: Severity
    route: Key
    target: SlaTarget | None = None
    due_at: Instant = Field(description="The exact instant the milestone falls due.")
    emitted_at: Instant
    business_elapsed_seconds: float = Field(ge=0)
    target_seconds: float | None = Field(default=None, ge=0)
    policy: str
    escalation_step: Int32 | None = None
    escalation_target: Key | None = None
    late: bool = Field(default=False, description="Emitted after its due time (e.g. after a restart).")
