"""Retry classification, Retry-After parsing and backoff bounds."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypercare_domain.notify.retry import ErrorKind, RetryPolicy, classify, parse_retry_after

pytestmark = pytest.mark.unit

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "error", "delivered", "retry"),
    [
        (200, None, True, False),
        (202, None, True, False),
        (204, None, True, False),
        (429, None, False, True),
        (408, None, False, True),
        (425, None, False, True),
        (500, None, False, True),
        (502, None, False, True),
        (503, None, False, True),
        (599, None, False, True),
        (400, None, False, False),
        (401, None, False, False),
        (403, None, False, False),
        (404, None, False, False),
        (410, None, False, False),
        (413, None, False, False),
        (422, None, False, False),
        (301, None, False, False),
        (None, ErrorKind.TIMEOUT, False, True),
        (None, ErrorKind.CONNECTION, False, True),
        (None, ErrorKind.PROTOCOL, False, True),
        (None, ErrorKind.TRANSIENT, False, True),
        (None, ErrorKind.REJECTED, False, False),
        (None, ErrorKind.INVALID, False, False),
        (None, None, True, False),
    ],
)
def test_classify_table(status: int | None, error: ErrorKind | None, delivered: bool, retry: bool) -> None:
    verdict = classify(status, error)
    assert (verdict.delivered, verdict.retry) == (delivered, retry)


def test_classify_reason_names_the_status_or_the_error() -> None:
    assert classify(503, None).reason == "http_503"
    assert classify(None, ErrorKind.TIMEOUT).reason == "timeout"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(minutes=5), usegmt=True), 0.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_ceilings_grow_exponentially_then_cap() -> None:
    policy = RetryPolicy(base=0.5, factor=2, max_delay=5)
    assert [policy.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.ceiling(10_000) == 5.0


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8, 50])
def test_full_jitter_stays_within_zero_and_the_ceiling(attempt: int) -> None:
    policy = RetryPolicy(max_delay=60)
    rng = random.Random(7)
    delays = [policy.next_delay(attempt, rng) for _ in range(500)]
    assert all(0 <= d <= policy.ceiling(attempt) for d in delays)
    # Full jitter spreads over the whole range rather than clustering at the ceiling.
    assert min(delays) < policy.ceiling(attempt) * 0.1
    assert max(delays) > policy.ceiling(attempt) * 0.9


def test_equal_jitter_keeps_at_least_half_the_ceiling() -> None:
    policy = RetryPolicy(jitter="equal")
    rng = random.Random(3)
    assert all(1.0 <= policy.next_delay(3, rng) <= 2.0 for _ in range(200))


def test_no_jitter_is_the_ceiling() -> None:
    assert RetryPolicy(jitter="none").next_delay(4, random.Random(1)) == 4.0


def test_seeded_rng_gives_the_same_delays() -> None:
    policy = RetryPolicy()
    first = [policy.next_delay(n, random.Random(42)) for n in range(1, 6)]
    again = [policy.next_delay(n, random.Random(42)) for n in range(1, 6)]
    assert first == again


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(1.0, 1.0), (0.0, 0.0), (3600.0, 300.0)],
)
def test_retry_after_is_honoured_up_to_the_cap(retry_after: float, expected: float) -> None:
    policy = RetryPolicy(max_retry_after=300)
    assert policy.delay_before_retry(1, retry_after, random.Random(0)) == expected


def test_without_retry_after_the_backoff_applies() -> None:
    policy = RetryPolicy(jitter="none")
    assert policy.delay_before_retry(2, None, random.Random(0)) == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base": -1}, {"factor": 0.5}, {"deadline": 0}, {"max_delay": -1}],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
