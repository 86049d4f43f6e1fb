"""Exit-readiness thresholds: the shape of ``exit.yaml``."""

from pathlib import Path
from typing import Literal

from hypercare_contracts.common import Severity, Source
from pydantic import Field, field_validator

from hypercare_domain.policy import PolicyModel, default_policy_dir, load_policy_file

EXIT_FILE = "exit.yaml"

TrendTest = Literal["slope", "below_mean", "both", "either"]
"""How a daily series is judged falling: negative least-squares slope, last day below the window mean,
both of those, or either of them."""


class OpenIssuesRule(PolicyModel):
    """Open issues of these severities block the exit."""

    severities: tuple[Severity, ...] = (Severity.CRITICAL, Severity.HIGH)
    max_open: int = Field(default=0, ge=0)


class SlaRule(PolicyModel):
    """The share of SLA milestones breached (breached / (breached + met)) over a rolling window."""

    window_days: int = Field(default=7, ge=1, le=90)
    max_breach_rate: float = Field(default=0.05, ge=0, le=1)


class TrendRule(PolicyModel):
    """Report volume and the share of negative feedback must be falling over the last ``days`` days."""

    days: int = Field(default=7, ge=2, le=90)
    test: TrendTest = "both"
    quiet_max_daily: int = Field(default=0, ge=0)
    """A window in which no day has more reports than this counts as falling (nothing left to fall)."""


class NegativeFeedbackRule(PolicyModel):
    """Which reports are feedback, which of them are negative, and how much data a trend needs."""

    sources: tuple[Source, ...] = (Source.FEEDBACK, Source.SOCIAL, Source.TICKETS)
    rating_at_most: int = Field(default=2, ge=1, le=5)
    sentiment_at_most: float | None = Field(default=-0.3, ge=-1, le=1)
    """A report whose text scores at most this (VADER, ``NormalizedReport.sentiment``) is negative too,
    rated or not; ``None`` counts ratings only. In hundredths (-0.3, -0.25): the store counts reports by
    their sentiment rounded up to hundredths, which answers exactly for such a threshold."""
    min_days_with_feedback: int = Field(default=3, ge=2)

    @field_validator("sentiment_at_most")
    @classmethod
    def _in_hundredths(cls, value: float | None) -> float | None:
        if value is None:
            return None
        if abs(value * 100 - round(value * 100)) > 1e-9:
            raise ValueError(
                f"give the sentiment threshold in hundredths (such as -0.3 or -0.25), not {value}"
            )
        return round(value, 2)  # -0.300000000001 is -0.3, as the store compares it

    @field_validator("sources")
    @classmethod
    def _not_alerts(cls, value: tuple[Source, ...]) -> tuple[Source, ...]:
        if not value:
            raise ValueError("name at least one source")
        if Source.ALERTS in value:
            raise ValueError("alerts are not feedback; use the alerts rule")
        return value


class AlertsRule(PolicyModel):
    """Unresolved issues whose worst alert severity is one of these count as firing critical alerts."""

    critical_severities: tuple[str, ...] = ("critical", "page", "p1", "fatal")
    max_firing: int = Field(default=0, ge=0)

    @field_validator("critical_severities")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one alert severity")
        return tuple(v.strip().lower() for v in value)


class ExitPolicy(PolicyModel):
    """Every threshold the exit-readiness evaluation uses."""

    version: Literal[1] = 1
    open_issues: OpenIssuesRule = OpenIssuesRule()
    sla: SlaRule = SlaRule()
    trend: TrendRule = TrendRule()
    negative_feedback: NegativeFeedbackRule = NegativeFeedbackRule()
    alerts: AlertsRule = AlertsRule()


def load_exit_policy(policy_dir: Path | None = None) -> ExitPolicy:
    """Read and validate ``exit.yaml``.

    Args:
        policy_dir: the policy folder; the shipped ``deploy/policy`` when ``None``.

    Raises:
        PolicyError: the file is missing, not YAML, or invalid.
    """
    folder = policy_dir if policy_dir is not None else default_policy_dir()
    return load_policy_file(folder, EXIT_FILE, ExitPolicy)
