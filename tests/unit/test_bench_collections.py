"""The bench's load generator sends at its rate without pausing for its own cycle collections, and its
in-process domain measurements collect cycles as the services do."""

import gc

import pytest

from bench.domain import collected_as_in_the_services
from bench.processes import OwnCollections, collector_paused

pytestmark = pytest.mark.unit


def make_cycles(count: int) -> None:
    for _ in range(count):
        node: dict[str, object] = {}
        node["self"] = node


def test_inside_the_block_nothing_is_collected_and_afterwards_collection_resumes() -> None:
    assert gc.isenabled()
    with collector_paused():
        with OwnCollections() as own:
            make_cycles(50_000)  # far past the young generation's threshold
            inside = own.summary()
        assert not gc.isenabled()
    assert gc.isenabled()
    with OwnCollections() as after:
        make_cycles(50_000)
    gc.unfreeze()

    assert inside == {"collections": 0, "full": 0, "longest_ms": 0.0}
    assert after.summary()["collections"] > 0


def test_the_domain_bench_collects_as_the_services_do_and_puts_the_threshold_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HYPERCARE_GC_THRESHOLD", "12345")
    before = gc.get_threshold()
    try:
        with collected_as_in_the_services() as collector:
            assert gc.get_threshold()[0] == 12345
            assert collector is not None  # triage's per-batch freeze, as in the service
    finally:
        gc.unfreeze()
    assert gc.get_threshold() == before

    monkeypatch.setenv("HYPERCARE_GC_THRESHOLD", "0")  # the services' way to keep the defaults
    with collected_as_in_the_services() as collector:
        assert gc.get_threshold() == before
        assert collector is None
