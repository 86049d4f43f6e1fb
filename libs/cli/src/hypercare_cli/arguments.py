"""Argument types the ``hypercare`` subcommands share."""

import argparse
from datetime import datetime


def aware_datetime(text: str) -> datetime:
    """An ISO 8601 instant with a time zone (``2026-06-04T12:00:00Z``); anything else is refused."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +00:00)")
    return value
