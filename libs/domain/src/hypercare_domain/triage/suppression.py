"""Suppression (``suppression.yaml``): maintenance windows, recurring windows and silences.

A suppressed issue is still stored, merged and scored; only its notifications are held back, and the
triage service releases it (a RELEASED decision) if it is still open when the suppression ends.
"""

from datetime import UTC, datetime, time, timedelta
from math import ceil
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hypercare_contracts import Source
from pydantic import AwareDatetime, Field, field_validator, model_validator

from hypercare_domain.policy import PolicyModel
from hypercare_domain.triage.memo import PolicyMemo
from hypercare_domain.triage.text import name_matches

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK_MINUTES = 7 * 24 * 60


class Matcher(PolicyModel):
    """Which issues a window or silence covers; an empty list or map matches anything."""

    components: list[str] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    environments: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when the matcher has no condition and so matches every issue."""
        return not (self.components or self.sources or self.environments or self.labels)

    def matches(self, component: str, source: Source, labels: dict[str, str], environment: str) -> bool:
        """Whether an issue with these attributes is covered."""
        if self.components and not any(name_matches(component, pattern) for pattern in self.components):
            return False
        if self.sources and source not in self.sources:
            return False
        if self.environments and environment not in self.environments:
            return False
        return all(labels.get(key) == value for key, value in self.labels.items())


class MaintenanceWindow(PolicyModel):
    """A one-off window, ``start`` inclusive, ``end`` exclusive."""

    name: str = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime
    match: Matcher = Field(default_factory=Matcher)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"maintenance window {self.name}: end must be after start")
        return self

    def active(self, at: datetime) -> bool:
        """Whether the window is open at ``at``."""
        return self.start <= at < self.end


class RecurringWindow(PolicyModel):
    """A window that repeats on given weekdays at a wall-clock time in a time zone."""

    name: str = Field(min_length=1)
    weekdays: list[Weekday] = Field(min_length=1)
    start: time
    duration_minutes: int = Field(ge=1, le=_WEEK_MINUTES)
    timezone: str
    match: Matcher = Field(default_factory=Matcher)

    @field_validator("start", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        if isinstance(value, int):
            # YAML 1.1 reads an unquoted 10:00 as the number 600.
            raise ValueError("write the start time quoted, such as '10:00'")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    def active(self, at: datetime) -> bool:
        """Whether an occurrence of the window covers ``at``.

        Each occurrence starts at the local wall-clock time of its day (so it follows daylight saving
        time) and lasts ``duration_minutes`` of real time.
        """
        zone = ZoneInfo(self.timezone)
        local_day = at.astimezone(zone).date()
        for days_back in range(ceil(self.duration_minutes / (24 * 60)) + 1):
            day = local_day - timedelta(days=days_back)
            if _WEEKDAYS[day.weekday()] not in self.weekdays:
                continue
            begins = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
            if begins <= at < begins + timedelta(minutes=self.duration_minutes):
                return True
        return False


class Silence(PolicyModel):
    """A named matcher that holds back notifications until it expires (or forever)."""

    name: str = Field(min_length=1)
    match: Matcher
    starts_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    comment: str = ""

    @model_validator(mode="after")
    def _narrow(self) -> Self:
        if self.match.is_empty:
            raise ValueError(f"silence {self.name}: an empty matcher would silence everything")
        if self.starts_at and self.expires_at and self.expires_at <= self.starts_at:
            raise ValueError(f"silence {self.name}: expires_at must be after starts_at")
        return self

    def active(self, at: datetime) -> bool:
        """Whether the silence applies at ``at``."""
        if self.starts_at is not None and at < self.starts_at:
            return False
        return self.expires_at is None or at < self.expires_at


class SuppressionPolicy(PolicyModel):
    """The whole of ``suppression.yaml``."""

    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)
    recurring_windows: list[RecurringWindow] = Field(default_factory=list)
    silences: list[Silence] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [item.name for item in self.in_order()]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"window and silence names must be unique, repeated: {duplicates}")
        return self

    def in_order(self) -> list[MaintenanceWindow | RecurringWindow | Silence]:
        """Every window and silence, in the order they are checked."""
        return [*self.maintenance_windows, *self.recurring_windows, *self.silences]


def active_suppression(  # noqa: PLR0917 - the positional signature the triage service was promised
    component: str,
    source: Source,
    labels: dict[str, str],
    environment: str,
    at: datetime,
    policy: SuppressionPolicy,
) -> str | None:
    """The name of the first window or silence covering an issue at ``at``, if any.

    Maintenance windows are checked first, then recurring windows, then silences, each in file order.

    Args:
        component: the issue's component.
        source: the source of the issue's first report.
        labels: the issue's labels.
        environment: the issue's environment.
        at: the instant to check (timezone-aware).
        policy: the loaded ``suppression.yaml``.
    """
    if at.tzinfo is None:
        raise ValueError("active_suppression needs a timezone-aware instant")
    for item in _covering(policy, component, source, labels, environment):
        if item.active(at):
            return item.name
    return None


_Item = MaintenanceWindow | RecurringWindow | Silence
_covered: PolicyMemo[tuple[object, ...], tuple[_Item, ...]] = PolicyMemo()
_tested_labels: PolicyMemo[None, tuple[str, ...]] = PolicyMemo(size=1)
"""The names of the labels the matchers of each policy test."""


def _covering(
    policy: SuppressionPolicy, component: str, source: Source, labels: dict[str, str], environment: str
) -> tuple[_Item, ...]:
    """The windows and silences whose matchers cover the issue, in the order they are checked.

    Every report asks, with the same few components, labels and environments: the answer is remembered,
    keyed on the values of only the labels some matcher tests (issues carry many others; a missing
    label is None, which no matcher's value equals either).
    """
    names = _tested_labels.get(
        policy,
        None,
        lambda: tuple(sorted({name for item in policy.in_order() for name in item.match.labels})),
    )
    key = (component, source, environment, tuple(map(labels.get, names)))
    return _covered.get(
        policy,
        key,
        lambda: tuple(
            item for item in policy.in_order() if item.match.matches(component, source, labels, environment)
        ),
    )
