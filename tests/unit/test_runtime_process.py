"""Process tuning: the cycle collector's threshold comes from the setting; 0 leaves the defaults; its
pauses are timed."""

import gc
import weakref
from collections.abc import Iterator

import pytest
from hypercare_runtime.process import BatchCollector, time_gc_pauses, tune_garbage_collector
from hypercare_runtime.settings import ServiceSettings
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_young_generation_threshold_is_raised_and_start_up_objects_frozen() -> None:
    tune_garbage_collector(ServiceSettings().gc_threshold)

    assert gc.get_threshold()[0] == 20_000
    assert gc.get_freeze_count() > 0


def test_zero_keeps_the_interpreter_defaults() -> None:
    before = gc.get_threshold()

    tune_garbage_collector(0)

    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_every_cycle_collection_is_timed_into_the_registry() -> None:
    earlier, registry = CollectorRegistry(), CollectorRegistry()
    time_gc_pauses(earlier)
    time_gc_pauses(registry)  # a later app in the same process
    time_gc_pauses(earlier)
    time_gc_pauses(registry)
    gc.collect()
    count = registry.get_sample_value("hypercare_gc_pause_seconds_count", {"generation": "2"})
    assert count is not None
    assert count >= 1
    assert len(gc.callbacks) == len(set(map(id, gc.callbacks))), "the callback is installed once"


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _dropped_after_freezing(collector: BatchCollector) -> "weakref.ref[_Cycle]":
    """A cycle alive when ``collector`` froze after a batch, dropped since."""
    cycle = _Cycle()
    collector.after_batch()
    return weakref.ref(cycle)


def test_between_batches_what_is_alive_is_frozen_and_cycles_wait_for_the_period() -> None:
    alive = _Cycle()  # what the service holds: frozen, out of later collections
    collector = BatchCollector(full_every_s=3600)
    collector.after_batch()
    assert gc.get_freeze_count() > 0
    garbage = weakref.ref(_Cycle())  # a cycle dropped after the freeze: young, collected as usual
    gc.collect(0)
    assert garbage() is None
    lost = _dropped_after_freezing(collector)
    gc.collect()
    assert lost() is not None, "frozen cycles wait for the next full collection"
    BatchCollector(full_every_s=0).after_batch()
    assert lost() is None, "the full collection between batches frees them"
    assert alive.me is alive


def test_a_full_collection_also_comes_when_the_peak_memory_grew() -> None:
    peak = [100.0]
    collector = BatchCollector(full_every_s=3600, full_after_growth_mib=64, peak_mib=lambda: peak[0])
    lost = _dropped_after_freezing(collector)
    peak[0] = 163.0
    collector.after_batch()
    gc.collect()
    assert lost() is not None, "63 MiB more: still frozen"
    peak[0] = 164.0
    collector.after_batch()
    assert lost() is None, "64 MiB more: collected"
    lost = _dropped_after_freezing(collector)
    peak[0] = 200.0
    collector.after_batch()
    gc.collect()
    assert lost() is not None, "the growth is counted from the last full collection"
