"""Playing a scenario on a fake clock, and deciding when the pipeline has drained."""

from datetime import UTC, datetime

import pytest
from hypercare_cli.scenario.drain import DrainCheck, is_drained, pipeline_lag
from hypercare_cli.scenario.model import Message
from hypercare_cli.scenario.script import build_scenario
from hypercare_cli.scenario.timeline import Delivery, play

pytestmark = pytest.mark.unit

START = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
RAW = ("hypercare.raw.tickets", 0)
NORMALIZED = ("hypercare.issues.normalized", 0)


class FakeClock:
    """Monotonic time that only moves when the player sleeps (or a send takes time)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class RecordingSink:
    """Accepts everything except the deliberately bad messages; records when each arrived."""

    def __init__(self, clock: FakeClock, *, send_seconds: float = 0.0) -> None:
        self.clock = clock
        self.send_seconds = send_seconds
        self.arrivals: list[tuple[float, Message]] = []

    async def send(self, message: Message) -> Delivery:
        self.arrivals.append((self.clock.now - 100.0, message))
        self.clock.now += self.send_seconds
        if message.deliberately_bad:
            return Delivery(accepted=False, status="HTTP 400")
        return Delivery(accepted=True)


async def test_every_message_goes_out_at_its_time_with_one_line_per_beat() -> None:
    scenario = build_scenario(seed=7, started_at=START, run_id="p1", speed=3)
    clock = FakeClock()
    sink = RecordingSink(clock)
    lines: list[str] = []
    played = await play(scenario, sink, progress=lines.append, clock=clock, sleep=clock.sleep)

    assert [m for _, m in sink.arrivals] == scenario.messages
    assert all(abs(at - m.at) < 1e-9 for at, m in sink.arrivals)
    beat_lines = [line for line in lines if not line.startswith(" ")]
    assert [line.split("s  ", 1)[1] for line in beat_lines] == [beat.title for beat in scenario.beats]
    assert beat_lines[0].startswith("+  0.")
    assert played.rejections() == {"HTTP 400": 2}
    refusals = [line for line in lines if "refused" in line]
    assert len(refusals) == 2
    assert all("deliberately bad" in line for line in refusals)


async def test_a_slow_sink_does_not_stretch_the_schedule() -> None:
    scenario = build_scenario(seed=7, started_at=START, run_id="p2", speed=6)
    clock = FakeClock()
    sink = RecordingSink(clock, send_seconds=0.05)
    await play(scenario, sink, progress=lambda _: None, clock=clock, sleep=clock.sleep)
    last_at, last = sink.arrivals[-1]
    assert last_at < last.at + 1.0
    assert all(at >= m.at - 1e-9 for at, m in sink.arrivals)


def test_a_group_still_behind_is_lagging() -> None:
    lag = pipeline_lag(
        at_start={"hypercare-normalizer": {RAW: 5}},
        start_ends={RAW: 6},
        now={"hypercare-normalizer": {RAW: 8}},
        end_offsets={RAW: 10},
    )
    assert lag.behind == {"hypercare-normalizer": 2}
    assert lag.idle == ()


def test_groups_that_caught_up_are_not_lagging() -> None:
    now = {"hypercare-normalizer": {RAW: 10}, "hypercare-triage": {NORMALIZED: 4}}
    lag = pipeline_lag(at_start={}, start_ends={}, now=now, end_offsets={RAW: 10, NORMALIZED: 4})
    assert lag.behind == {}


def test_a_group_behind_since_before_the_run_that_never_moves_is_idle() -> None:
    start = {"hypercare-old-normalizer": {RAW: 3}}
    lag = pipeline_lag(at_start=start, start_ends={RAW: 6}, now=start, end_offsets={RAW: 10})
    assert lag.behind == {}
    assert lag.idle == ("hypercare-old-normalizer",)


def test_a_group_caught_up_at_the_start_that_stopped_moving_still_counts() -> None:
    start = {"hypercare-triage": {NORMALIZED: 4}}
    lag = pipeline_lag(at_start=start, start_ends={NORMALIZED: 4}, now=start, end_offsets={NORMALIZED: 9})
    assert lag.behind == {"hypercare-triage": 5}


@pytest.mark.parametrize(
    ("behind", "quiet", "drained"),
    [({}, 5.0, True), ({}, 1.0, False), ({"hypercare-triage": 1}, 30.0, False)],
)
def test_drained_needs_no_lag_and_quiet_outputs(behind: dict[str, int], quiet: float, drained: bool) -> None:
    assert is_drained(DrainCheck(lag=behind, quiet_seconds=quiet), settle_seconds=4.0) is drained
