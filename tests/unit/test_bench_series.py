"""The bench's sampled series: values between samples, and a process's CPU while its backlog drained."""

import pytest

from bench.pipeline import Series, busy_while_draining

pytestmark = pytest.mark.unit


def _series(*samples: tuple[float, float]) -> Series:
    series = Series()
    for at, value in samples:
        series.add(at, value)
    return series


def test_value_between_samples_is_interpolated_and_none_outside_them() -> None:
    cpu = _series((10.0, 1.0), (12.0, 2.0), (14.0, 2.5))
    assert cpu.value_at(11.0) == pytest.approx(1.5)
    assert cpu.value_at(12.0) == 2.0
    assert cpu.value_at(13.0) == pytest.approx(2.25)
    assert cpu.value_at(9.9) is None
    assert cpu.value_at(14.1) is None
    assert cpu.rate_between(11.0, 13.0) == pytest.approx(0.375)
    assert cpu.rate_between(13.0, 11.0) is None


def test_busy_while_draining_uses_the_10_to_90_percent_window_of_the_progress() -> None:
    # 1,000 items: 100 done at t=2, 900 done at t=6; the process was idle before t=2 (start-up) and
    # used 0.9 of a core from then on.
    progress = _series((0.0, 0), (2.0, 100), (6.0, 900), (7.0, 1000))
    cpu = _series((0.0, 0.5), (2.0, 0.5), (6.0, 0.5 + 0.9 * 4), (7.0, 0.5 + 0.9 * 4))
    assert busy_while_draining(progress, 1000, cpu) == pytest.approx(0.9)
    # Over the whole phase, the same process looks 51 % busy: what the window leaves out.
    assert (cpu.samples[-1][1] - cpu.samples[0][1]) / 7.0 == pytest.approx(0.514, abs=0.001)


def test_busy_while_draining_is_unknown_when_the_backlog_never_drained() -> None:
    progress = _series((0.0, 0), (2.0, 100), (6.0, 500))
    cpu = _series((0.0, 0.0), (6.0, 5.0))
    assert busy_while_draining(progress, 1000, cpu) is None
