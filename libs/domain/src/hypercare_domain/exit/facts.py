"""What the exit evaluation reads: counts gathered from the issue store at one instant."""

from typing import Annotated, Self

from hypercare_contracts.common import Severity
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Count = Annotated[int, Field(ge=0)]


class ExitFacts(BaseModel):
    """Counts about the launch at ``as_of``; daily series are oldest first, the last item the latest day.

    A "day" is a 24-hour bucket ending at ``as_of`` (the last bucket is the last 24 hours), so a partly
    elapsed calendar day never looks like a drop in volume.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: AwareDatetime
    open_issues: dict[Severity, int] = Field(default_factory=dict)
    """Opened, unresolved, unsuppressed issues by severity (missing severities mean zero)."""
    sla_breached: Count
    sla_met: Count
    daily_reports: tuple[int, ...]
    """New problem reports (action ``report``) per day, all sources."""
    daily_feedback: tuple[int, ...]
    """Reports per day from the feedback sources of the policy."""
    daily_negative: tuple[int, ...]
    """Of those, the ones rated at most the policy's negative rating."""
    firing_critical_alerts: Count

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        series = (self.daily_reports, self.daily_feedback, self.daily_negative)
        if len({len(s) for s in series}) != 1:
            raise ValueError("daily_reports, daily_feedback and daily_negative must have the same length")
        if any(v < 0 for s in series for v in s) or any(v < 0 for v in self.open_issues.values()):
            raise ValueError("counts must not be negative")
        if any(n > f for n, f in zip(self.daily_negative, self.daily_feedback, strict=True)):
            raise ValueError("daily_negative cannot exceed daily_feedback")
        return self
