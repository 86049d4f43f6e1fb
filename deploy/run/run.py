#!/usr/bin/env python3
"""`make run`: start every service under honcho, play the launch-day demo, show the summary.

    python3 deploy/run/run.py        # what `make run` does after `make stack-up`

1. Starts `uv run honcho start -f Procfile` in its own process group, its output on this terminal (honcho
   prefixes each line with the service name, so the notifier's console notifications show up live), and
   records its pid in .stack/pids/services.pid so that `make down` can stop it too.
   If services started by `make up` are already running, it uses them and leaves them running.
2. Waits until every service's /healthz answers (90 s at most).
3. Runs `uv run hypercare demo` (extra arguments from $HYPERCARE_DEMO_ARGS, e.g. "--speed 2 --seed 3").
4. Then, on a terminal, keeps the services running (look at their /metrics) until Ctrl-C; with
   HYPERCARE_RUN_EXIT=1, or when stdin is not a terminal (CI), stops them and exits with the demo's status.

On Ctrl-C, SIGTERM or exit it stops exactly the honcho process group it started, by pid (never by name);
Kafka, PostgreSQL and Redis keep running: `make down` stops them.

Services log at WARNING unless HYPERCARE_LOG_LEVEL says otherwise, so the notifications stay readable.
Standard library only; it reuses the process helpers of deploy/stack (package `deploy.stack`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[2]
# Run as a script, only deploy/run is on sys.path: the repository root makes `deploy.stack` importable.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy.stack import config, procs, services  # noqa: E402 - importable only after the lines above

HEALTH_DEADLINE_S = 90.0
STOP_GRACE_S = 20.0
DEMO_GRACE_S = 10.0


def say(message: str) -> None:
    print(f"run: {message}", flush=True)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM or SIGHUP: stop as on Ctrl-C."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def uv_path() -> str:
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("run: uv is not on PATH: run `make install`")
    return uv


def start_services(uv: str) -> subprocess.Popen[bytes]:
    """honcho in a new session (its own process group), inheriting this terminal's output."""
    env = dict(os.environ)
    env.setdefault("HYPERCARE_LOG_LEVEL", "WARNING")
    env.setdefault("PYTHONUNBUFFERED", "1")
    proc = subprocess.Popen(
        [uv, "run", "honcho", "start", "-f", str(config.PROCFILE)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    procs.write_pid("services", proc.pid)
    say(f"services: started honcho (pid {proc.pid}, process group {proc.pid}); its output follows")
    return proc


def stop_services(proc: subprocess.Popen[bytes]) -> None:
    """Stop the honcho we started: its process group and every descendant, by pid."""
    family = [proc.pid, *procs.descendants(proc.pid)]
    say(f"stopping the services this run started (honcho pid {proc.pid} and {len(family) - 1} children)")
    procs.terminate(family, "services", STOP_GRACE_S, pgid=proc.pid)
    proc.wait()
    if procs.read_pid("services") == proc.pid:
        procs.remove_pid("services")


def stop_demo(demo: subprocess.Popen[bytes]) -> None:
    """Interrupt the demo (on Ctrl-C it got SIGINT from the terminal already), then make sure it is gone."""
    family = [demo.pid, *procs.descendants(demo.pid)]
    for pid in family:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)
    try:
        demo.wait(timeout=DEMO_GRACE_S)
    except subprocess.TimeoutExpired:
        say("the demo did not stop on SIGINT; terminating it")
    procs.terminate(family, "demo", 5.0)
    demo.wait()


def wait_healthy(ports: dict[str, int], proc: subprocess.Popen[bytes] | None) -> None:
    started = time.monotonic()

    def healthy() -> bool:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"run: honcho exited with status {proc.returncode} before every service was up")
        return all(services.http_ok(port) for port in ports.values())

    if not procs.wait_until("services", healthy, HEALTH_DEADLINE_S, 0.5):
        sick = " ".join(f"{n}:{p}" for n, p in ports.items() if not services.http_ok(p))
        raise SystemExit(f"run: no /healthz answer within {HEALTH_DEADLINE_S:.0f}s from {sick}")
    say(f"all {len(ports)} services healthy after {time.monotonic() - started:.1f}s")


def stay_up() -> bool:
    if os.environ.get("HYPERCARE_RUN_EXIT", "") not in {"", "0"}:
        return False
    return sys.stdin.isatty()


def main() -> int:
    # Explicitly: a shell that starts us in the background hands SIGINT down ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    uv = uv_path()
    ports = {n: p for n, p in config.SERVICE_HEALTH_PORTS.items() if n in services.procfile_services()}
    proc: subprocess.Popen[bytes] | None = None
    demo: subprocess.Popen[bytes] | None = None
    demo_done = False
    existing = procs.read_pid("services")
    reuse = procs.pid_is(existing, "honcho")
    if reuse:
        say(
            f"services already run under honcho pid {existing} (`make up`): using them and leaving them running"
        )
    else:
        busy = [f"{n}:{p}" for n, p in ports.items() if procs.port_open("127.0.0.1", p)]
        if busy:
            say(f"ports in use by processes this stack did not start: {' '.join(busy)}")
            say("stop them first (or point `uv run hypercare demo` at what runs there)")
            return 1
    code = 1
    try:
        if not reuse:
            proc = start_services(uv)
        wait_healthy(ports, proc)
        extra = shlex.split(os.environ.get("HYPERCARE_DEMO_ARGS", ""))
        demo = subprocess.Popen([uv, "run", "hypercare", "demo", *extra], cwd=ROOT)
        code = demo.wait()
        demo_done = True
        if proc is not None and stay_up():
            say("the services keep running so you can look at /metrics: Ctrl-C stops them")
            say("(Kafka, PostgreSQL and Redis keep running after that; `make down` stops everything)")
            proc.wait()
            say(f"honcho exited on its own with status {proc.returncode}")
    except KeyboardInterrupt:
        print(flush=True)
        if not demo_done:  # Ctrl-C after the summary is how the user is told to finish: not a failure
            say("interrupted")
            code = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if demo is not None and demo.poll() is None:
            stop_demo(demo)
        if proc is not None:
            stop_services(proc)
            say("services stopped; Kafka, PostgreSQL and Redis keep running (`make down` stops them)")
    return code


if __name__ == "__main__":
    sys.exit(main())
