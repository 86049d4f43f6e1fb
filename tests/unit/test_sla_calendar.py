"""Business-time arithmetic: opening hours, holidays, daylight-saving changes, pauses."""

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypercare_domain.sla import (
    BusinessCalendar,
    CalendarError,
    ClockStoppedError,
    Holiday,
    OpeningHours,
    Pause,
    add_business_seconds,
    add_business_time,
    business_seconds_between,
    business_time_between,
)

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NINE_TO_FIVE = (OpeningHours.between(time(9), time(17)),)
WEEKDAYS = dict.fromkeys(range(5), NINE_TO_FIVE)

BERLIN_OFFICE = BusinessCalendar.weekly(
    "berlin",
    "Europe/Berlin",
    WEEKDAYS,
    holidays=[Holiday(date(2026, 4, 3), "Good Friday"), Holiday(date(2026, 4, 6), "Easter Monday")],
)
NEW_YORK_OFFICE = BusinessCalendar.weekly("nyc", "America/New_York", WEEKDAYS)
LUNCH_BREAK = BusinessCalendar.weekly(
    "lunch",
    "Europe/Berlin",
    dict.fromkeys(
        range(5), (OpeningHours.between(time(9), time(12)), OpeningHours.between(time(13), time(17)))
    ),
)
EVERY_DAY_NINE_TO_FIVE = BusinessCalendar.weekly(
    "daily", "Europe/Berlin", dict.fromkeys(range(7), NINE_TO_FIVE)
)
ROUND_THE_CLOCK_LOCAL = BusinessCalendar.weekly(
    "local-24h", "Europe/Berlin", dict.fromkeys(range(7), (OpeningHours.between(time(0), None),))
)
ALWAYS = BusinessCalendar.always_open()


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)  # type: ignore[arg-type, misc]


def new_york(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NEW_YORK)  # type: ignore[arg-type, misc]


ADD_CASES = [
    # (id, calendar, start, business seconds, expected due)
    ("within a day", BERLIN_OFFICE, berlin(2026, 3, 2, 10), 3600, berlin(2026, 3, 2, 11)),
    (
        "friday 16:30 + 1h -> monday 09:30",
        BERLIN_OFFICE,
        berlin(2026, 3, 6, 16, 30),
        3600,
        berlin(2026, 3, 9, 9, 30),
    ),
    ("lands on closing instant", BERLIN_OFFICE, berlin(2026, 3, 6, 16), 3600, berlin(2026, 3, 6, 17)),
    ("start before opening", BERLIN_OFFICE, berlin(2026, 3, 2, 7), 1800, berlin(2026, 3, 2, 9, 30)),
    ("start after closing", BERLIN_OFFICE, berlin(2026, 3, 2, 20), 1800, berlin(2026, 3, 3, 9, 30)),
    ("start on saturday", BERLIN_OFFICE, berlin(2026, 3, 7, 12), 3600, berlin(2026, 3, 9, 10)),
    ("start on a holiday", BERLIN_OFFICE, berlin(2026, 4, 3, 10), 3600, berlin(2026, 4, 7, 10)),
    ("across easter", BERLIN_OFFICE, berlin(2026, 4, 2, 16), 7200, berlin(2026, 4, 7, 10)),
    ("5 business days = 40h", BERLIN_OFFICE, berlin(2026, 3, 2, 9), 40 * 3600, berlin(2026, 3, 6, 17)),
    (
        "10 business days over easter",
        BERLIN_OFFICE,
        berlin(2026, 3, 30, 9),
        80 * 3600,
        berlin(2026, 4, 14, 17),
    ),
    ("berlin spring forward weekend", BERLIN_OFFICE, berlin(2026, 3, 27, 16), 7200, berlin(2026, 3, 30, 10)),
    ("berlin fall back weekend", BERLIN_OFFICE, berlin(2026, 10, 23, 16), 7200, berlin(2026, 10, 26, 10)),
    (
        "spring forward day is 8h",
        EVERY_DAY_NINE_TO_FIVE,
        berlin(2026, 3, 29, 9),
        8 * 3600,
        berlin(2026, 3, 29, 17),
    ),
    (
        "fall back day is 8h",
        EVERY_DAY_NINE_TO_FIVE,
        berlin(2026, 10, 25, 9),
        8 * 3600,
        berlin(2026, 10, 25, 17),
    ),
    ("new york spring forward", NEW_YORK_OFFICE, new_york(2026, 3, 6, 16), 7200, new_york(2026, 3, 9, 10)),
    ("new york fall back", NEW_YORK_OFFICE, new_york(2026, 10, 30, 16), 7200, new_york(2026, 11, 2, 10)),
    ("lunch break skipped", LUNCH_BREAK, berlin(2026, 3, 2, 11, 30), 3600, berlin(2026, 3, 2, 13, 30)),
    ("start during lunch", LUNCH_BREAK, berlin(2026, 3, 2, 12, 15), 1800, berlin(2026, 3, 2, 13, 30)),
    ("lunch day is 7h", LUNCH_BREAK, berlin(2026, 3, 2, 9), 7 * 3600, berlin(2026, 3, 2, 17)),
    ("24x7 over spring forward", ALWAYS, berlin(2026, 3, 29, 1), 3 * 3600, berlin(2026, 3, 29, 5)),
    ("24x7 over fall back", ALWAYS, berlin(2026, 10, 25, 1), 3 * 3600, berlin(2026, 10, 25, 3)),
    ("zero is the start itself", BERLIN_OFFICE, berlin(2026, 3, 7, 12), 0, berlin(2026, 3, 7, 12)),
    (
        "microsecond exact",
        BERLIN_OFFICE,
        berlin(2026, 3, 6, 16, 59),
        60.000001,
        berlin(2026, 3, 9, 9, 0, 0, 1),
    ),
]


@pytest.mark.parametrize(
    ("calendar", "start", "seconds", "expected"),
    [case[1:] for case in ADD_CASES],
    ids=[c[0] for c in ADD_CASES],
)
def test_add_business_seconds_gives_the_exact_due_instant(
    calendar: BusinessCalendar, start: datetime, seconds: float, expected: datetime
) -> None:
    due = add_business_seconds(start, seconds, calendar)

    assert due == expected
    assert due.tzinfo is UTC
    assert business_seconds_between(start, due, calendar) == seconds


BETWEEN_CASES = [
    (
        "spring forward local midnight-to-midnight",
        ROUND_THE_CLOCK_LOCAL,
        berlin(2026, 3, 29),
        berlin(2026, 3, 30),
        23,
    ),
    (
        "fall back local midnight-to-midnight",
        ROUND_THE_CLOCK_LOCAL,
        berlin(2026, 10, 25),
        berlin(2026, 10, 26),
        25,
    ),
    ("24x7 counts real time over spring forward", ALWAYS, berlin(2026, 3, 29), berlin(2026, 3, 30), 23),
    ("24x7 counts real time over fall back", ALWAYS, berlin(2026, 10, 25), berlin(2026, 10, 26), 25),
    ("a full week of office hours", BERLIN_OFFICE, berlin(2026, 3, 2), berlin(2026, 3, 9), 40),
    ("easter week has two holidays", BERLIN_OFFICE, berlin(2026, 3, 30), berlin(2026, 4, 7), 32),
    ("weekend only", BERLIN_OFFICE, berlin(2026, 3, 7, 8), berlin(2026, 3, 8, 20), 0),
    ("end before start", BERLIN_OFFICE, berlin(2026, 3, 3, 12), berlin(2026, 3, 2, 12), 0),
    ("new york week with spring forward", NEW_YORK_OFFICE, new_york(2026, 3, 2), new_york(2026, 3, 14), 80),
]


@pytest.mark.parametrize(
    ("calendar", "start", "end", "hours"),
    [case[1:] for case in BETWEEN_CASES],
    ids=[c[0] for c in BETWEEN_CASES],
)
def test_business_seconds_between(
    calendar: BusinessCalendar, start: datetime, end: datetime, hours: int
) -> None:
    assert business_seconds_between(start, end, calendar) == hours * 3600


PAUSE_CASES = [
    # (id, start, seconds, pauses, expected due)
    ("pause inside the day", berlin(2026, 3, 2, 9), 7200, [(berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 11))],
     berlin(2026, 3, 2, 12)),
    ("pause over the weekend into monday", berlin(2026, 3, 6, 9), 8 * 3600,
     [(berlin(2026, 3, 6, 16), berlin(2026, 3, 9, 10))], berlin(2026, 3, 9, 11)),
    ("overlapping pauses merge", berlin(2026, 3, 2, 9), 7200,
     [(berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 10, 45)),
      (berlin(2026, 3, 2, 10, 30), berlin(2026, 3, 2, 11))],
     berlin(2026, 3, 2, 12)),
    ("pause before the start is ignored", berlin(2026, 3, 2, 12), 3600,
     [(berlin(2026, 3, 2, 9), berlin(2026, 3, 2, 11))], berlin(2026, 3, 2, 13)),
    ("pause covering the start", berlin(2026, 3, 2, 10), 3600,
     [(berlin(2026, 3, 2, 9), berlin(2026, 3, 2, 11))], berlin(2026, 3, 2, 12)),
    ("open pause after the due instant", berlin(2026, 3, 2, 9), 3600, [(berlin(2026, 3, 2, 12), None)],
     berlin(2026, 3, 2, 10)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "seconds", "pauses", "expected"),
    [case[1:] for case in PAUSE_CASES],
    ids=[c[0] for c in PAUSE_CASES],
)
def test_pauses_stop_the_clock(
    start: datetime, seconds: int, pauses: list[tuple[datetime, datetime | None]], expected: datetime
) -> None:
    stops = [Pause(start=begin, end=end) for begin, end in pauses]

    due = add_business_seconds(start, seconds, BERLIN_OFFICE, stops)

    assert due == expected
    assert business_seconds_between(start, due, BERLIN_OFFICE, stops) == seconds


def test_an_open_pause_stops_the_clock_for_good() -> None:
    start = berlin(2026, 3, 2, 9)
    open_pause = [Pause(start=berlin(2026, 3, 2, 10))]

    assert business_seconds_between(start, berlin(2026, 3, 20), BERLIN_OFFICE, open_pause) == 3600
    with pytest.raises(ClockStoppedError):
        add_business_seconds(start, 7200, BERLIN_OFFICE, open_pause)


def test_resumed_pause_restarts_the_clock() -> None:
    start = berlin(2026, 3, 2, 9)
    paused_then_resumed = [Pause(start=berlin(2026, 3, 2, 10), end=berlin(2026, 3, 3, 10))]

    assert add_business_seconds(start, 7200, BERLIN_OFFICE, paused_then_resumed) == berlin(2026, 3, 3, 11)


def test_round_trip_for_generated_cases() -> None:
    rng = random.Random(20260301)
    calendars = [
        BERLIN_OFFICE,
        NEW_YORK_OFFICE,
        LUNCH_BREAK,
        EVERY_DAY_NINE_TO_FIVE,
        ROUND_THE_CLOCK_LOCAL,
        ALWAYS,
    ]
    year_start = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(400):
        calendar = rng.choice(calendars)
        start = year_start + timedelta(microseconds=rng.randrange(365 * 86_400 * 10**6))
        amount = timedelta(microseconds=rng.randrange(80 * 3600 * 10**6))
        pauses = []
        if rng.random() < 0.5:
            pause_start = start + timedelta(seconds=rng.randrange(-86_400, 5 * 86_400))
            pauses.append(
                Pause(start=pause_start, end=pause_start + timedelta(seconds=rng.randrange(1, 3 * 86_400)))
            )

        due = add_business_time(start, amount, calendar, pauses)

        case = f"{calendar.name} start={start.isoformat()} amount={amount} pauses={pauses}"
        assert business_time_between(start, due, calendar, pauses) == amount, case
        assert business_seconds_between(start, due, calendar, pauses) == amount.total_seconds(), case
        if amount:
            earlier = due - timedelta(microseconds=1)
            assert business_time_between(start, earlier, calendar, pauses) < amount, case


@pytest.mark.parametrize(
    "call",
    [
        lambda: add_business_seconds(datetime(2026, 3, 2, 9), 60, BERLIN_OFFICE),  # noqa: DTZ001
        lambda: business_seconds_between(berlin(2026, 3, 2), datetime(2026, 3, 3), BERLIN_OFFICE),  # noqa: DTZ001
        lambda: add_business_seconds(berlin(2026, 3, 2, 9), -1, BERLIN_OFFICE),
    ],
    ids=["naive start", "naive end", "negative amount"],
)
def test_invalid_arguments_are_rejected(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError):  # noqa: PT011 - naive instants and negative amounts share the type
        call()


def test_calendar_needs_opening_hours() -> None:
    with pytest.raises(CalendarError, match="no opening hours"):
        BusinessCalendar.weekly("closed", "Europe/Berlin", {})


def test_overlapping_opening_hours_are_rejected() -> None:
    overlapping = (OpeningHours.between(time(9), time(13)), OpeningHours.between(time(12), time(17)))
    with pytest.raises(CalendarError, match="overlap"):
        BusinessCalendar.weekly("bad", "Europe/Berlin", {0: overlapping})


def test_a_calendar_closed_for_years_is_reported() -> None:
    all_holidays = [Holiday(date(2026, 1, 1) + timedelta(days=n)) for n in range(800)]
    closed = BusinessCalendar.weekly("closed", "Europe/Berlin", WEEKDAYS, holidays=all_holidays)
    with pytest.raises(CalendarError, match="closed for"):
        add_business_seconds(berlin(2026, 1, 1), 60, closed)


def test_business_day_defaults_to_the_longest_weekday() -> None:
    assert BERLIN_OFFICE.business_day == timedelta(hours=8)
    assert LUNCH_BREAK.business_day == timedelta(hours=7)
    assert ALWAYS.business_day == timedelta(hours=24)
