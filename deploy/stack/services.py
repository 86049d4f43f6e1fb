"""The Hypercare services under honcho for `make up` / `make down`: start detached, wait for /healthz, stop.

honcho runs the Procfile in its own session, so stopping its process group stops every service it started; the
pid goes to `.stack/pids/services.pid`, shared with `deploy/run/run.py`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
import urllib.error
import urllib.request

from deploy.stack.config import (
    LOGS,
    PROCFILE,
    ROOT,
    SERVICE_HEALTH_PORTS,
    SERVICES_READY_SECONDS,
    StackError,
    rel,
)
from deploy.stack.procs import (
    descendants,
    fail_with_log,
    pid_alive,
    pid_is,
    read_pid,
    remove_pid,
    say,
    spawn_detached,
    stack_lock,
    terminate,
    wait_until,
    write_pid,
)


def http_ok(port: int, path: str = "/healthz") -> bool:
    """Whether a service on this host answers `path` with a 2xx."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def procfile_services() -> list[str]:
    """The process names the Procfile starts (some may be commented out)."""
    names = []
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and ":" in line:
            names.append(line.split(":", 1)[0].strip())
    return names


def stop_services() -> None:
    """Stop the recorded honcho and all its children; a stale or foreign pid is only forgotten."""
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
    """`make down`, first half: stop what services-up (or `make run`) started."""
    with stack_lock():
        stop_services()
