"""The pipeline phases: saturation (a preloaded backlog drained by the services) and latency at a fixed rate.

Throughput definitions (``docs/performance.md`` repeats them):

* normalizer: raw messages whose offsets the normalizer's group committed, per second; a commit
  happens only after the batch's reports and dead letters were acknowledged by Kafka.
* pipeline (normalizer + triage + persistence): reports stored in PostgreSQL ``reports``, per second,
  taken from the rows' ``stored_at`` (the triage transaction's time): the 10th to the 90th percentile of
  ``stored_at`` over the saturation phase's reports, so that start-up and the tail are excluded.
  The triage group's committed offsets on the normalized topic are sampled as a second view.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from hypercare_contracts import topics
from hypercare_contracts.topics import HEADER_INGESTED_AT

from bench.generate import RawMessage
from bench.passthrough import OffsetWatcher, producer


@dataclass(frozen=True)
class BenchTopics:
    """The run's own topic names; the services are pointed at them instead of the contract names."""

    run: str
    raw: dict[str, str]
    normalized: str
    triaged: str
    deadletter: str
    lifecycle: str
    pass_in: str
    pass_out: str

    @classmethod
    def for_run(cls, run: str) -> "BenchTopics":
        """``bench.<run>.*`` names for every topic the benchmark uses."""
        prefix = f"bench.{run}"
        raw = {role: f"{prefix}.raw.{role.rsplit('.', 1)[1]}" for role in topics.RAW_TOPICS}
        return cls(
            run=run,
            raw=raw,
            normalized=f"{prefix}.normalized",
            triaged=f"{prefix}.triaged",
            deadletter=f"{prefix}.deadletter",
            lifecycle=f"{prefix}.lifecycle",
            pass_in=f"{prefix}.pass.in",
            pass_out=f"{prefix}.pass.out",
        )

    def all(self) -> list[str]:
        """Every topic name."""
        return [
            *self.raw.values(),
            self.normalized,
            self.triaged,
            self.deadletter,
            self.lifecycle,
            self.pass_in,
            self.pass_out,
        ]

    def topic_of(self, message: RawMessage) -> str:
        """The run's topic for a message's raw role."""
        return self.raw[message.role]


@dataclass
class Series:
    """A cumulative count (or CPU seconds) sampled over time."""

    samples: list[tuple[float, float]] = field(default_factory=list)

    def add(self, at: float, count: float) -> None:
        """Append a sample."""
        self.samples.append((at, count))

    def value_at(self, at: float) -> float | None:
        """The value at ``at`` (linear interpolation between samples); None outside the samples."""
        previous: tuple[float, float] | None = None
        for when, value in self.samples:
            if when == at:
                return value
            if when > at:
                if previous is None:
                    return None
                t0, v0 = previous
                return v0 + (value - v0) * (at - t0) / (when - t0)
            previous = (when, value)
        return None

    def rate_between(self, start: float, end: float) -> float | None:
        """How fast the value grew from ``start`` to ``end`` (per second); None outside the samples."""
        first, last = self.value_at(start), self.value_at(end)
        if first is None or last is None or end <= start:
            return None
        return (last - first) / (end - start)

    def crossing(self, level: float) -> float | None:
        """When the count first reached ``level`` (linear interpolation between samples)."""
        previous: tuple[float, float] | None = None
        for at, count in self.samples:
            if count >= level:
                if previous is None or count == previous[1]:
                    return at
                t0, c0 = previous
                return t0 + (at - t0) * (level - c0) / (count - c0)
            previous = (at, count)
        return None

    def sustained_rate(self, total: int, low: float = 0.1, high: float = 0.9) -> float | None:
        """Items per second between reaching ``low`` and ``high`` of ``total``."""
        start, end = self.crossing(total * low), self.crossing(total * high)
        if start is None or end is None or end <= start:
            return None
        return total * (high - low) / (end - start)


Probe = Callable[[], Awaitable[int]]


def busy_while_draining(progress: Series, total: int, cpu: Series) -> float | None:
    """Cores a process used (``cpu``, its CPU seconds) while ``progress`` went from 10 to 90 % of ``total``:
    the same window as :meth:`Series.sustained_rate`, without the start-up and the last batches."""
    start, end = progress.crossing(total * 0.1), progress.crossing(total * 0.9)
    if start is None or end is None:
        return None
    return cpu.rate_between(start, end)


Meter = Callable[[], float | None]
"""A reading sampled beside the probes (a process's CPU seconds); None once it cannot be read."""


async def watch(
    probes: dict[str, tuple[Probe, int]],
    *,
    meters: Mapping[str, Meter] | None = None,
    stall_s: float = 60.0,
    interval: float = 0.25,
) -> dict[str, Series]:
    """Sample every probe until each reached its target; give up when no probe moved for ``stall_s``.

    A slow pipeline is measured however long it takes; a stuck one (a crashed service, lost messages)
    fails after ``stall_s`` without progress. ``meters`` are read at every round of samples too, into
    series of their own names; they neither end the watch nor count as progress.

    Raises:
        TimeoutError: no progress for ``stall_s``; the message has every probe's last count and target.
    """
    meters = meters or {}
    series = {name: Series() for name in (*probes, *meters)}
    last_counts: dict[str, int] = {}
    last_progress = time.monotonic()
    while True:
        # Meters first: each round's readings then span its probes' sampling times.
        for name, meter in meters.items():
            reading = meter()
            if reading is not None:
                series[name].add(time.time(), reading)
        done = True
        for name, (probe, target) in probes.items():
            count = await probe()
            series[name].add(time.time(), count)
            done = done and count >= target
            if last_counts.get(name) != count:
                last_counts[name], last_progress = count, time.monotonic()
        if done:
            return series
        if time.monotonic() - last_progress > stall_s:
            last = {n: (series[n].samples[-1][1], target) for n, (_, target) in probes.items()}
            raise TimeoutError(f"no progress for {stall_s} s (count, target): {last}")
        await asyncio.sleep(interval)


def timeline(series: dict[str, Series], *, every_s: float = 1.0) -> list[dict[str, float]]:
    """The probes' counts about once per ``every_s`` seconds, relative to the first sample."""
    names = list(series)
    if not names or not series[names[0]].samples:
        return []
    start = series[names[0]].samples[0][0]
    rows: list[dict[str, float]] = []
    next_at = start
    for index, (at, _) in enumerate(series[names[0]].samples):
        if at < next_at:
            continue
        rows.append({"t": round(at - start, 2), **{n: series[n].samples[index][1] for n in names}})
        next_at = at + every_s
    return rows


@dataclass(frozen=True)
class Targets:
    """What the services must have done once a phase drained."""

    raw_messages: int
    normalized_reports: int
    dead_letters: int


def progress_probes(
    watcher: OffsetWatcher,
    names: BenchTopics,
    targets: Targets,
    *,
    normalizer_group: str,
    triage_group: str | None,
) -> dict[str, tuple[Probe, int]]:
    """The probes of one phase: normalizer commits, normalized and dead output, triage commits."""
    raw = list(names.raw.values())
    probes: dict[str, tuple[Probe, int]] = {
        "normalizer_committed": (lambda: watcher.committed(normalizer_group, raw), targets.raw_messages),
        "normalized_written": (lambda: watcher.end([names.normalized]), targets.normalized_reports),
        "dead_written": (lambda: watcher.end([names.deadletter]), targets.dead_letters),
    }
    if triage_group is not None:
        probes["triage_committed"] = (
            lambda: watcher.committed(triage_group, [names.normalized]),
            targets.normalized_reports,
        )
    return probes


def percentiles(values: Sequence[float], points: Sequence[float] = (0.5, 0.95, 0.99)) -> dict[str, float]:
    """Nearest-rank percentiles in milliseconds, plus the count (empty input gives only the count)."""
    ordered = sorted(values)
    out: dict[str, float] = {"n": float(len(ordered))}
    if not ordered:
        return out
    for point in points:
        index = min(len(ordered) - 1, max(0, round(point * len(ordered) + 0.5) - 1))
        out[f"p{round(point * 100)}"] = round(ordered[index] * 1000, 2)
    out["max"] = round(ordered[-1] * 1000, 2)
    return out


class OutputLatency:
    """Reads an output topic from its current end and records now - ``hypercare-ingested-at`` per record."""

    def __init__(self, bootstrap: str, topic: str, *, partitions: int, since: float) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000
        )
        self._parts = [TopicPartition(topic, p) for p in range(partitions)]
        self._since = since
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Position at the end of every partition and start reading."""
        await self._consumer.start()
        self._consumer.assign(self._parts)
        await self._consumer.seek_to_end(*self._parts)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                for record in records:
                    stamp = dict(record.headers).get(HEADER_INGESTED_AT)
                    if stamp is not None and float(stamp) >= self._since:
                        self.samples.append(now - float(stamp))


async def produce_at_rate(
    bootstrap: str, messages: Sequence[RawMessage], names: BenchTopics, rate: int
) -> float:
    """Produce the messages at ``rate`` per second (10 ms ticks), each stamped with its send time.

    Returns the achieved rate; lower than asked means the machine could not keep the pace.
    """
    out = producer(bootstrap)
    await out.start()
    futures = []
    started = time.perf_counter()
    sent = 0
    try:
        while sent < len(messages):
            due = min(len(messages), int((time.perf_counter() - started) * rate) + 1)
            for message in messages[sent:due]:
                stamp = f"{time.time():.6f}".encode()
                futures.append(
                    await out.send(
                        names.topic_of(message),
                        message.value,
                        key=message.key,
                        headers=[(HEADER_INGESTED_AT, stamp)],
                    )
                )
            sent = due
            await asyncio.sleep(0.01)
        await asyncio.gather(*futures)
    finally:
        await out.stop()
    return len(messages) / (time.perf_counter() - started)


async def stored_throughput(conn: asyncpg.Connection, *, before: datetime) -> dict[str, Any]:
    """Reports persisted per second during saturation, from ``stored_at`` (10th to 90th percentile)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n,"
        " extract(epoch FROM percentile_disc(0.1) WITHIN GROUP (ORDER BY stored_at)) AS t10,"
        " extract(epoch FROM percentile_disc(0.9) WITHIN GROUP (ORDER BY stored_at)) AS t90,"
        " extract(epoch FROM min(stored_at)) AS first, extract(epoch FROM max(stored_at)) AS last"
        " FROM reports WHERE received_at < $1",
        before,
    )
    assert row is not None
    n, t10, t90 = int(row["n"]), row["t10"], row["t90"]
    sustained = 0.8 * n / float(t90 - t10) if n and t90 is not None and t90 > t10 else None
    span = float(row["last"] - row["first"]) if n else 0.0
    return {"reports": n, "sustained_per_s": sustained, "first_to_last_s": round(span, 2)}


async def stored_latency_by_second(conn: asyncpg.Connection, *, since: datetime) -> list[dict[str, float]]:
    """raw→persisted per second of arrival since ``since``: each second's count, p50, p99 and worst, in ms.

    Tells a tail spread over the whole phase (the pipeline's cycle) from one made by a few seconds
    (a collection, a checkpoint, another process taking the cores).
    """
    rows = await conn.fetch(
        "SELECT floor(extract(epoch FROM received_at - $1))::int AS second, count(*) AS n,"
        " percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM stored_at - received_at)) AS p,"
        " extract(epoch FROM max(stored_at - received_at)) AS worst"
        " FROM reports WHERE received_at >= $1 GROUP BY 1 ORDER BY 1",
        since,
    )
    return [
        {
            "second": float(row["second"]),
            "n": float(row["n"]),
            "p50": round(float(row["p"][0]) * 1000, 2),
            "p99": round(float(row["p"][1]) * 1000, 2),
            "max": round(float(row["worst"]) * 1000, 2),
        }
        for row in rows
    ]


async def stored_latency(
    conn: asyncpg.Connection, *, since: datetime, until: datetime | None = None
) -> dict[str, float]:
    """raw→persisted per stored report: ``stored_at - received_at`` percentiles in ms."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM stored_at - received_at)) AS p, max(stored_at - received_at) AS worst"
        " FROM reports WHERE received_at >= $1 AND received_at < $2",
        since,
        until or datetime.now(UTC),
    )
    assert row is not None
    if not row["n"]:
        return {"n": 0.0}
    p50, p95, p99 = (round(float(v) * 1000, 2) for v in row["p"])
    return {
        "n": float(row["n"]),
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "max": round(row["worst"].total_seconds() * 1000, 2),
    }
