"""Reports per 24-hour day, composed from hourly counts and the few reports at the days' edges (pure).

The store counts reports by the hour as they are written (``report_hours``, migration ``0008``). A day
(``as_of - 24 h * (age + 1)``, ``as_of - 24 h * age``] rarely starts or ends on the hour, so a day's count
is the hours that lie between its two edges, plus the part of the hour at its end up to that end, less
the part of the hour at its start up to that start. Each such part is read from the reports themselves:
from the hour's start up to the edge when the edge is in the hour's first half, otherwise what follows
the edge in the hour, taken from the hour's count. A read therefore touches at most half an hour of
reports per edge, and for the newest edge only what was received after the evaluation instant (normally
nothing).

Every range here is half-open, ``[start, end)``. An edge is inclusive on its own side, so its ranges
start or end one microsecond after it: timestamps in PostgreSQL and in Python have microsecond resolution.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(seconds=86_400)
"""24 hours, whatever the calendar or the time zone does."""
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Counts:
    """Reports, the feedback among them and the negative feedback among those."""

    reports: int = 0
    feedback: int = 0
    negative: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(
            self.reports + other.reports, self.feedback + other.feedback, self.negative + other.negative
        )

    def __sub__(self, other: "Counts") -> "Counts":
        return Counts(
            self.reports - other.reports, self.feedback - other.feedback, self.negative - other.negative
        )


def hour_of(instant: datetime) -> datetime:
    """The start of the UTC hour holding ``instant`` (as PostgreSQL's ``date_bin('1 hour', ...)`` from 2000)."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Edge:
    """The instant between two days, and which part of its hour is read from the reports."""

    at: datetime
    hour: datetime
    after: bool
    """True: read the reports after ``at`` in its hour, and take them from the hour's count."""

    @property
    def span(self) -> tuple[datetime, datetime]:
        """The ``[start, end)`` range of ``received_at`` read from the reports for this edge."""
        if self.after:
            return self.at + _TICK, self.hour + HOUR
        return self.hour, self.at + _TICK


@dataclass(frozen=True, slots=True)
class DayPlan:
    """What to read for ``days`` days ending at ``as_of``: the hours in ``[first_hour, last_hour]`` and
    one range of reports per edge (:attr:`edges`, newest first: ``edges[age]`` ends day ``age``)."""

    edges: tuple[Edge, ...]

    @classmethod
    def ending(cls, as_of: datetime, days: int) -> "DayPlan":
        """The plan for the ``days`` days ending at ``as_of`` (timezone-aware, ``days`` ≥ 1)."""
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        if days < 1:
            raise ValueError("days must be at least 1")
        edges = []
        for age in range(days + 1):
            at = as_of.astimezone(UTC) - DAY * age
            hour = hour_of(at)
            edges.append(Edge(at=at, hour=hour, after=age == 0 or at - hour >= HOUR / 2))
        return cls(edges=tuple(edges))

    @property
    def first_hour(self) -> datetime:
        """The oldest hour whose count is needed."""
        return self.edges[-1].hour

    @property
    def last_hour(self) -> datetime:
        """The newest hour whose count is needed."""
        return self.edges[0].hour

    @property
    def spans(self) -> tuple[tuple[datetime, ...], tuple[datetime, ...]]:
        """The edges' ranges as two parallel sequences, starts and ends (for ``unnest``)."""
        starts, ends = zip(*(edge.span for edge in self.edges), strict=True)
        return starts, ends

    def days(self, hours: Mapping[datetime, Counts], edge_counts: Sequence[Counts]) -> list[Counts]:
        """Each day's counts, ``[age 0, age 1, ...]`` (age 0 ends at ``as_of``).

        Args:
            hours: the counts by hour start (UTC) over ``[first_hour, last_hour]``; a missing hour had none.
            edge_counts: the counts in each edge's :attr:`Edge.span`, in the order of :attr:`edges`.
        """
        if len(edge_counts) != len(self.edges):
            raise ValueError(f"expected {len(self.edges)} edge counts, got {len(edge_counts)}")
        # What each edge's hour held up to and including the edge.
        upto = [
            hours.get(edge.hour, Counts()) - counted if edge.after else counted
            for edge, counted in zip(self.edges, edge_counts, strict=True)
        ]
        # Edges are exactly 24 hours apart, and so are their hours: an hour ``n`` hours before the newest
        # edge's (n ≥ 1) lies wholly in day (n - 1) // 24, if that day is in the window.
        between = [Counts() for _ in range(len(self.edges) - 1)]
        for hour, counts in hours.items():
            before = (self.last_hour - hour) // HOUR
            if before >= 1 and (age := (before - 1) // 24) < len(between):
                between[age] += counts
        return [between[age] + upto[age] - upto[age + 1] for age in range(len(between))]
