"""Whether a short daily series is falling."""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from hypercare_domain.exit.policy import TrendTest


@dataclass(frozen=True)
class Trend:
    """A series' least-squares slope (per day), its mean and its last value."""

    slope: float
    mean: float
    last: float

    def falling(self, test: TrendTest) -> bool:
        """Whether the series falls by ``test`` (see :data:`~hypercare_domain.exit.policy.TrendTest`)."""
        by_slope = self.slope < 0
        below_mean = self.last < self.mean
        if test == "slope":
            return by_slope
        if test == "below_mean":
            return below_mean
        if test == "both":
            return by_slope and below_mean
        return by_slope or below_mean


def trend_of(values: Sequence[float], days: Sequence[int] | None = None) -> Trend:
    """The ordinary least-squares slope of ``values`` against their day positions, with mean and last value.

    Args:
        values: the series, oldest first.
        days: the day position of each value (increasing); ``0, 1, 2, ...`` when ``None``. Positions
            matter when days without data are left out of a series of shares.

    Raises:
        ValueError: fewer than two values, or ``days`` of another length or not increasing.
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"a trend needs at least two values, got {n}")
    xs = list(range(n)) if days is None else list(days)
    if len(xs) != n or any(b <= a for a, b in pairwise(xs)):
        raise ValueError("days must be increasing and as many as the values")
    x_mean = sum(xs) / n
    y_mean = sum(values) / n
    covariance = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, values, strict=True))
    variance = sum((x - x_mean) ** 2 for x in xs)
    return Trend(slope=covariance / variance, mean=y_mean, last=float(values[-1]))
