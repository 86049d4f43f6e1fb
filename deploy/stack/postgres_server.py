"""PostgreSQL: our own throw-away cluster (initdb, pg_ctl) or a reused server, plus the role and database.

PostgreSQL refuses to run as root, so when the stack runs as root its tools run as the `postgres` OS user and the
cluster lives where that user can reach it. Durability is traded for speed: this is a dev/test database.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from deploy.stack.config import LOGS, STACK, Postgres, StackError, bind_host, is_local, rel
from deploy.stack.procs import (
    fail_with_log,
    pid_is,
    port_open,
    read_pid,
    remove_pid,
    run,
    say,
    terminate,
    wait_until,
    write_pid,
)


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
