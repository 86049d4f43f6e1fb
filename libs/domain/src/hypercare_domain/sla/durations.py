"""Durations written in policy files: ``"90s"``, ``"15m"``, ``"4h"``, ``"2d"``, ``"1h30m"``, ``"5bd"``.

Units: ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days of 24 hours, ``w`` weeks, and, for SLA targets
only, ``bd`` business days (one day of the target's calendar hours, see :class:`TargetDuration`). Parts may
carry a decimal fraction (``"1.5h"``); the result is exact to the microsecond.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

_PART = re.compile(r"(\d+(?:\.\d+)?)(bd|w|d|h|m|s)")
_MICROS_PER_UNIT = {
    "s": Decimal(1_000_000),
    "m": Decimal(60_000_000),
    "h": Decimal(3_600_000_000),
    "d": Decimal(86_400_000_000),
    "w": Decimal(604_800_000_000),
}


class DurationError(ValueError):
    """A duration string does not follow the ``<number><unit>`` grammar."""


@dataclass(frozen=True)
class TargetDuration:
    """An SLA target: a fixed part plus a number of business days of the target's calendar."""

    fixed: timedelta
    business_days: Decimal = Decimal(0)

    def resolve(self, business_day: timedelta) -> timedelta:
        """The business time this target stands for, given the length of one business day."""
        micros = Decimal(business_day // timedelta(microseconds=1)) * self.business_days
        return self.fixed + timedelta(microseconds=int(micros.to_integral_value()))


def parse_target_duration(text: str) -> TargetDuration:
    """Parse a duration that may use business days (``bd``).

    Args:
        text: such as ``"8h"``, ``"5bd"`` or ``"1bd4h"``.

    Raises:
        DurationError: the text is empty, has an unknown unit, or is not a sequence of ``<number><unit>``.
    """
    if not isinstance(text, str):
        raise DurationError(f"a duration must be a string such as '90s', '15m' or '4h', got {text!r}")
    compact = text.strip().lower()
    if not compact:
        raise DurationError("a duration must not be empty; write e.g. '90s', '15m', '4h' or '2d'")
    micros = Decimal(0)
    business_days = Decimal(0)
    position = 0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        amount, unit = Decimal(match.group(1)), match.group(2)
        if unit == "bd":
            business_days += amount
        else:
            micros += amount * _MICROS_PER_UNIT[unit]
        position = match.end()
    if position != len(compact):
        raise DurationError(
            f"invalid duration {text!r}: use <number><unit> parts with units s, m, h, d, w "
            "(or bd for business days in SLA targets), e.g. '90s', '15m', '1h30m', '5bd'"
        )
    if micros != micros.to_integral_value():
        raise DurationError(f"invalid duration {text!r}: finer than a microsecond")
    return TargetDuration(fixed=timedelta(microseconds=int(micros)), business_days=business_days)


def parse_duration(text: str) -> timedelta:
    """Parse a plain duration (no business days).

    Args:
        text: such as ``"90s"``, ``"15m"``, ``"4h"``, ``"2d"`` or ``"1h30m"``.

    Raises:
        DurationError: the text is not a valid duration or uses ``bd``.
    """
    parsed = parse_target_duration(text)
    if parsed.business_days:
        raise DurationError(f"invalid duration {text!r}: business days (bd) are only allowed in SLA targets")
    return parsed.fixed


def format_duration(delta: timedelta) -> str:
    """Render a duration the way policy files write it (``"1h30m"``, ``"45s"``, ``"0s"``)."""
    total = delta // timedelta(microseconds=1)
    if total < 0:
        return "-" + format_duration(-delta)
    parts: list[str] = []
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    if total or not parts:
        seconds = Decimal(total) / Decimal(1_000_000)
        parts.append(f"{seconds.normalize():f}s")
    return "".join(parts)
