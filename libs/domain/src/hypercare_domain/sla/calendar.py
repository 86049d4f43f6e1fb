"""Business calendars and exact business-time arithmetic.

A calendar is either ``always`` (24x7: business time is real elapsed time) or a set of weekly opening hours
in an IANA time zone, minus holidays. Opening hours are wall-clock times in that zone, so a 09:00-17:00 day is
eight hours on the days clocks change too; an interval that itself spans a change (such as 00:00-06:00) counts
the real time between its two wall-clock ends. A wall-clock end that does not exist or occurs twice on a
change day is read with ``fold=0`` (the offset in force before the change).

Pauses are intervals during which no clock runs (the issue waits on the customer, or is snoozed); at most one
may be open-ended. Everything is computed with :class:`~datetime.timedelta`, exact to the microsecond, by
walking whole opening intervals rather than minutes.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, model_validator

_DAY = timedelta(days=1)
MAX_CLOSED_DAYS = 731
"""Consecutive closed days after which a calendar is considered broken (holidays gone wrong)."""


class CalendarError(ValueError):
    """A calendar is inconsistent, or never opens again."""


class ClockStoppedError(ValueError):
    """A target cannot be reached: an open-ended pause stops the clock before it."""


class Pause(BaseModel):
    """An interval during which a clock does not run; ``end=None`` means it has not ended yet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Pause":
        if self.end is not None and self.end < self.start:
            raise ValueError(f"pause ends {self.end.isoformat()} before it starts {self.start.isoformat()}")
        return self


@dataclass(frozen=True)
class OpeningHours:
    """One opening interval of a day, as offsets from local midnight (``end`` may be 24h)."""

    start: timedelta
    end: timedelta

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.start < self.end <= _DAY:
            raise CalendarError(f"opening hours {self.start}-{self.end}: need 00:00 <= start < end <= 24:00")

    @classmethod
    def between(cls, start: time, end: time | None) -> "OpeningHours":
        """Opening hours from wall-clock times; ``end=None`` means midnight at the end of the day (24:00)."""
        return cls(start=_offset(start), end=_DAY if end is None else _offset(end))


@dataclass(frozen=True)
class Holiday:
    """A closed day, optionally named (shown in documentation and reports)."""

    day: date
    name: str = ""


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours per weekday (Monday first) in a time zone, minus holidays; or ``always`` open.

    Use :meth:`always_open` or :meth:`weekly` to build one.
    """

    name: str
    zone: ZoneInfo
    week: tuple[tuple[OpeningHours, ...], ...]
    holidays: tuple[Holiday, ...] = ()
    always: bool = False
    business_day: timedelta = _DAY
    _closed: frozenset[date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise CalendarError(f"calendar {self.name}: need hours for 7 weekdays, got {len(self.week)}")
        for weekday, intervals in enumerate(self.week):
            for earlier, later in pairwise(intervals):
                if later.start < earlier.end:
                    raise CalendarError(
                        f"calendar {self.name}: hours of weekday {weekday} overlap or are out of order"
                    )
        if not self.always and not any(self.week):
            raise CalendarError(f"calendar {self.name}: no opening hours on any weekday")
        if self.business_day <= timedelta(0):
            raise CalendarError(f"calendar {self.name}: a business day must be longer than zero")
        object.__setattr__(self, "_closed", frozenset(h.day for h in self.holidays))

    @classmethod
    def always_open(cls, name: str = "always") -> "BusinessCalendar":
        """A 24x7 calendar: business time is real elapsed time, a business day is 24 hours."""
        full = (OpeningHours(timedelta(0), _DAY),)
        return cls(name=name, zone=ZoneInfo("UTC"), week=(full,) * 7, always=True, business_day=_DAY)

    @classmethod
    def weekly(
        cls,
        name: str,
        timezone: str,
        hours: Mapping[int, Sequence[OpeningHours]],
        holidays: Sequence[Holiday] = (),
        business_day: timedelta | None = None,
    ) -> "BusinessCalendar":
        """A calendar open during ``hours`` (weekday 0 = Monday) in ``timezone``, closed on ``holidays``.

        Args:
            name: how policies refer to the calendar.
            timezone: an IANA zone such as ``Europe/Berlin``.
            hours: opening intervals per weekday; missing weekdays are closed.
            holidays: closed dates (local to ``timezone``).
            business_day: the length of one business day for ``bd`` targets; defaults to the longest weekday.

        Raises:
            CalendarError: no opening hours at all, intervals overlap, or a weekday is not 0-6.
        """
        if any(day not in range(7) for day in hours):
            raise CalendarError(f"calendar {name}: weekdays are numbered 0 (Monday) to 6 (Sunday)")
        week = tuple(tuple(sorted(hours.get(day, ()), key=lambda h: h.start)) for day in range(7))
        longest = max(sum((h.end - h.start for h in day), timedelta(0)) for day in week)
        return cls(
            name=name,
            zone=ZoneInfo(timezone),
            week=week,
            holidays=tuple(holidays),
            business_day=business_day if business_day is not None else longest,
        )

    def is_holiday(self, day: date) -> bool:
        """Whether ``day`` (a local date) is a holiday of this calendar."""
        return day in self._closed

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The opening intervals of local date ``day`` as UTC instants (empty on holidays and closed days)."""
        if self.always:
            midnight = datetime.combine(day, time(0), tzinfo=UTC)
            return [(midnight, midnight + _DAY)]
        if day in self._closed:
            return []
        midnight = datetime.combine(day, time(0), tzinfo=self.zone)
        intervals = []
        for hours in self.week[day.weekday()]:
            # Aware + timedelta is wall-clock arithmetic: the offset is looked up for the resulting time.
            start = (midnight + hours.start).astimezone(UTC)
            end = (midnight + hours.end).astimezone(UTC)
            if end > start:
                intervals.append((start, end))
        return intervals


def business_time_between(
    start: datetime, end: datetime, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> timedelta:
    """Business time from ``start`` to ``end`` (zero if ``end`` is not after ``start``), exact.

    Raises:
        ValueError: an instant is naive.
        CalendarError: the calendar stays closed for more than two years in the range.
    """
    start, end = _utc(start), _utc(end)
    total = timedelta(0)
    if end <= start:
        return total
    for opened, closed in _running_intervals(calendar, start, pauses):
        if opened >= end:
            break
        total += min(closed, end) - opened
    return total


def business_seconds_between(
    start: datetime, end: datetime, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> float:
    """Business seconds from ``start`` to ``end``, excluding closed hours, holidays and pauses.

    Args:
        start: where counting begins (outside opening hours, counting begins at the next opening).
        end: where counting ends.
        calendar: the calendar whose opening hours count.
        pauses: intervals that do not count (at most one open-ended).

    Raises:
        ValueError: an instant is naive.
        CalendarError: the calendar stays closed for more than two years in the range.
    """
    return business_time_between(start, end, calendar, pauses).total_seconds()


def add_business_time(
    start: datetime, amount: timedelta, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> datetime:
    """The earliest instant at which ``amount`` of business time has elapsed since ``start`` (in UTC).

    A deadline reached exactly at a closing time falls on that closing instant (17:00), not on the next
    opening. ``amount`` zero returns ``start`` itself.

    Raises:
        ValueError: ``amount`` is negative or an instant is naive.
        ClockStoppedError: an open-ended pause stops the clock before ``amount`` has elapsed.
        CalendarError: the calendar stays closed for more than two years.
    """
    due = find_due(start, amount, calendar, pauses)
    if due is None:
        raise ClockStoppedError(f"the clock is paused indefinitely before {amount} of business time elapsed")
    return due


def add_business_seconds(
    start: datetime, seconds: float, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> datetime:
    """The exact due instant ``seconds`` of business time after ``start`` (see :func:`add_business_time`).

    ``seconds`` is rounded to the nearest microsecond.

    Raises:
        ValueError: ``seconds`` is negative or an instant is naive.
        ClockStoppedError: an open-ended pause stops the clock before the target is reached.
        CalendarError: the calendar stays closed for more than two years.
    """
    return add_business_time(start, timedelta(seconds=seconds), calendar, pauses)


def find_due(
    start: datetime, amount: timedelta, calendar: BusinessCalendar, pauses: Sequence[Pause] = ()
) -> datetime | None:
    """Like :func:`add_business_time`, but ``None`` when an open-ended pause stops the clock first.

    Raises:
        ValueError: ``amount`` is negative or an instant is naive.
        CalendarError: the calendar stays closed for more than two years.
    """
    if amount < timedelta(0):
        raise ValueError(f"business time to add must not be negative, got {amount}")
    start = _utc(start)
    if amount == timedelta(0):
        return start
    remaining = amount
    for opened, closed in _running_intervals(calendar, start, pauses):
        length = closed - opened
        if remaining <= length:
            return opened + remaining
        remaining -= length
    return None


def _business_intervals(calendar: BusinessCalendar, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Opening intervals in UTC, in order, clipped to start at ``since``; endless."""
    day = since.astimezone(calendar.zone).date() if not calendar.always else since.date()
    closed_days = 0
    while True:
        intervals = calendar.intervals_on(day)
        for opened, closed in intervals:
            if closed > since:
                yield max(opened, since), closed
        closed_days = 0 if intervals else closed_days + 1
        if closed_days > MAX_CLOSED_DAYS:
            raise CalendarError(f"calendar {calendar.name} is closed for {MAX_CLOSED_DAYS} days up to {day}")
        day += _DAY


def _running_intervals(
    calendar: BusinessCalendar, since: datetime, pauses: Sequence[Pause]
) -> Iterator[tuple[datetime, datetime]]:
    """Opening intervals minus pauses; stops for good where an open-ended pause begins."""
    merged = _merge(pauses)
    first = 0
    for opened, closed in _business_intervals(calendar, since):
        while first < len(merged) and (end := merged[first][1]) is not None and end <= opened:
            first += 1
        cursor = opened
        index = first
        while cursor < closed:
            if index >= len(merged) or merged[index][0] >= closed:
                yield cursor, closed
                break
            pause_start, pause_end = merged[index]
            if pause_start > cursor:
                yield cursor, pause_start
            if pause_end is None:
                return
            cursor = max(cursor, pause_end)
            index += 1


def _merge(pauses: Sequence[Pause]) -> list[tuple[datetime, datetime | None]]:
    """Pauses in UTC, sorted, overlapping ones joined; an open-ended pause swallows all later ones."""
    merged: list[tuple[datetime, datetime | None]] = []
    for pause in sorted(pauses, key=lambda p: p.start):
        start = pause.start.astimezone(UTC)
        end = pause.end.astimezone(UTC) if pause.end is not None else None
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None:
                break
            if start <= last_end:
                merged[-1] = (last_start, None if end is None else max(last_end, end))
                continue
        merged.append((start, end))
    return merged


def _offset(moment: time) -> timedelta:
    return timedelta(
        hours=moment.hour, minutes=moment.minute, seconds=moment.second, microseconds=moment.microsecond
    )


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"business time needs timezone-aware instants, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)
