"""The stack as a whole: `up`, `down`, `status` and `topics` over Kafka, PostgreSQL and Redis.

`up` starts Kafka first (the slowest to boot) and brings PostgreSQL and Redis up while it starts; `down` stops
only what this stack recorded, services first. Each part's own start and stop lives in its module.
"""

from __future__ import annotations

import argparse
import shutil
import time

from deploy.stack.config import (
    LOGS,
    SERVICE_HEALTH_PORTS,
    STACK,
    StackError,
    kafka_endpoint,
    postgres_endpoint,
    redis_endpoint,
    rel,
)
from deploy.stack.kafka_broker import ensure_topics, kafka_metadata, up_kafka_begin, wait_kafka, wanted_topics
from deploy.stack.postgres_server import pg_paths, stop_postgres, up_postgres
from deploy.stack.procs import part_state, pid_is, read_pid, remove_pid, say, stack_lock, terminate
from deploy.stack.redis_server import up_redis_begin, up_redis_wait
from deploy.stack.services import http_ok, stop_services


def require_tools() -> None:
    """The programs `up` runs; `install` provides them."""
    missing = [
        tool for tool in ("java", "kcat", "psql", "redis-server", "redis-cli") if not shutil.which(tool)
    ]
    if missing:
        raise StackError(f"missing {' '.join(missing)}: run `python3 deploy/stack/stack.py install` first")


def cmd_up(_: argparse.Namespace) -> None:
    """Start or reuse Kafka, PostgreSQL and Redis, create the topics; return once all of them answer."""
    started = time.monotonic()
    kafka, pg, redis = kafka_endpoint(), postgres_endpoint(), redis_endpoint()
    require_tools()
    with stack_lock():
        LOGS.mkdir(parents=True, exist_ok=True)
        # Kafka first (slowest to boot), then PostgreSQL and Redis while it starts.
        kafka_state, kafka_pid = up_kafka_begin(kafka)
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
    """Create the topics of topics.txt that the running broker lacks."""
    with stack_lock():
        ensure_topics(kafka_endpoint())


def cmd_down(_: argparse.Namespace) -> None:
    """Stop the services, then Kafka, Redis and PostgreSQL, each only if this stack started it."""
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


def cmd_status(_: argparse.Namespace) -> int:
    """Print ours / reused / down for each part; 3 when a part is down, so scripts can test it."""
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
