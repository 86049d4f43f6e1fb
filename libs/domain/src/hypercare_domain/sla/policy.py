"""SLA and escalation policy: the shape of ``sla.yaml`` and ``escalation.yaml`` and the resolved objects.

The YAML models validate what operators write; :func:`build_sla_policy` turns them into a
:class:`SlaPolicy` of calendars and exact durations that the pure deadline functions use.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hypercare_contracts.common import Severity
from hypercare_contracts.sla import SlaTarget
from pydantic import Field, field_validator, model_validator

from hypercare_domain.policy import PolicyError, PolicyModel, default_policy_dir, load_policy_file
from hypercare_domain.sla.calendar import BusinessCalendar, CalendarError, Holiday, OpeningHours
from hypercare_domain.sla.durations import DurationError, parse_duration, parse_target_duration

SLA_FILE = "sla.yaml"
ESCALATION_FILE = "escalation.yaml"
ALWAYS = "always"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class PauseReason(StrEnum):
    """Why a clock may stand still."""

    WAITING_ON_CUSTOMER = "waiting_on_customer"
    """Lifecycle ``pause`` (e.g. a Zendesk ticket set to pending or on hold) until ``resume``."""
    SNOOZED = "snoozed"
    """The issue is snoozed, until its snooze time or an earlier acknowledge or resolve."""


# ---------------------------------------------------------------- sla.yaml


class HolidayModel(PolicyModel):
    """A closed date, with an optional name."""

    date: date
    name: str = ""


class CalendarModel(PolicyModel):
    """A calendar: ``always: true``, or a time zone with weekly ``hours`` and ``holidays``."""

    always: bool = False
    timezone: str = "UTC"
    hours: dict[Weekday, list[str]] = Field(default_factory=dict)
    holidays: list[HolidayModel | date] = Field(default_factory=list)
    business_day: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("hours")
    @classmethod
    def _hours_text(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, intervals in value.items():
            for text in intervals:
                _parse_hours(day, text)
        return value

    @field_validator("business_day")
    @classmethod
    def _business_day(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _always_or_hours(self) -> "CalendarModel":
        if self.always and (self.hours or self.holidays):
            raise ValueError("an always-open calendar has no hours or holidays")
        if not self.always and not any(self.hours.values()):
            raise ValueError("give weekly hours (e.g. mon: ['09:00-17:00']) or always: true")
        _calendar("<check>", self)  # overlapping intervals surface here, with the file name, not later
        return self


class TargetModel(PolicyModel):
    """Response and resolution targets of one severity, measured on ``calendar``."""

    calendar: str
    response: str
    resolution: str

    @field_validator("response", "resolution")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_target_duration(value)
        return value


class TargetOverrideModel(PolicyModel):
    """A per-route override of some of a severity's target fields."""

    calendar: str | None = None
    response: str | None = None
    resolution: str | None = None

    @field_validator("response", "resolution")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_target_duration(value)
        return value


class SlaFile(PolicyModel):
    """``sla.yaml``."""

    version: Literal[1] = 1
    at_risk_ratio: float = Field(default=0.75, gt=0, lt=1)
    calendars: dict[str, CalendarModel] = Field(default_factory=dict)
    targets: dict[Severity, TargetModel]
    routes: dict[str, dict[Severity, TargetOverrideModel]] = Field(default_factory=dict)
    pause_when: dict[PauseReason, list[SlaTarget]] = Field(
        default_factory=lambda: {
            PauseReason.WAITING_ON_CUSTOMER: [SlaTarget.RESPONSE, SlaTarget.RESOLUTION],
            PauseReason.SNOOZED: [],
        }
    )

    @model_validator(mode="after")
    def _consistent(self) -> "SlaFile":
        missing = [s.value for s in Severity if s not in self.targets]
        if missing:
            raise ValueError(f"targets missing for severities: {', '.join(missing)}")
        known = {*self.calendars, ALWAYS}
        used = [t.calendar for t in self.targets.values()]
        used += [o.calendar for route in self.routes.values() for o in route.values() if o.calendar]
        unknown = sorted({name for name in used if name not in known})
        if unknown:
            raise ValueError(f"unknown calendars {unknown}; defined: {sorted(known)}")
        return self


# ---------------------------------------------------------------- escalation.yaml


class StepModel(PolicyModel):
    """Notify ``notify`` once the response clock has run for ``after``."""

    after: str
    notify: str = Field(min_length=1)

    @field_validator("after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class EscalationPolicyModel(PolicyModel):
    """Steps for unacknowledged issues, and re-notification of the most urgent ones."""

    severities: list[Severity] = Field(default_factory=lambda: [Severity.CRITICAL, Severity.HIGH])
    steps: list[StepModel] = Field(default_factory=list)
    renotify_every: str | None = None
    renotify_max: int = Field(default=6, ge=0)
    renotify_severities: list[Severity] = Field(default_factory=lambda: [Severity.CRITICAL])

    @field_validator("renotify_every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= timedelta(0):
            raise ValueError("renotify_every must be longer than zero")
        return value

    @model_validator(mode="after")
    def _steps_in_order(self) -> "EscalationPolicyModel":
        delays = [parse_duration(step.after) for step in self.steps]
        if delays != sorted(delays):
            raise ValueError("escalation steps must be listed in order of their 'after' delays")
        return self


class EscalationFile(PolicyModel):
    """``escalation.yaml``."""

    version: Literal[1] = 1
    default_policy: str = "default"
    policies: dict[str, EscalationPolicyModel]

    @model_validator(mode="after")
    def _default_exists(self) -> "EscalationFile":
        if self.default_policy not in self.policies:
            known = sorted(self.policies)
            raise ValueError(f"default_policy {self.default_policy!r} is not among policies {known}")
        return self


# ---------------------------------------------------------------- resolved policy


@dataclass(frozen=True)
class Targets:
    """The clocks of one severity (on one route): durations of business time on ``calendar``."""

    calendar: BusinessCalendar
    response: timedelta
    resolution: timedelta
    label: str
    """How events name the policy: ``high`` or, for a route override, ``payments:high``."""

    def amount(self, target: SlaTarget) -> timedelta:
        """The business time allowed for ``target``."""
        return self.response if target is SlaTarget.RESPONSE else self.resolution


@dataclass(frozen=True)
class EscalationStep:
    """Notify ``notify`` after ``after`` of response-clock time."""

    after: timedelta
    notify: str


@dataclass(frozen=True)
class EscalationPolicy:
    """A named escalation policy, resolved."""

    name: str
    severities: frozenset[Severity]
    steps: tuple[EscalationStep, ...]
    renotify_every: timedelta | None
    renotify_max: int
    renotify_severities: frozenset[Severity]

    def notify_at(self, delay: timedelta) -> str | None:
        """Who is responsible once the response clock has run for ``delay``: the latest step reached."""
        reached = [step.notify for step in self.steps if step.after <= delay]
        if reached:
            return reached[-1]
        return self.steps[0].notify if self.steps else None


@dataclass(frozen=True)
class SlaPolicy:
    """Everything the deadline functions need, resolved from the two policy files."""

    at_risk_ratio: float
    calendars: Mapping[str, BusinessCalendar]
    targets: Mapping[Severity, Targets]
    route_targets: Mapping[str, Mapping[Severity, Targets]]
    pause_when: Mapping[SlaTarget, frozenset[PauseReason]]
    escalation: Mapping[str, EscalationPolicy]
    default_escalation: str

    def targets_for(self, severity: Severity, route: str) -> Targets:
        """The targets of ``severity`` on ``route`` (the route's override if it has one)."""
        return self.route_targets.get(route, {}).get(severity, self.targets[severity])

    def escalation_for(self, name: str | None) -> EscalationPolicy:
        """The escalation policy called ``name`` (the default one for ``None``).

        Raises:
            PolicyError: no policy has that name.
        """
        chosen = self.default_escalation if name is None else name
        if chosen not in self.escalation:
            raise PolicyError(f"unknown escalation policy {chosen!r}; known: {sorted(self.escalation)}")
        return self.escalation[chosen]


def build_sla_policy(sla: SlaFile, escalation: EscalationFile) -> SlaPolicy:
    """Resolve validated policy files into calendars and durations.

    Raises:
        PolicyError: a calendar cannot be built (overlapping hours) or a duration is invalid.
    """
    try:
        calendars = {ALWAYS: BusinessCalendar.always_open(ALWAYS)}
        calendars.update({name: _calendar(name, model) for name, model in sla.calendars.items()})
        targets = {sev: _targets(model, calendars, sev.value) for sev, model in sla.targets.items()}
        route_targets = {
            route: {
                sev: _targets(_merged(sla.targets[sev], override), calendars, f"{route}:{sev.value}")
                for sev, override in overrides.items()
            }
            for route, overrides in sla.routes.items()
        }
        policies = {name: _escalation(name, model) for name, model in escalation.policies.items()}
    except (CalendarError, DurationError) as exc:
        raise PolicyError(f"SLA policy is invalid: {exc}") from exc
    pause_when = {
        target: frozenset(reason for reason, targets_ in sla.pause_when.items() if target in targets_)
        for target in SlaTarget
    }
    return SlaPolicy(
        at_risk_ratio=sla.at_risk_ratio,
        calendars=calendars,
        targets=targets,
        route_targets=route_targets,
        pause_when=pause_when,
        escalation=policies,
        default_escalation=escalation.default_policy,
    )


def load_sla_policy(policy_dir: Path | None = None) -> SlaPolicy:
    """Read and resolve ``sla.yaml`` and ``escalation.yaml`` from ``policy_dir`` (default: shipped folder).

    Raises:
        PolicyError: a file is missing or invalid; the message names the file and the field.
    """
    folder = policy_dir if policy_dir is not None else default_policy_dir()
    return build_sla_policy(
        load_policy_file(folder, SLA_FILE, SlaFile), load_policy_file(folder, ESCALATION_FILE, EscalationFile)
    )


def _calendar(name: str, model: CalendarModel) -> BusinessCalendar:
    if model.always:
        return BusinessCalendar.always_open(name)
    hours = {
        _WEEKDAYS.index(day): [_parse_hours(day, text) for text in intervals]
        for day, intervals in model.hours.items()
    }
    holidays = [
        Holiday(day=h.date, name=h.name) if isinstance(h, HolidayModel) else Holiday(day=h)
        for h in model.holidays
    ]
    business_day = parse_duration(model.business_day) if model.business_day is not None else None
    return BusinessCalendar.weekly(name, model.timezone, hours, holidays, business_day)


def _merged(base: TargetModel, override: TargetOverrideModel) -> TargetModel:
    return base.model_copy(update=override.model_dump(exclude_none=True))


def _targets(model: TargetModel, calendars: Mapping[str, BusinessCalendar], label: str) -> Targets:
    calendar = calendars[model.calendar]
    return Targets(
        calendar=calendar,
        response=parse_target_duration(model.response).resolve(calendar.business_day),
        resolution=parse_target_duration(model.resolution).resolve(calendar.business_day),
        label=label,
    )


def _escalation(name: str, model: EscalationPolicyModel) -> EscalationPolicy:
    return EscalationPolicy(
        name=name,
        severities=frozenset(model.severities),
        steps=tuple(EscalationStep(after=parse_duration(s.after), notify=s.notify) for s in model.steps),
        renotify_every=parse_duration(model.renotify_every) if model.renotify_every else None,
        renotify_max=model.renotify_max,
        renotify_severities=frozenset(model.renotify_severities),
    )


def _parse_hours(day: str, text: str) -> OpeningHours:
    match = _HOURS.match(text.strip())
    if match is None:
        raise ValueError(f"{day}: opening hours {text!r} must look like '09:00-17:00'")
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if start_h > 23 or start_m > 59 or end_m > 59 or end_h > 24 or (end_h == 24 and end_m):
        raise ValueError(f"{day}: opening hours {text!r} are not valid times (end may be 24:00)")
    end = None if end_h == 24 else time(end_h, end_m)
    try:
        return OpeningHours.between(time(start_h, start_m), end)
    except CalendarError as exc:
        raise ValueError(f"{day}: opening hours {text!r}: {exc}") from exc
