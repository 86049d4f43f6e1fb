"""Composing 24-hour days from hourly counts and the reports at the days' edges."""

from datetime import UTC, datetime, timedelta

import pytest
from hypercare_store.report_days import Counts, DayPlan

pytestmark = pytest.mark.unit

AS_OF = datetime(2026, 5, 20, 12, 40, tzinfo=UTC)


def test_each_edge_reads_the_shorter_part_of_its_hour() -> None:
    plan = DayPlan.ending(AS_OF, 2)

    assert [edge.span for edge in plan.edges] == [
        # the evaluation instant: what follows it in its hour (nothing, unless clocks disagree)
        (AS_OF + timedelta(microseconds=1), datetime(2026, 5, 20, 13, tzinfo=UTC)),
        # 40 minutes into their hours: the 20 minutes after them
        (datetime(2026, 5, 19, 12, 40, 0, 1, tzinfo=UTC), datetime(2026, 5, 19, 13, tzinfo=UTC)),
        (datetime(2026, 5, 18, 12, 40, 0, 1, tzinfo=UTC), datetime(2026, 5, 18, 13, tzinfo=UTC)),
    ]
    assert (plan.first_hour, plan.last_hour) == (
        datetime(2026, 5, 18, 12, tzinfo=UTC),
        datetime(2026, 5, 20, 12, tzinfo=UTC),
    )
    assert DayPlan.ending(AS_OF - timedelta(minutes=20), 1).edges[1].span == (
        datetime(2026, 5, 19, 12, tzinfo=UTC),
        datetime(2026, 5, 19, 12, 20, 0, 1, tzinfo=UTC),
    )


def test_a_day_is_its_whole_hours_plus_its_end_less_its_start() -> None:
    plan = DayPlan.ending(AS_OF, 2)
    hours = {
        datetime(2026, 5, 20, 12, tzinfo=UTC): Counts(5, 4, 1),  # holds today's edge
        datetime(2026, 5, 20, 11, tzinfo=UTC): Counts(2, 1, 1),
        datetime(2026, 5, 19, 13, tzinfo=UTC): Counts(1, 1, 0),
        datetime(2026, 5, 19, 12, tzinfo=UTC): Counts(10, 6, 3),  # split by yesterday's edge
        datetime(2026, 5, 18, 20, tzinfo=UTC): Counts(7, 7, 7),
        datetime(2026, 5, 18, 12, tzinfo=UTC): Counts(3, 0, 0),  # split by the window's start
        datetime(2026, 5, 18, 11, tzinfo=UTC): Counts(100, 100, 100),  # before the window
    }
    # after each edge in its hour: nothing after now, 4 of yesterday's 10, 1 of the oldest hour's 3
    edges = [Counts(), Counts(4, 2, 1), Counts(1, 0, 0)]

    today, yesterday = plan.days(hours, edges)

    assert today == Counts(5 + 2 + 1 + 4, 4 + 1 + 1 + 2, 1 + 1 + 0 + 1)
    assert yesterday == Counts(6 + 7 + 1, 4 + 7 + 0, 2 + 7 + 0)


def test_a_naive_instant_or_a_missing_edge_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DayPlan.ending(datetime(2026, 5, 20, 12), 2)  # noqa: DTZ001 - the case under test
    with pytest.raises(ValueError, match="expected 3 edge counts"):
        DayPlan.ending(AS_OF, 2).days({}, [Counts()])
