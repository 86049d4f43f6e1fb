"""Shared building blocks of the message contracts."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

KEY_MAX = 256
"""Characters of an identifier (event, decision and issue ids, source item keys, references,
fingerprints, components, environments). The services index them in PostgreSQL, whose B-tree entries
hold at most 2,704 bytes: a longer one would make the write of its message fail, however often the
message was delivered again."""

Key = Annotated[str, Field(max_length=KEY_MAX)]

INT32_MAX = 2**31 - 1
"""The largest value of PostgreSQL's ``integer``, the type of the versions and steps the services store."""
Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]

COUNT_MAX = 10**12
"""The largest count a report may carry (followers, engagement, users affected): a trillion, far above
any real one, and far below where scoring's logarithms of it would overflow a float."""
Count = Annotated[int, Field(ge=0, le=COUNT_MAX)]

INSTANT_MIN = datetime(1970, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(2200, 1, 1, tzinfo=UTC)
Instant = Annotated[AwareDatetime, Field(ge=INSTANT_MIN, lt=INSTANT_MAX)]
"""An instant the services compute with (rate windows, deadlines, pauses): within [1970, 2200), far from
the ends of Python's dates (years 1 and 9999), where adding or taking away a window overflows."""


class Contract(BaseModel):
    """Base of every message: immutable, unknown fields rejected, versioned, numbers finite.

    A JSON number too large for a float (``1e400``) parses as infinity, which JSON cannot write back:
    an issue holding it would be stored with ``null`` there and fail to load ever after.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Severity(StrEnum):
    """Triage severity, most to least urgent."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """3 for critical down to 0 for low, so severities compare numerically."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.CRITICAL: 3, Severity.HIGH: 2, Severity.MEDIUM: 1, Severity.LOW: 0}


class Source(StrEnum):
    """The four channels trouble arrives through."""

    TICKETS = "tickets"
    FEEDBACK = "feedback"
    SOCIAL = "social"
    ALERTS = "alerts"


class SourceFormat(StrEnum):
    """Concrete payload shape a report was parsed from."""

    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    PAGERDUTY = "pagerduty"
    ZENDESK = "zendesk"
    GENERIC_TICKET = "generic_ticket"
    FEEDBACK = "feedback"
    SOCIAL = "social"


UtcDatetime = AwareDatetime
"""Timestamps on the wire are always timezone-aware."""

Score = Annotated[float, Field(ge=0, le=100)]


class ScoreItem(Contract):
    """One line of an explainable score: which rule, how much, and why."""

    rule: str
    contribution: float
    reason: str


def utc_now_iso(dt: datetime) -> str:
    """ISO 8601 text for an aware datetime (helper for headers and logs)."""
    return dt.isoformat()
