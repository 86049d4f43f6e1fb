"""The normalized report: one problem report in one schema, whatever its source."""

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from hypercare_contracts.common import Contract, Count, Instant, Key, Source, SourceFormat

TITLE_MAX = 200
TEXT_MAX = 4000

Tier = Literal["free", "pro", "enterprise"]


class ReportAction(StrEnum):
    """What a report asks of its issue.

    ``report`` is a new problem report; ``update`` changes what is known of a source item already seen
    (a Zendesk priority change); ``acknowledge``/``resolve`` come from the source itself (a PagerDuty
    acknowledge, a resolved Alertmanager alert, a solved ticket); ``pending``/``resumed`` say the source
    waits on the customer or stopped waiting (SLA clocks pause and resume).
    """

    REPORT = "report"
    UPDATE = "update"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    PENDING = "pending"
    RESUMED = "resumed"


class ReporterKind(StrEnum):
    """Who or what reported."""

    CUSTOMER = "customer"
    USER = "user"
    SOCIAL_ACCOUNT = "social_account"
    MONITOR = "monitor"


class Reporter(Contract):
    """The reporter, with the attributes scoring uses; identifiers are pseudonymous, never e-mails."""

    id: str | None = None
    kind: ReporterKind
    tier: Tier | None = None
    followers: Count | None = None
    verified: bool = False


class Signals(Contract):
    """Source-specific signals scoring uses, all optional."""

    rating: int | None = Field(default=None, ge=1, le=5)
    source_priority: Literal["low", "normal", "high", "urgent"] | None = None
    alert_severity: str | None = None
    status: str | None = None
    category: str | None = None
    engagement: Count | None = None
    users_affected: Count | None = None
    revenue_at_risk: float | None = Field(default=None, ge=0)


class Link(Contract):
    """A link a person can follow (runbook, dashboard, ticket, post)."""

    href: str
    text: str = ""


class NormalizedReport(Contract):
    """One problem report, redacted and normalized, keyed by ``fingerprint`` on the wire."""

    schema_version: Literal[1] = 1
    event_id: Key = Field(description="Stable id from source, format and the source's own id.")
    source: Source
    source_format: SourceFormat
    source_ref: Key = Field(description="The source item's own key: ticket id, dedup key, alert fingerprint.")
    action: ReportAction = ReportAction.REPORT
    received_at: Instant
    occurred_at: AwareDatetime
    title: str = Field(max_length=TITLE_MAX)
    text: str = Field(default="", max_length=TEXT_MAX)
    component: Key
    environment: Key = "production"
    reporter: Reporter
    signals: Signals = Field(default_factory=Signals)
    language: str | None = None
    sentiment: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="VADER compound score of title and text, -1 (very negative) to 1; none for monitors.",
    )
    links: list[Link] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    fingerprint: Key
    references: dict[Key, Key] = Field(
        default_factory=dict,
        description="Source-side identifiers kept for reference: alertmanager_fingerprint, dedup_key.",
    )
    trace_id: str
