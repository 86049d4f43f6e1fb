"""The bench's load generator sends at its rate without pausing for its own cycle collections."""

import gc

import pytest

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
