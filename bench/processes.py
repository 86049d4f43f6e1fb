"""The services under test as subprocesses: metrics ports, RSS and CPU sampling; the benchmark database.

Each service runs as ``python -m <module>`` (the venv's interpreter) with ``HYPERCARE_*`` variables that
point it at the run's topics, consumer group, database and a free port, so that its memory and CPU are
its own process's and can be read from ``/proc``.
"""

import asyncio
import contextlib
import gc
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio as aioredis

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port the kernel considers free now (bound to port 0, then released for the service to take)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process (``VmRSS`` in ``/proc/<pid>/status``), or None once it exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``), or None once it exited."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # After the command name: state is field 3 of stat(5); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


PEERS = ("kafka", "postgresql", "redis")
"""The stack's servers whose CPU the benchmark accounts for besides the services'."""


def _peer_of(pid: str) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as comm_file:
            comm = comm_file.read().strip()
        if comm == "java":
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                return "kafka" if b"kafka.Kafka" in cmdline.read() else None
    except OSError:
        return None
    return {"postgres": "postgresql", "redis-server": "redis"}.get(comm)


def peer_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the Kafka broker, PostgreSQL and Redis processes of this machine.

    Found by process name (``java`` running ``kafka.Kafka``, ``postgres``, ``redis-server``); each
    counts its exited children too (``cutime``/``cstime``), so PostgreSQL backends that ended between two
    samples still count, in the server process. Other load on the same servers counts as well.
    """
    totals = dict.fromkeys(PEERS, 0.0)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or (peer := _peer_of(entry.name)) is None:
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat(5), 12-15 after the command name.
        totals[peer] += sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS
    return totals


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine spent busy so far (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / _CLOCK_TICKS


@dataclass(frozen=True)
class MachineReading:
    """CPU seconds used so far by the whole machine, the stack's servers and this (load-generating)
    process, at a moment: two readings give each one's cores over the time between them."""

    at: float
    busy: float
    peers: dict[str, float]
    bench: float

    @classmethod
    def now(cls) -> "MachineReading":
        """Read everything now."""
        return cls(time.monotonic(), machine_busy_seconds(), peer_cpu_seconds(), time.process_time())

    def seconds_since(self, start: "MachineReading") -> dict[str, float]:
        """CPU seconds used since ``start``: the machine (``busy``), each of :data:`PEERS`, and the
        benchmark process itself (``bench``: its producer, readers and samplers)."""
        return {
            "busy": self.busy - start.busy,
            **{peer: self.peers[peer] - start.peers[peer] for peer in PEERS},
            "bench": self.bench - start.bench,
        }

    def cores_since(self, start: "MachineReading") -> dict[str, float]:
        """:meth:`seconds_since` as cores used on average over the time since ``start``."""
        span = max(self.at - start.at, 1e-9)
        return {who: round(seconds / span, 3) for who, seconds in self.seconds_since(start).items()}


@dataclass
class Service:
    """A running service subprocess and what was sampled from it."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path
    peak_rss_kib: int = 0
    peak_rss_at: str = ""
    rss_by_phase: dict[str, int] = field(default_factory=dict)
    cpu_marks: dict[str, float] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        """The service's process id."""
        return self.process.pid

    def mark_cpu(self, label: str) -> None:
        """Remember the CPU time used so far under a label (phase boundaries)."""
        used = cpu_seconds(self.pid)
        if used is not None:
            self.cpu_marks[label] = used


async def start_service(name: str, module: str, env: Mapping[str, str], log_dir: Path) -> Service:
    """Start ``python -m module`` with the given extra environment and wait for its ``/healthz``.

    Raises:
        RuntimeError: the process exited or did not answer within 60 s (its log path is in the message).
    """
    port = free_port()
    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, **env, "HYPERCARE_HTTP_PORT": str(port), "HYPERCARE_LOG_JSON": "true"}
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, env=full_env, stdout=log, stderr=log, start_new_session=True
        )
    service = Service(name, process, port, log_path)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return service
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                await stop_service(service)
                raise RuntimeError(f"{name} did not answer /healthz within 60 s; see {log_path}")
            await asyncio.sleep(0.2)


async def stop_service(service: Service, *, grace: float = 20.0) -> int | None:
    """SIGTERM the service (its own process only), wait ``grace`` seconds, then SIGKILL; returns its code."""
    if service.process.returncode is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(service.process.wait(), grace)
        except TimeoutError:
            service.process.kill()
            await service.process.wait()
    return service.process.returncode


async def metric_total(service: Service, name: str) -> float:
    """Sum of every sample of one metric on the service's ``/metrics`` (all label sets)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(f"http://127.0.0.1:{service.port}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in {"{", " "}:
            total += float(line.rsplit(" ", 1)[1])
    return total


_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class HistogramReading:
    """One histogram series as scraped: cumulative bucket counts (``le`` -> count) and the sum observed."""

    buckets: dict[float, float]
    total: float


async def histogram_buckets(service: Service, name: str, /, **labels: str) -> HistogramReading:
    """One histogram series (summed over the label sets matching ``labels``) on the service's ``/metrics``."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(f"http://127.0.0.1:{service.port}/metrics")).text
    buckets: dict[float, float] = {}
    total = 0.0
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        found = dict(_LABEL.findall(label_text))
        if not all(found.get(k) == v for k, v in labels.items()):
            continue
        if metric == f"{name}_bucket":
            buckets[float(found["le"])] = buckets.get(float(found["le"]), 0.0) + float(value)
        elif metric == f"{name}_sum":
            total += float(value)
    return HistogramReading(buckets, total)


def bucket_quantiles(
    before: HistogramReading, after: HistogramReading, points: tuple[float, ...] = (0.5, 0.95, 0.99)
) -> dict[str, float]:
    """What was observed between two scrapes: quantiles (ms, as the upper bound of the bucket they fall
    in) and the exact mean (ms, from the sums), which shows changes far smaller than a bucket."""
    bounds = sorted(after.buckets)
    counts = [after.buckets[b] - before.buckets.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    out: dict[str, float] = {"n": total}
    if not total:
        return out
    for point in points:
        bound = next(b for b, c in zip(bounds, counts, strict=True) if c >= point * total)
        out[f"p{round(point * 100)}_le"] = bound * 1000 if bound != float("inf") else float("inf")
    out["mean"] = round((after.total - before.total) / total * 1000, 3)
    return out


class RssSampler:
    """Samples every service's VmRSS every ``interval`` seconds and keeps the peak, overall and per phase."""

    def __init__(self, services: list[Service], *, interval: float = 0.25) -> None:
        self.services = services
        self.interval = interval
        self.phase = "start"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin sampling in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def sample(self) -> None:
        """Take one sample of every service."""
        for service in self.services:
            rss = rss_kib(service.pid)
            if rss is None:
                continue
            if rss > service.peak_rss_kib:
                service.peak_rss_kib, service.peak_rss_at = rss, self.phase
            service.rss_by_phase[self.phase] = max(rss, service.rss_by_phase.get(self.phase, 0))

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)


async def maintenance_during(conn: asyncpg.Connection, since: float, until: float) -> list[str]:
    """PostgreSQL's autovacuum and autoanalyze runs that ended between ``since`` and ``until`` (epoch
    seconds) on the tables of ``conn``'s database, as ``"<table> <vacuum|analyze> +<s>"`` in order.

    After a large backlog the insert-only tables are vacuumed and analyzed, each worker taking a core:
    such runs in the fixed-rate phase explain a latency tail the services did not cause. (Read from
    ``pg_stat_user_tables``, which the tables' owner sees; ``pg_stat_activity`` hides other roles'
    sessions from it.)
    """
    rows = await conn.fetch(
        "SELECT relname, extract(epoch FROM last_autovacuum) AS vacuum,"
        " extract(epoch FROM last_autoanalyze) AS analyze FROM pg_stat_user_tables"
    )
    ended = [
        (float(row[kind]), f"{row['relname']} {kind} +{float(row[kind]) - since:.1f} s")
        for row in rows
        for kind in ("vacuum", "analyze")
        if row[kind] is not None and since <= float(row[kind]) <= until
    ]
    return [text for _, text in sorted(ended)]


_MAINTENANCE_DUE = """
WITH knob AS (
    SELECT max(setting::float8) FILTER (WHERE name = 'autovacuum_vacuum_threshold') AS vt,
           max(setting::float8) FILTER (WHERE name = 'autovacuum_vacuum_scale_factor') AS vs,
           max(setting::float8) FILTER (WHERE name = 'autovacuum_vacuum_insert_threshold') AS it,
           max(setting::float8) FILTER (WHERE name = 'autovacuum_vacuum_insert_scale_factor') AS isf,
           max(setting::float8) FILTER (WHERE name = 'autovacuum_analyze_threshold') AS at,
           max(setting::float8) FILTER (WHERE name = 'autovacuum_analyze_scale_factor') AS asf
    FROM pg_settings WHERE name LIKE 'autovacuum_%'
)
SELECT s.relname,
       s.n_dead_tup > knob.vt + knob.vs * greatest(c.reltuples, 0)
           OR (knob.it >= 0 AND s.n_ins_since_vacuum > knob.it + knob.isf * greatest(c.reltuples, 0))
           AS vacuum,
       s.n_mod_since_analyze > knob.at + knob.asf * greatest(c.reltuples, 0) AS analyze
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid, knob
"""
"""The tables autovacuum would vacuum or analyze now, by the server-wide thresholds of PostgreSQL's
documentation ("The Autovacuum Daemon"): dead tuples, inserts since the last vacuum, changes since
the last analyze, each against a threshold plus a share of the table's estimated rows. (The project's
tables set no storage parameters of their own.)"""


async def maintenance_due(conn: asyncpg.Connection) -> list[str]:
    """The tables of ``conn``'s database that autovacuum would vacuum or analyze now, as
    ``"<table> <vacuum|analyze>"``. A run resets its counters when it ends, so a table stays listed
    while its run is under way."""
    rows = await conn.fetch(_MAINTENANCE_DUE)
    return [
        f"{row['relname']} {kind}"
        for row in sorted(rows, key=lambda r: r["relname"])
        for kind in ("vacuum", "analyze")
        if row[kind]
    ]


REDIS_PREFIX = "hypercare:bench:"
"""Every bench run's triage hints are under ``REDIS_PREFIX<run>``."""


def redis_prefix(run_id: str) -> str:
    """The Redis key prefix of one run's triage hints."""
    return f"{REDIS_PREFIX}{run_id}"


async def drop_redis_keys(url: str, prefix: str) -> int:
    """Delete the Redis keys under ``prefix``, a thousand per round trip; returns how many."""
    client = aioredis.Redis.from_url(url)
    deleted = 0
    batch: list[bytes] = []
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) == 1000:
                deleted += int(await client.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(await client.delete(*batch))
    finally:
        await client.aclose()
    return deleted


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic cycle collection in the bench process inside the block.

    The bench process is the load generator: a full collection over the ~250,000 generated messages
    it holds took 333 ms in the fixed-rate phase, while its producer sent nothing, and the messages
    stamped before the pause or sent in a burst after it made the p99 of that phase (round ten). Real
    producers do not all pause at once. What is alive when the block starts is frozen (collections
    after the block skip it), and the collector is re-enabled at the end.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class OwnCollections:
    """The bench process's own cycle collections inside the block: how many, by generation, and how long
    the longest paused the process (its producer and readers stop meanwhile)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __enter__(self) -> "OwnCollections":
        gc.callbacks.append(self._on_collection)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))

    def summary(self) -> dict[str, float]:
        """``collections``, ``full`` (generation 2) and ``longest_ms``."""
        return {
            "collections": len(self.pauses),
            "full": sum(1 for generation, _ in self.pauses if generation == 2),
            "longest_ms": round(max((seconds for _, seconds in self.pauses), default=0.0) * 1000, 1),
        }


async def settle_maintenance(
    conn: asyncpg.Connection, *, within_s: float = 150.0, every_s: float = 0.5
) -> dict[str, object]:
    """Wait until autovacuum has nothing due on ``conn``'s database (or ``within_s`` passed).

    After a large backlog, the insert-only tables are due for a vacuum and an analyze; autovacuum
    starts them within its naptime (a minute by default) and each takes a core for a while. A
    fixed-rate phase that starts before they ran measures them more than the services.

    Returns:
        ``due`` (what was due at first), ``waited_s`` and ``settled`` (False: the deadline passed
        with ``still_due`` left). With autovacuum off nothing will run: no wait, and
        ``autovacuum: "off"``.
    """
    started = time.monotonic()
    if await conn.fetchval("SELECT current_setting('autovacuum')") != "on":
        return {"due": [], "waited_s": 0.0, "settled": True, "still_due": [], "autovacuum": "off"}
    first = due = await maintenance_due(conn)
    while due and time.monotonic() - started < within_s:
        await asyncio.sleep(every_s)
        due = await maintenance_due(conn)
    return {
        "due": first,
        "waited_s": round(time.monotonic() - started, 1),
        "settled": not due,
        "still_due": due,
    }


def database_url(base_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``base_url`` (same role and password)."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def create_database(base_url: str, name: str) -> str:
    """CREATE DATABASE ``name`` (the role needs CREATEDB); returns its URL."""
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url(base_url, name)


async def drop_database(base_url: str, name: str, *, within_s: float = 30.0) -> None:
    """DROP DATABASE ``name``, disconnecting whoever is still on it.

    FORCE may only end sessions of our own role: an autovacuum worker still busy on the database (it
    runs as the superuser) makes the drop fail, so it is tried again until ``within_s`` has passed.
    """
    conn = await asyncpg.connect(base_url)
    deadline = time.monotonic() + within_s
    try:
        while True:
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await conn.close()
