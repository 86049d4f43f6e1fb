"""Where "now" comes from: the system clock in services, a hand-driven clock in tests."""

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current instant."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """The current instant from the operating system, in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to, so deadlines can be tested without waiting."""

    def __init__(self, start: datetime) -> None:
        """Start the clock at ``start``.

        Raises:
            ValueError: ``start`` is naive.
        """
        self._now = _as_utc(start)

    def now(self) -> datetime:
        """The instant the clock was last set or advanced to, in UTC."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new instant.

        Raises:
            ValueError: ``delta`` is negative (time does not run backwards).
        """
        if delta < timedelta(0):
            raise ValueError(f"cannot advance a clock by a negative duration ({delta})")
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (backwards too: tests may replay)."""
        self._now = _as_utc(instant)


def _as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"clock instants must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)
