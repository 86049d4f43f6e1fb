"""Triage decisions published on ``hypercare.issues.triaged``."""

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from hypercare_contracts.common import Contract, Instant, Int32, Key, ScoreItem, Severity, Source
from hypercare_contracts.normalized import ReportAction


class Decision(StrEnum):
    """What happened to an issue."""

    CREATED = "created"
    UPDATED = "updated"
    RAISED = "raised"
    REOPENED = "reopened"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"
    RELEASED = "released"
    """A suppressed issue still active when its maintenance window or silence ended."""


class IssueStatus(StrEnum):
    """Lifecycle state of an issue."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class MergeRule(StrEnum):
    """Which grouping rule attached a report to its issue."""

    NEW = "new"
    FINGERPRINT = "fingerprint"
    SOURCE_ITEM = "source_item"
    SIMILARITY = "similarity"


class Impact(Contract):
    """Impact 0-100 and its parts."""

    score: float = Field(ge=0, le=100)
    reach: float = Field(ge=0, le=100)
    financial: float = Field(ge=0, le=100)
    reputational: float = Field(ge=0, le=100)


class ReportSummary(Contract):
    """A representative (already redacted) report shown in notifications."""

    event_id: str
    source: Source
    title: str
    text: str = Field(default="", max_length=500)


class Route(Contract):
    """The owning team and how it is reached."""

    name: Key
    team: Key
    escalation_policy: Key
    channels: list[str]


class TriagedIssue(Contract):
    """One decision about one issue, with the explanation a lead can read."""

    schema_version: Literal[1] = 1
    decision_id: Key = Field(description="Unique per (issue, version); the notifier's idempotency anchor.")
    decision: Decision
    issue_id: Key
    version: Int32 = Field(ge=1)
    title: str
    component: Key
    environment: Key
    status: IssueStatus
    severity: Severity
    previous_severity: Severity | None = None
    impact: Impact
    breakdown: list[ScoreItem]
    route: Route
    occurrences: int = Field(ge=1)
    distinct_reporters: int = Field(ge=0)
    flap_count: int = Field(default=0, ge=0)
    merged_by: MergeRule
    sources: list[Source]
    first_seen: Instant
    last_seen: Instant
    decided_at: AwareDatetime
    notify: bool = Field(
        description="Whether this decision should reach people (not suppressed, not a flap)."
    )
    suppressed_by: str | None = None
    samples: list[ReportSummary] = Field(default_factory=list)
    event_id: str | None = Field(default=None, description="The report that caused this decision, if any.")
    source_action: ReportAction | None = Field(
        default=None,
        description="What the source itself said, when it acted on the issue: acknowledge, resolve, pending, resumed.",
    )
    trace_id: str | None = None
