"""Redis: start a local, non-persistent redis-server or reuse one that answers, and wait for PING.

Starting is split in two (begin, then wait) so that `up` can boot PostgreSQL while Redis comes up.
"""

from __future__ import annotations

from deploy.stack.config import LOGS, STACK, Redis, StackError, bind_host, is_local
from deploy.stack.procs import (
    fail_with_log,
    pid_alive,
    pid_is,
    port_open,
    read_pid,
    remove_pid,
    run,
    say,
    spawn_detached,
    wait_until,
    write_pid,
)


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
