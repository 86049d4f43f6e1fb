"""Process tuning: the cycle collector's threshold comes from the setting; 0 leaves the defaults."""

import gc
from collections.abc import Iterator

import pytest
from hypercare_runtime.process import tune_garbage_collector
from hypercare_runtime.settings import ServiceSettings

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
