#!/usr/bin/env python3
"""Hypercare's local stack without Docker: Kafka (KRaft, from Maven Central jars), PostgreSQL, Redis.

    python3 deploy/stack/stack.py install   # Debian packages, uv, Kafka jars, `uv sync` (idempotent)
    python3 deploy/stack/stack.py up        # start (or reuse) Kafka, PostgreSQL, Redis; create the topics
    python3 deploy/stack/stack.py down      # stop what `up` (and `make up`) started, by recorded pid only
    python3 deploy/stack/stack.py status    # what runs where; exit 3 when a part is down
    python3 deploy/stack/stack.py topics    # create the topics of deploy/stack/topics.txt if missing

    python3 deploy/stack/stack.py services-up    # used by `make up`: honcho + Procfile, wait for /healthz
    python3 deploy/stack/stack.py services-down  # used by `make down` (also part of `down`)

Standard library only (it runs before `uv sync`). Data and logs live under `.stack/` at the repository root
(or $HYPERCARE_STACK_DIR); Kafka's jars under `.cache/kafka/lib`. Endpoints come from the environment:

    HYPERCARE_KAFKA_BOOTSTRAP   default 127.0.0.1:9092   (controller listener on port+1, or
                                                          $HYPERCARE_KAFKA_CONTROLLER_PORT)
    HYPERCARE_DATABASE_URL      default postgresql://hypercare:hypercare@127.0.0.1:5432/hypercare
    HYPERCARE_REDIS_URL         default redis://127.0.0.1:6379/0

When something already answers on a configured port it is reused, never started twice, and `down` leaves it
alone. Everything `up` starts is recorded in `.stack/pids/` and stopped by that pid, never by name.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "deploy" / "stack"
KAFKA_CONF = HERE / "kafka"
TOPICS_FILE = HERE / "topics.txt"
PROCFILE = ROOT / "Procfile"
CACHE = ROOT / ".cache" / "kafka"
KAFKA_LIB = CACHE / "lib"
KAFKA_MARKER = CACHE / ".installed"


def _stack_dir() -> Path:
    raw = os.environ.get("HYPERCARE_STACK_DIR")
    if not raw:
        return ROOT / ".stack"
    path = Path(raw).expanduser()
    return (path if path.is_absolute() else ROOT / path).resolve()


STACK = _stack_dir()
PIDS = STACK / "pids"
LOGS = STACK / "logs"

DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_DATABASE_URL = "postgresql://hypercare:hypercare@127.0.0.1:5432/hypercare"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

APT_PACKAGES = ("postgresql", "redis-server", "kcat", "prometheus", "prometheus-alertmanager")
KAFKA_READY_SECONDS = 90.0
SERVICES_READY_SECONDS = 180.0
# Topics get 6 partitions (the broker's num.partitions) unless listed here or given as "name N" in topics.txt.
PARTITION_OVERRIDES = {"hypercare.notifications": 3, "hypercare.deadletter": 3}
DEFAULT_PARTITIONS = 6
# Health ports of the services the Procfile starts (each serves /healthz, /readyz, /metrics).
SERVICE_HEALTH_PORTS = {"gateway": 8080, "sla": 8081, "normalizer": 9101, "triage": 9102, "notifier": 9104}


class StackError(Exception):
    """A failure to report in one line (plus whatever was printed before) and exit non-zero."""


# --------------------------------------------------------------------------------------------- small helpers


def say(message: str) -> None:
    print(f"stack: {message}", flush=True)


def rel(path: Path) -> str:
    """A path as short as it can be shown: relative to the repository root when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def run(
    cmd: Sequence[str],
    *,
    check: bool = True,
    capture: bool = False,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin_text: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(cmd),
            check=False,
            cwd=cwd,
            env=env,
            text=True,
            input=stdin_text,
            stdin=None if stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        if check:
            raise StackError(f"timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc
        return subprocess.CompletedProcess(list(cmd), 124, "", "timeout")
    except FileNotFoundError as exc:
        if check:
            raise StackError(f"command not found: {cmd[0]}") from exc
        return subprocess.CompletedProcess(list(cmd), 127, "", f"command not found: {cmd[0]}")
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip() if capture else ""
        raise StackError(f"failed ({proc.returncode}): {' '.join(cmd)}" + (f"\n{detail}" if detail else ""))
    return proc


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_local(host: str) -> bool:
    return host in {"localhost", "::1", "0.0.0.0"} or host.startswith("127.")


def bind_host(host: str) -> str:
    return "127.0.0.1" if host in {"localhost", "0.0.0.0"} else host


def tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {rel(path)})"
    return "\n".join(data.splitlines()[-lines:])


def fail_with_log(message: str, log: Path) -> NoReturn:
    print(f"----- last lines of {rel(log)} -----\n{tail(log)}\n-----", file=sys.stderr, flush=True)
    raise StackError(message)


def wait_until(what: str, predicate: Callable[[], bool], deadline_s: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + deadline_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# ----------------------------------------------------------------------------------------- processes by pid


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name sits in parentheses and may contain spaces: split after its closing one.
    return raw[raw.rfind(")") + 2 :].split()


def pid_alive(pid: int | None) -> bool:
    """Alive and not a zombie (nothing may reap orphans in a container whose pid 1 is not an init)."""
    if not pid or pid <= 0:
        return False
    stat = _proc_stat(pid)
    if stat is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat[0] not in {"Z", "X"}


def pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def pid_is(pid: int | None, needle: str) -> bool:
    """The pid is alive and still the process we recorded (guards against pid reuse)."""
    return pid is not None and pid_alive(pid) and needle in pid_cmdline(pid)


def pid_file(name: str) -> Path:
    return PIDS / f"{name}.pid"


def read_pid(name: str) -> int | None:
    try:
        return int(pid_file(name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_pid(name: str, pid: int) -> None:
    PIDS.mkdir(parents=True, exist_ok=True)
    pid_file(name).write_text(f"{pid}\n")


def remove_pid(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        pid_file(name).unlink()


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                kids.setdefault(int(stat[1]), []).append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    kids, out, todo = children_map(), [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def group_members(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and int(stat[2]) == pgid and stat[0] not in {"Z", "X"}:
                out.append(int(entry.name))
    return out


def terminate(pids: Sequence[int], label: str, grace_s: float, pgid: int | None = None) -> None:
    """SIGTERM (the process group when given), wait up to grace_s, then SIGKILL whatever is left."""

    def alive() -> list[int]:
        left = {p for p in pids if pid_alive(p)}
        if pgid is not None:
            left.update(group_members(pgid))
        return sorted(left)

    def signal_all(sig: signal.Signals) -> None:
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        for p in alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, sig)

    if not alive():
        return
    signal_all(signal.SIGTERM)
    if wait_until(label, lambda: not alive(), grace_s, 0.1):
        return
    say(f"{label}: still running after {grace_s:.0f}s, sending SIGKILL to {alive()}")
    signal_all(signal.SIGKILL)
    if not wait_until(label, lambda: not alive(), 5.0, 0.1):
        raise StackError(f"{label}: could not stop {alive()}")


def spawn_detached(cmd: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> int:
    """Start a process in its own session with all output to `log`; it outlives this script."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} stack.py starts: {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


@contextlib.contextmanager
def stack_lock() -> Iterator[None]:
    """Serialise up/down/topics so two concurrent `make test` runs do not both start a broker."""
    STACK.mkdir(parents=True, exist_ok=True)
    STACK.chmod(0o755)  # PostgreSQL runs as `postgres` and must traverse .stack
    with (STACK / ".lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("waiting for another stack.py run to finish ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# ------------------------------------------------------------------------------------------------ endpoints


@dataclass(frozen=True)
class Kafka:
    host: str
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Postgres:
    url: str
    user: str
    password: str
    host: str
    port: int
    database: str


@dataclass(frozen=True)
class Redis:
    url: str
    host: str
    port: int
    password: str | None


def kafka_endpoint() -> Kafka:
    first = os.environ.get("HYPERCARE_KAFKA_BOOTSTRAP", DEFAULT_KAFKA).split(",")[0].strip()
    first = first.split("://", 1)[-1]
    host, _, port = first.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise StackError(f"HYPERCARE_KAFKA_BOOTSTRAP must be host:port, got {first!r}")
    controller = int(os.environ.get("HYPERCARE_KAFKA_CONTROLLER_PORT") or int(port) + 1)
    return Kafka(host, int(port), controller)


def postgres_endpoint() -> Postgres:
    url = os.environ.get("HYPERCARE_DATABASE_URL", DEFAULT_DATABASE_URL)
    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres"} and not parts.scheme.startswith("postgresql+"):
        raise StackError(f"HYPERCARE_DATABASE_URL must be a postgresql:// URL, got {url!r}")
    user = unquote(parts.username or "hypercare")
    database = unquote(parts.path.lstrip("/")) or user
    # psql understands postgresql:// only (not SQLAlchemy's postgresql+driver://).
    libpq_url = "postgresql://" + url.split("://", 1)[1]
    return Postgres(
        libpq_url,
        user,
        unquote(parts.password or ""),
        parts.hostname or "127.0.0.1",
        parts.port or 5432,
        database,
    )


def redis_endpoint() -> Redis:
    url = os.environ.get("HYPERCARE_REDIS_URL", DEFAULT_REDIS_URL)
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        raise StackError(f"HYPERCARE_REDIS_URL must be a redis:// URL, got {url!r}")
    return Redis(
        url, parts.hostname or "127.0.0.1", parts.port or 6379, unquote(parts.password or "") or None
    )


# ------------------------------------------------------------------------------------------------- install


def _missing_debs(packages: Sequence[str]) -> list[str]:
    proc = run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *packages], check=False, capture=True
    )
    installed = {line.split()[0] for line in (proc.stdout or "").splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def install_debian_packages() -> None:
    if not shutil.which("dpkg-query"):
        say("not a Debian system: install PostgreSQL, Redis, kcat, Prometheus and Alertmanager yourself")
        return
    wanted = list(APT_PACKAGES)
    if not shutil.which("java"):
        wanted.append("openjdk-17-jdk-headless")
    if not shutil.which("mvn"):
        wanted.append("maven")
    missing = _missing_debs(wanted)
    if not missing:
        say(f"Debian packages present: {' '.join(APT_PACKAGES)}")
        return
    if os.geteuid() != 0:
        raise StackError(
            f"missing Debian packages {' '.join(missing)}: run as root or `sudo apt-get install`"
        )
    say(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "a"}
    # Without an init system apt would still try to start postgresql's `main` cluster, redis and prometheus
    # on their default ports (the very ports our own stack wants); a policy-rc.d answering 101 prevents that.
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text(
            "#!/bin/sh\n# written by hypercare deploy/stack/stack.py during apt-get install\nexit 101\n"
        )
        policy.chmod(0o755)
    try:
        run(["apt-get", "update"], env=env)
        run(
            [
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                "-o",
                "Dpkg::Options::=--force-confold",
                *missing,
            ],
            env=env,
        )
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)
    still = _missing_debs(missing)
    if still:
        raise StackError(f"apt-get did not install: {' '.join(still)}")


def install_uv() -> None:
    if shutil.which("uv"):
        say(f"uv present: {shutil.which('uv')}")
        return
    say("installing uv from PyPI")
    base = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "uv"]
    if run(base, check=False).returncode != 0:
        # Debian's own python3 is "externally managed" (PEP 668).
        run([*base, "--break-system-packages"])
    if shutil.which("pyenv"):
        run(["pyenv", "rehash"], check=False)
    if not shutil.which("uv"):
        found = run([sys.executable, "-m", "uv", "--version"], check=False, capture=True)
        scripts = Path(sys.executable).parent
        raise StackError(
            f"uv was installed ({(found.stdout or '').strip()}) but is not on PATH: add {scripts} "
            "(or ~/.local/bin) to PATH"
        )


def _pom_digest() -> str:
    digest = hashlib.sha256()
    for name in ("pom.xml",):
        digest.update((KAFKA_CONF / name).read_bytes())
    return digest.hexdigest()


def kafka_jars_ready() -> bool:
    try:
        return KAFKA_MARKER.read_text().strip() == _pom_digest() and any(KAFKA_LIB.glob("kafka_2.13-*.jar"))
    except OSError:
        return False


def install_kafka_jars() -> None:
    if kafka_jars_ready():
        say(f"Kafka jars present: {rel(KAFKA_LIB)}")
        return
    if not shutil.which("mvn"):
        raise StackError("Maven (mvn) is needed to fetch Kafka's jars from Maven Central")
    say("fetching Kafka 4.1.1 jars from Maven Central (mvn dependency:copy-dependencies)")
    shutil.rmtree(KAFKA_LIB, ignore_errors=True)
    KAFKA_MARKER.unlink(missing_ok=True)
    KAFKA_LIB.mkdir(parents=True, exist_ok=True)
    run(
        [
            "mvn", "-q", "-B", "-f", str(KAFKA_CONF / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={KAFKA_LIB}",
        ],
        cwd=KAFKA_CONF,
        capture=True,  # mvn -q still prints ANSI resets; its output is shown only when it fails
    )  # fmt: skip
    if not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        raise StackError(f"mvn ran but {rel(KAFKA_LIB)} has no kafka_2.13 jar")
    KAFKA_MARKER.write_text(_pom_digest() + "\n")
    say(f"Kafka jars: {len(list(KAFKA_LIB.glob('*.jar')))} in {rel(KAFKA_LIB)}")


def uv_sync() -> None:
    say("uv sync --all-packages --frozen")
    run(["uv", "sync", "--all-packages", "--frozen"], cwd=ROOT)


def cmd_install(_: argparse.Namespace) -> None:
    started = time.monotonic()
    install_debian_packages()
    install_uv()
    install_kafka_jars()
    uv_sync()
    say(f"install done in {time.monotonic() - started:.1f}s")


# --------------------------------------------------------------------------------------------------- Kafka


def java_cmd(main: str, *args: str, tool: bool = True) -> list[str]:
    if tool:  # short-lived CLI: start fast, log warnings only
        jvm = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dhypercare.kafka.log.level=WARN"]
    else:
        heap = os.environ.get("KAFKA_HEAP_OPTS", "-Xms512m -Xmx1g").split()
        jvm = [
            *heap, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={LOGS}",
        ]  # fmt: skip
    return [
        "java", *jvm, f"-Dlog4j2.configurationFile={KAFKA_CONF / 'log4j2.xml'}",
        "-cp", f"{KAFKA_LIB}/*", main, *args,
    ]  # fmt: skip


def kafka_metadata(kafka: Kafka, timeout_s: int = 3) -> dict[str, int] | None:
    """Topic -> partition count from a real metadata request (kcat); None when the broker does not answer."""
    proc = run(
        ["kcat", "-b", kafka.bootstrap, "-L", "-J", "-m", str(timeout_s)],
        check=False,
        capture=True,
        timeout=timeout_s + 10,
    )
    if proc.returncode != 0:
        return None
    try:
        meta = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None
    if not meta.get("brokers"):
        return None
    return {t["topic"]: len(t.get("partitions", [])) for t in meta.get("topics", []) if not t.get("error")}


def wanted_topics() -> list[tuple[str, int]]:
    topics = []
    for raw in TOPICS_FILE.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, *rest = line.split()
        partitions = int(rest[0]) if rest else PARTITION_OVERRIDES.get(name, DEFAULT_PARTITIONS)
        topics.append((name, partitions))
    return topics


def kafka_dirs() -> tuple[Path, Path, Path]:
    base = STACK / "kafka"
    return base, base / "data", base / "server.properties"


def cluster_id(base: Path, data: Path) -> str:
    id_file = base / "cluster.id"
    meta = data / "meta.properties"
    if meta.exists():  # the data directory is the truth; keep the id file in step with it
        for line in meta.read_text().splitlines():
            if line.startswith("cluster.id="):
                cid = line.split("=", 1)[1].strip()
                if not id_file.exists() or id_file.read_text().strip() != cid:
                    id_file.write_text(cid + "\n")
                return cid
    if id_file.exists() and id_file.read_text().strip():
        return id_file.read_text().strip()
    # What `kafka-storage.sh random-uuid` prints (org.apache.kafka.common.Uuid): 16 random bytes, URL-safe
    # base64 without padding, never starting with '-'. Made here to spare a JVM start.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            break
    id_file.write_text(cid + "\n")
    return cid


def start_kafka(kafka: Kafka) -> int:
    if not is_local(kafka.host):
        raise StackError(
            f"Kafka at {kafka.bootstrap} does not answer, and it is not a local address to start on"
        )
    if port_open(bind_host(kafka.host), kafka.controller_port):
        raise StackError(
            f"port {kafka.controller_port} (Kafka controller listener) is taken by another process; "
            "free it or set HYPERCARE_KAFKA_CONTROLLER_PORT"
        )
    base, data, props = kafka_dirs()
    data.mkdir(parents=True, exist_ok=True)
    template = string.Template((KAFKA_CONF / "server.properties.template").read_text())
    props.write_text(
        template.substitute(
            host=bind_host(kafka.host),
            advertised_host=kafka.host,
            port=kafka.port,
            controller_port=kafka.controller_port,
            data_dir=data,
        )
    )
    cid = cluster_id(base, data)
    if not (data / "meta.properties").exists():
        say(f"kafka: formatting {rel(data)} (cluster id {cid})")
        run(java_cmd("kafka.tools.StorageTool", "format", "-g", "-t", cid, "-c", str(props)), capture=True)
    pid = spawn_detached(java_cmd("kafka.Kafka", str(props), tool=False), LOGS / "kafka.log", cwd=base)
    write_pid("kafka", pid)
    say(f"kafka: started pid {pid} on {kafka.bootstrap} (controller :{kafka.controller_port}), cluster {cid}")
    return pid


def wait_kafka(kafka: Kafka, pid: int | None) -> dict[str, int]:
    deadline = time.monotonic() + KAFKA_READY_SECONDS
    log = LOGS / "kafka.log"
    while True:
        if pid is not None and not pid_alive(pid):
            remove_pid("kafka")
            fail_with_log(f"kafka (pid {pid}) exited during start-up", log)
        meta = kafka_metadata(kafka, timeout_s=2) if port_open(kafka.host, kafka.port) else None
        if meta is not None:
            return meta
        if time.monotonic() >= deadline:
            if pid is None:
                raise StackError(f"something answers on {kafka.bootstrap} but it is not a Kafka broker")
            fail_with_log(f"kafka did not answer a metadata request within {KAFKA_READY_SECONDS:.0f}s", log)
        time.sleep(0.5)


def ensure_topics(kafka: Kafka, meta: dict[str, int] | None = None) -> None:
    wanted = wanted_topics()
    meta = meta if meta is not None else kafka_metadata(kafka)
    if meta is None:
        raise StackError(f"Kafka at {kafka.bootstrap} does not answer: run `stack.py up` first")
    missing = [(name, parts) for name, parts in wanted if name not in meta]
    for name, parts in wanted:
        if name in meta and meta[name] < parts:
            say(f"topics: {name} has {meta[name]} partitions, topics.txt wants {parts} (left as it is)")
    if not missing:
        say(f"topics: all {len(wanted)} present")
        return
    say(f"topics: creating {len(missing)}: {' '.join(name for name, _ in missing)}")
    # One JVM per topic (TopicCommand takes one --topic); run them two at a time on this 2-core budget.
    pending = list(missing)
    running: list[tuple[str, subprocess.Popen[str]]] = []
    errors = []
    while pending or running:
        while pending and len(running) < max(2, min(4, os.cpu_count() or 2)):
            name, parts = pending.pop(0)
            cmd = java_cmd(
                "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", kafka.bootstrap, "--create",
                "--if-not-exists", "--topic", name, "--partitions", str(parts), "--replication-factor", "1",
            )  # fmt: skip
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            running.append((name, proc))
        name, proc = running.pop(0)
        out, _ = proc.communicate()
        if proc.returncode != 0:
            errors.append(f"{name}: {out.strip()}")
    if errors:
        raise StackError("topic creation failed:\n" + "\n".join(errors))
    after = kafka_metadata(kafka) or {}
    still = [name for name, _ in wanted if name not in after]
    if still:
        raise StackError(f"topics still missing after creation: {' '.join(still)}")
    say(f"topics: all {len(wanted)} present")


# ------------------------------------------------------------------------------------------------ Postgres


def pg_bindir() -> Path:
    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")]
    if candidates:

        def version(path: Path) -> tuple[int, str]:
            name = path.parent.name
            return (int(name) if name.isdigit() else 0, name)

        return max(candidates, key=version)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise StackError(
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): run `stack.py install`"
    )


def _running_as_root() -> bool:
    return os.geteuid() == 0


def as_postgres(cmd: Sequence[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` OS user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if _running_as_root() else list(cmd)


def chown_postgres(*paths: Path) -> None:
    if not _running_as_root():
        return
    entry = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def pg_paths() -> tuple[Path, Path, Path, Path]:
    """(base, data, socket dir, log) for our own cluster.

    Normally under .stack/postgres. When the `postgres` user cannot reach .stack (a checkout below a 0700
    home, say), the cluster lives in /var/lib/postgresql/hypercare/<hash of .stack> instead.
    """
    base = STACK / "postgres"
    log = LOGS / "postgres.log"
    if _running_as_root():
        STACK.mkdir(parents=True, exist_ok=True)
        STACK.chmod(0o755)
        reachable = (
            run(as_postgres(["test", "-x", str(STACK)]), check=False, capture=True, cwd=Path("/")).returncode
            == 0
        )
        if not reachable:
            tag = hashlib.sha256(str(STACK).encode()).hexdigest()[:10]
            base = Path("/var/lib/postgresql/hypercare") / tag
            log = base / "postgres.log"
    sock = base / "run"
    if len(str(sock)) > 90:  # unix socket paths are limited to 107 bytes
        sock = Path("/tmp") / f"hypercare-pg-{hashlib.sha256(str(base).encode()).hexdigest()[:10]}"
    return base, base / "data", sock, log


def pg_ctl_env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


def psql_ok(pg: Postgres) -> bool:
    proc = run(
        ["psql", pg.url, "-X", "-q", "-t", "-A", "-c", "select 1"],
        check=False,
        capture=True,
        env={**os.environ, "PGCONNECT_TIMEOUT": "3"},
        timeout=15,
    )
    return proc.returncode == 0 and proc.stdout.strip() == "1"


ENSURE_ROLE_SQL = r"""
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'hc_user', :'hc_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'hc_user') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'hc_user', :'hc_password') WHERE :'hc_alter' = 'yes' \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'hc_db', :'hc_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'hc_db') \gexec
"""


def pg_ensure_role(pg: Postgres, socket_args: Sequence[str], *, ours: bool) -> bool:
    cmd = as_postgres(
        [
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *socket_args, "-p", str(pg.port), "-d", "postgres",
            "-v", f"hc_user={pg.user}", "-v", f"hc_password={pg.password}", "-v", f"hc_db={pg.database}",
            "-v", f"hc_alter={'yes' if ours else 'no'}", "-f", "-",
        ]
    )  # fmt: skip
    proc = run(cmd, check=False, capture=True, stdin_text=ENSURE_ROLE_SQL, cwd=Path("/"), timeout=30)
    if proc.returncode != 0 and ours:
        raise StackError(f"could not create role/database {pg.user}/{pg.database}:\n{proc.stderr.strip()}")
    return proc.returncode == 0


def pg_write_conf(pg: Postgres, data: Path, sock: Path) -> None:
    conf = data / "hypercare.conf"
    conf.write_text(
        "# Written by deploy/stack/stack.py on every `up`: a dev/test cluster, durability traded for speed.\n"
        f"listen_addresses = '{bind_host(pg.host)}'\n"
        f"port = {pg.port}\n"
        f"unix_socket_directories = '{sock}'\n"
        "max_connections = 200\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
        "shared_buffers = 128MB\n"
        "log_timezone = 'UTC'\n"
        "timezone = 'UTC'\n"
    )
    chown_postgres(conf)
    main_conf = data / "postgresql.conf"
    include = "include_if_exists = 'hypercare.conf'"
    if include not in main_conf.read_text():
        with main_conf.open("a") as fh:
            fh.write(f"\n# Hypercare local stack settings (deploy/stack/stack.py)\n{include}\n")


def start_postgres(pg: Postgres) -> int:
    if not is_local(pg.host):
        raise StackError(
            f"PostgreSQL at {pg.host}:{pg.port} does not answer, and it is not local to start on"
        )
    bindir = pg_bindir()
    base, data, sock, log = pg_paths()
    for path in (base, sock):
        path.mkdir(parents=True, exist_ok=True)
        chown_postgres(path)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    chown_postgres(log)
    if not (data / "PG_VERSION").exists():
        say(f"postgres: initdb {rel(data)} ({bindir.parent.name})")
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        chown_postgres(data)
        run(
            as_postgres(
                [
                    str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                    "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync",
                ]
            ),
            capture=True,
            cwd=base,
            env=pg_ctl_env(),
        )  # fmt: skip
    pg_write_conf(pg, data, sock)
    stale = data / "postmaster.pid"
    if stale.exists():  # left by a killed server; a reused pid would make postgres refuse to start
        with contextlib.suppress(OSError, ValueError, IndexError):
            old = int(stale.read_text().split()[0])
            if not pid_is(old, "postgres"):
                stale.unlink()
    proc = run(
        as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"]),
        check=False,
        capture=True,
        cwd=base,
        env=pg_ctl_env(),
    )
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        fail_with_log("pg_ctl start failed", log)
    pid = int((data / "postmaster.pid").read_text().split()[0])
    write_pid("postgres", pid)
    say(f"postgres: started pid {pid} on {bind_host(pg.host)}:{pg.port}, data {rel(data)}")
    pg_ensure_role(pg, ["-h", str(sock)], ours=True)
    return pid


def up_postgres(pg: Postgres) -> str:
    pid = read_pid("postgres")
    if pid_is(pid, "postgres"):
        _, _, sock, log = pg_paths()
        if not wait_until("postgres", lambda: port_open(pg.host, pg.port), 30):
            fail_with_log(f"our postgres (pid {pid}) does not answer on {pg.port}", log)
        pg_ensure_role(pg, ["-h", str(sock)], ours=True)
        state = f"ours, already running (pid {pid})"
    elif port_open(pg.host, pg.port):
        remove_pid("postgres")
        # Reuse: a local superuser session (socket, as `postgres`) creates what is missing, if it can.
        if is_local(pg.host) and shutil.which("runuser" if _running_as_root() else "psql"):
            pg_ensure_role(pg, [], ours=False)
        state = "reused (already answering, not ours)"
    else:
        pid = start_postgres(pg)
        state = f"ours, started (pid {pid})"
    if not wait_until("postgres", lambda: psql_ok(pg), 30, 0.5):
        raise StackError(f"`psql {pg.url} -c 'select 1'` fails: is the role/password/database right?")
    return state


def stop_postgres() -> None:
    pid = read_pid("postgres")
    if pid is None:
        return
    if pid_is(pid, "postgres"):
        _, data, _, _ = pg_paths()
        say(f"postgres: pg_ctl stop -m fast (pid {pid})")
        run(
            as_postgres(
                [str(pg_bindir() / "pg_ctl"), "-D", str(data), "stop", "-m", "fast", "-w", "-t", "30"]
            ),
            check=False,
            capture=True,
            cwd=Path("/"),
        )
        terminate([pid], "postgres", 10.0)
    remove_pid("postgres")


# --------------------------------------------------------------------------------------------------- Redis


def redis_cli(redis: Redis, *args: str) -> list[str]:
    auth = ["-a", redis.password, "--no-auth-warning"] if redis.password else []
    return ["redis-cli", "-h", redis.host, "-p", str(redis.port), *auth, *args]


def redis_ok(redis: Redis) -> bool:
    proc = run(redis_cli(redis, "ping"), check=False, capture=True, timeout=10)
    return proc.returncode == 0 and proc.stdout.strip() == "PONG"


def start_redis(redis: Redis) -> int:
    if not is_local(redis.host):
        raise StackError(
            f"Redis at {redis.host}:{redis.port} does not answer, and it is not local to start on"
        )
    data = STACK / "redis"
    data.mkdir(parents=True, exist_ok=True)
    cmd = [
        "redis-server", "--port", str(redis.port), "--bind", bind_host(redis.host), "--daemonize", "no",
        "--save", "", "--appendonly", "no", "--dir", str(data), "--pidfile", str(data / "redis.pid"),
    ]  # fmt: skip
    if redis.password:
        cmd += ["--requirepass", redis.password]
    pid = spawn_detached(cmd, LOGS / "redis.log", cwd=data)
    write_pid("redis", pid)
    say(f"redis: started pid {pid} on {bind_host(redis.host)}:{redis.port}")
    return pid


def up_redis_begin(redis: Redis) -> tuple[str, int | None]:
    pid = read_pid("redis")
    if pid_is(pid, "redis-server"):
        return f"ours, already running (pid {pid})", pid
    remove_pid("redis")
    if port_open(redis.host, redis.port):
        return "reused (already answering, not ours)", None
    pid = start_redis(redis)
    return f"ours, started (pid {pid})", pid


def up_redis_wait(redis: Redis, pid: int | None) -> None:
    def ready() -> bool:
        if pid is not None and not pid_alive(pid):
            remove_pid("redis")
            fail_with_log(f"redis (pid {pid}) exited during start-up", LOGS / "redis.log")
        return redis_ok(redis)

    if not wait_until("redis", ready, 30):
        fail_with_log(f"redis on {redis.host}:{redis.port} does not answer PING", LOGS / "redis.log")


# ---------------------------------------------------------------------------------------------- commands


def require_tools() -> None:
    missing = [
        tool for tool in ("java", "kcat", "psql", "redis-server", "redis-cli") if not shutil.which(tool)
    ]
    if missing:
        raise StackError(f"missing {' '.join(missing)}: run `python3 deploy/stack/stack.py install` first")


def cmd_up(_: argparse.Namespace) -> None:
    started = time.monotonic()
    kafka, pg, redis = kafka_endpoint(), postgres_endpoint(), redis_endpoint()
    require_tools()
    with stack_lock():
        LOGS.mkdir(parents=True, exist_ok=True)
        # Kafka first (slowest to boot), then PostgreSQL and Redis while it starts.
        kafka_pid = read_pid("kafka")
        if pid_is(kafka_pid, "kafka.Kafka"):
            kafka_state = f"ours, already running (pid {kafka_pid})"
        else:
            remove_pid("kafka")
            if port_open(kafka.host, kafka.port):
                kafka_pid, kafka_state = None, "reused (already answering, not ours)"
            else:
                if not kafka_jars_ready():
                    raise StackError("Kafka jars missing: run `python3 deploy/stack/stack.py install` first")
                kafka_pid = start_kafka(kafka)
                kafka_state = f"ours, started (pid {kafka_pid})"
        redis_state, redis_pid = up_redis_begin(redis)
        pg_state = up_postgres(pg)
        up_redis_wait(redis, redis_pid)
        meta = wait_kafka(kafka, kafka_pid)
        ensure_topics(kafka, meta)
    took = time.monotonic() - started
    say(f"up in {took:.1f}s")
    rows = [
        ("kafka", kafka.bootstrap, kafka_state, LOGS / "kafka.log"),
        ("postgres", f"{pg.host}:{pg.port}/{pg.database}", pg_state, pg_paths()[3]),
        ("redis", f"{redis.host}:{redis.port}", redis_state, LOGS / "redis.log"),
    ]
    for name, where, state, log in rows:
        print(f"  {name:<9} {where:<28} {state}" + (f"  log {rel(log)}" if state.startswith("ours") else ""))
    print(
        f"  export HYPERCARE_KAFKA_BOOTSTRAP={kafka.bootstrap}\n"
        f"  export HYPERCARE_DATABASE_URL={pg.url}\n"
        f"  export HYPERCARE_REDIS_URL={redis.url}",
        flush=True,
    )


def cmd_topics(_: argparse.Namespace) -> None:
    with stack_lock():
        ensure_topics(kafka_endpoint())


def stop_services() -> None:
    pid = read_pid("services")
    if pid is None:
        return
    if pid_is(pid, "honcho"):
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            pgid = None
        family = [pid, *descendants(pid)]
        say(f"services: stopping honcho (pid {pid}) and its {len(family) - 1} child processes")
        terminate(family, "services", 20.0, pgid=pid if pgid == pid else None)
    remove_pid("services")


def cmd_down(_: argparse.Namespace) -> None:
    with stack_lock():
        stop_services()
        for name, needle, grace in (("kafka", "kafka.Kafka", 45.0), ("redis", "redis-server", 15.0)):
            pid = read_pid(name)
            if pid is None:
                continue
            if pid_is(pid, needle):
                say(f"{name}: stopping pid {pid}")
                terminate([pid], name, grace)
            else:
                say(f"{name}: pid {pid} is gone already")
            remove_pid(name)
        stop_postgres()
        for name in ("kafka", "postgres", "redis", "services"):
            remove_pid(name)
    say("down: everything this stack started is stopped (reused servers were left alone)")


def part_state(name: str, needle: str, host: str, port: int) -> tuple[bool, str]:
    pid = read_pid(name)
    if pid_is(pid, needle):
        answering = port_open(host, port)
        return answering, f"ours (pid {pid})" + ("" if answering else ", NOT answering yet")
    if port_open(host, port):
        return True, "reused (answering, not started by this stack)"
    return False, "down"


def cmd_status(_: argparse.Namespace) -> int:
    kafka, pg, redis = kafka_endpoint(), postgres_endpoint(), redis_endpoint()
    all_up = True
    lines = []
    up, state = part_state("kafka", "kafka.Kafka", kafka.host, kafka.port)
    if up:
        meta = kafka_metadata(kafka, timeout_s=2)
        if meta is None:
            state += ", metadata request fails"
        else:
            wanted = wanted_topics()
            have = sum(1 for name, _ in wanted if name in meta)
            state += f", {have}/{len(wanted)} topics"
    all_up &= up
    lines.append(("kafka", kafka.bootstrap, state))
    up, state = part_state("postgres", "postgres", pg.host, pg.port)
    all_up &= up
    lines.append(("postgres", f"{pg.host}:{pg.port}/{pg.database}", state))
    up, state = part_state("redis", "redis-server", redis.host, redis.port)
    all_up &= up
    lines.append(("redis", f"{redis.host}:{redis.port}", state))
    spid = read_pid("services")
    if pid_is(spid, "honcho"):
        healthy = [n for n, p in SERVICE_HEALTH_PORTS.items() if http_ok(p)]
        lines.append(("services", "honcho", f"ours (pid {spid}), healthy: {' '.join(healthy) or 'none'}"))
    else:
        lines.append(("services", "honcho", "down"))
    for name, where, state in lines:
        print(f"  {name:<9} {where:<28} {state}")
    print(f"  stack dir {rel(STACK)}", flush=True)
    return 0 if all_up else 3


def http_ok(port: int, path: str = "/healthz") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def procfile_services() -> list[str]:
    names = []
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and ":" in line:
            names.append(line.split(":", 1)[0].strip())
    return names


def cmd_services_up(_: argparse.Namespace) -> None:
    """`make up`: honcho runs the Procfile detached; wait until every service's /healthz answers."""
    log = LOGS / "services.log"
    pid = read_pid("services")
    if pid_is(pid, "honcho"):
        say(f"services: already running (honcho pid {pid}), log {rel(log)}")
    else:
        uv = shutil.which("uv")
        if uv is None:
            raise StackError("uv is not on PATH: run `python3 deploy/stack/stack.py install`")
        pid = spawn_detached([uv, "run", "honcho", "start", "-f", str(PROCFILE)], log, cwd=ROOT)
        write_pid("services", pid)
        say(f"services: started honcho pid {pid} (process group {pid}), log {rel(log)}")
    ports = {n: p for n, p in SERVICE_HEALTH_PORTS.items() if n in procfile_services()}
    started = time.monotonic()

    def healthy() -> bool:
        if not pid_alive(pid):
            remove_pid("services")
            fail_with_log(f"honcho (pid {pid}) exited", log)
        return all(http_ok(port) for port in ports.values())

    if not wait_until("services", healthy, SERVICES_READY_SECONDS, 0.5):
        sick = [f"{n}:{p}" for n, p in ports.items() if not http_ok(p)]
        fail_with_log(
            f"no /healthz answer within {SERVICES_READY_SECONDS:.0f}s from {' '.join(sick)} "
            "(honcho keeps running: `make down` stops it)",
            log,
        )
    say(f"services healthy after {time.monotonic() - started:.1f}s:")
    for name, port in ports.items():
        print(f"  {name:<11} http://127.0.0.1:{port}/healthz", flush=True)


def cmd_services_down(_: argparse.Namespace) -> None:
    with stack_lock():
        stop_services()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Callable[[argparse.Namespace], int | None]] = {
        "install": cmd_install,
        "up": cmd_up,
        "down": cmd_down,
        "status": cmd_status,
        "topics": cmd_topics,
        "services-up": cmd_services_up,
        "services-down": cmd_services_down,
    }
    helps = {
        "install": "Debian packages, uv, Kafka jars (Maven Central), uv sync; skips what is there",
        "up": "start or reuse Kafka, PostgreSQL and Redis, create topics; returns when all answer",
        "down": "stop what up / make up started (by recorded pid); reused servers are left alone",
        "status": "ours / reused / down for each part, with host:port (exit 3 if a part is down)",
        "topics": "create the topics listed in deploy/stack/topics.txt if missing",
        "services-up": "start the Procfile under honcho, detached, and wait for every /healthz",
        "services-down": "stop the honcho started by services-up (its whole process group)",
    }
    for name in commands:
        sub.add_parser(name, help=helps[name])
    args = parser.parse_args(argv)
    try:
        return commands[args.command](args) or 0
    except StackError as exc:
        print(f"stack: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
