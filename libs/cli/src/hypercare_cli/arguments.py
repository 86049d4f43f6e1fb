"""Argument types the ``hypercare`` subcommands share."""

import argparse
from datetime import datetime, timedelta

from hypercare_domain.sla.durations import DurationError, parse_duration


def aware_datetime(text: str) -> datetime:
    """An ISO 8601 instant with a time zone (``2026-06-04T12:00:00Z``); anything else is refused."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +00:00)")
    return value


def age(text: str) -> timedelta:
    """A positive age such as ``120d``, ``16w`` or ``36h`` (units ``s``, ``m``, ``h``, ``d``, ``w``)."""
    try:
        value = parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive age")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is below 1")
    return value
