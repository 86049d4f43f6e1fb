"""An issue's bounded lists as absorb keeps them: the recent reports (a time window and a cap) and the
source item keys (a cap), with the views derived from one tuple to the next instead of recomputed.

Each test runs a few thousand random steps against a plain model of the same rules, with entries out of
time order and caps small enough to be reached all the time: the derived views (the recent reports' earliest
time and reporters, the key sets) must answer as views computed afresh would.
"""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypercare_domain.triage.state import RecentReport, _capped_union, _recent_after
from hypercare_domain.triage.views import as_set, micros, recent_view

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 27, 12, tzinfo=UTC)


def _entry(rng: random.Random, now_s: int) -> RecentReport:
    # Up to 30 s late: a report that came through another partition, or a slower source.
    at = T0 + timedelta(seconds=now_s - rng.randint(0, 30), microseconds=rng.randint(0, 999_999))
    return RecentReport(at=at, reporter=rng.choice([None, "ana", "bo", "cy", "dee", "eli"]))


@pytest.mark.parametrize("seed", range(4))
def test_recent_reports_keep_the_window_and_the_cap_and_their_view_answers_as_a_fresh_one(seed: int) -> None:
    rng = random.Random(seed)
    cap = rng.randint(16, 30)  # tuples this long have their view remembered and handed on
    recent: tuple[RecentReport, ...] = ()
    model: list[RecentReport] = []
    now_s = 0
    for _ in range(3000):
        now_s += rng.choice([0, 0, 0, 1, 2])
        after = micros(T0 + timedelta(seconds=now_s - rng.choice([20, 40, 60])))
        added = _entry(rng, now_s) if rng.random() < 0.9 else None
        recent = _recent_after(recent, after, added, cap)
        model = [entry for entry in model if micros(entry.at) > after] + ([added] if added else [])
        model = model[-cap:]
        assert list(recent) == model
        view = recent_view(recent)
        times = [micros(entry.at) for entry in model]
        assert view.times == tuple(times)
        if times:  # the bound is no later than the earliest entry
            assert view.bound is not None
            assert view.bound <= min(times)
        else:
            assert view.bound is None
        assert view.distinct_reporters == len({entry.reporter for entry in model} - {None})
        earliest = min(times, default=micros(T0))
        for probe in (after, earliest, earliest - 1, *times[:3], *(time - 1 for time in times[:3])):
            assert view.all_after(probe) == all(time > probe for time in times)


@pytest.mark.parametrize("seed", range(4))
def test_capped_keys_keep_the_newest_and_their_set_answers_as_a_fresh_one(seed: int) -> None:
    rng = random.Random(seed)
    cap = rng.randint(16, 40)  # tuples this long have their set remembered and handed on
    keys: tuple[str, ...] = ()
    model: list[str] = []
    for _ in range(2000):
        # A report's keys, each once (as report_keys gives them).
        added = tuple(dict.fromkeys(f"ticket:{rng.randint(0, 120)}" for _ in range(rng.choice([1, 1, 2, 3]))))
        keys = _capped_union(keys, added, cap)
        model = (model + [key for key in added if key not in model])[-cap:]
        assert list(keys) == model
        assert set(as_set(keys)) == set(model)
