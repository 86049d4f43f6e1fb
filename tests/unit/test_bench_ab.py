"""``bench.ab``: the order of the runs, what is read from each, and how the two sides are compared."""

import json
from pathlib import Path

import pytest

from bench.ab import Comparison, domain_measures, markdown, order, pipeline_measures

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def test_each_pair_mirrors_the_one_before_so_a_steady_drift_favours_neither_side() -> None:
    assert order(1) == ["A", "B"]
    assert order(3) == ["A", "B", "B", "A", "A", "B"]


def test_the_domain_benchmark_output_gives_both_costs() -> None:
    output = (
        "normalize: 1,107 µs CPU per raw message (20,000 messages)\n"
        "triage: 203 µs CPU per report (21,125 reports)\n"
    )
    assert domain_measures(output) == {"normalize µs": 1107.0, "triage µs": 203.0}
    with pytest.raises(ValueError, match="no measures"):
        domain_measures("Traceback (most recent call last): ...")


def test_a_pipeline_result_gives_throughput_latency_and_cpu() -> None:
    result = json.loads((RESULTS / "20261127T190152Z-c6cbb3c.json").read_text())

    measures = pipeline_measures(result)

    assert measures["reports/s"] == pytest.approx(3028.0, abs=1)
    assert (measures["p50 ms at rate"], measures["p99 ms at rate"]) == (31.58, 64.81)
    assert (measures["triage CPU ms/message"], measures["normalizer CPU ms/message"]) == (0.306, 0.128)
    assert measures["all processes CPU ms/message"] == pytest.approx(0.532)  # the table's "all of the above"
    assert measures["cores busy at rate"] == 1.5
    assert measures["yardstick triage µs"] == 219.9


def test_the_change_is_the_mean_of_the_pairs_and_says_whether_every_pair_agreed() -> None:
    comparison = Comparison()
    comparison.add("A", {"triage µs": 200.0, "only in A": 1.0})
    comparison.add("B", {"triage µs": 190.0})
    assert comparison.rows()[0]["every_pair"] is None, "one pair always agrees with itself"
    comparison = Comparison()
    for side, value in [("A", 200.0), ("B", 190.0), ("B", 212.0), ("A", 220.0)]:
        comparison.add(side, {"triage µs": value, "only in A": 1.0} if side == "A" else {"triage µs": value})

    (row,) = comparison.rows()  # a measure missing from a run is left out

    assert (row["A"], row["B"]) == ([200.0, 220.0], [190.0, 212.0])
    assert row["change"] == pytest.approx(-9.0)
    assert row["relative"] == pytest.approx(-9.0 / 210)
    assert row["every_pair"]
    comparison.add("A", {"triage µs": 200.0})
    comparison.add("B", {"triage µs": 230.0})
    assert not comparison.rows()[0]["every_pair"]
    assert "| triage µs | 200 / 220 / 200 | 190 / 212 / 230 | +4 (+1.9%) | no |" in markdown(
        comparison.rows(), "base", "head"
    )
