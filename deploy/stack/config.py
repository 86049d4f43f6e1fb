"""Where the local stack lives and listens: repository paths, the stack directory, endpoints from the environment.

Every other module of `deploy/stack` reads its paths and ports from here, so that `HYPERCARE_STACK_DIR` and the
`HYPERCARE_*` endpoint variables mean the same thing to `up`, `down`, `status` and `deploy/run/run.py`.
Standard library only: it runs before `uv sync`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
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
# Topic settings given at creation. Dead letters wait for a person to fix their cause and redrive them
# (`hypercare dead-letters`): they are kept 90 days, not the broker's 7, so that a launch's hypercare weeks
# lose none. An existing topic keeps its settings (kafka-configs.sh --alter changes them).
TOPIC_CONFIGS = {"hypercare.deadletter": {"retention.ms": str(90 * 24 * 3600 * 1000)}}
# Health ports of the services the Procfile starts (each serves /healthz, /readyz, /metrics).
SERVICE_HEALTH_PORTS = {"gateway": 8080, "sla": 8081, "normalizer": 9101, "triage": 9102, "notifier": 9104}


class StackError(Exception):
    """A failure to report in one line (plus whatever was printed before) and exit non-zero."""


def rel(path: Path) -> str:
    """A path as short as it can be shown: relative to the repository root when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def is_local(host: str) -> bool:
    """Whether `host` is this machine, i.e. somewhere the stack may start a server itself."""
    return host in {"localhost", "::1", "0.0.0.0"} or host.startswith("127.")


def bind_host(host: str) -> str:
    """The address a server we start listens on for a configured host."""
    return "127.0.0.1" if host in {"localhost", "0.0.0.0"} else host


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
    """The broker from $HYPERCARE_KAFKA_BOOTSTRAP; its controller listens on port+1 unless configured."""
    first = os.environ.get("HYPERCARE_KAFKA_BOOTSTRAP", DEFAULT_KAFKA).split(",")[0].strip()
    first = first.split("://", 1)[-1]
    host, _, port = first.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise StackError(f"HYPERCARE_KAFKA_BOOTSTRAP must be host:port, got {first!r}")
    controller = int(os.environ.get("HYPERCARE_KAFKA_CONTROLLER_PORT") or int(port) + 1)
    return Kafka(host, int(port), controller)


def postgres_endpoint() -> Postgres:
    """The database from $HYPERCARE_DATABASE_URL, as a URL psql understands plus its parts."""
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
    """The Redis server from $HYPERCARE_REDIS_URL."""
    url = os.environ.get("HYPERCARE_REDIS_URL", DEFAULT_REDIS_URL)
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        raise StackError(f"HYPERCARE_REDIS_URL must be a redis:// URL, got {url!r}")
    return Redis(
        url, parts.hostname or "127.0.0.1", parts.port or 6379, unquote(parts.password or "") or None
    )
