"""Processes the stack starts and stops: pid files, /proc, process groups, commands, waiting with a deadline.

The stack stops only what it recorded itself, by pid and never by name, and checks a recorded pid still runs the
expected program before signalling it (pids get reused). `deploy/run/run.py` uses these helpers too, so that
`make run` and `make down` agree on `.stack/pids/services.pid`. Standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from deploy.stack.config import PIDS, STACK, StackError, rel


def say(message: str) -> None:
    print(f"stack: {message}", flush=True)


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
    """Run a command to completion; with `check`, a failure (or a missing program) is a StackError."""
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
    """Poll `predicate` until it holds (True) or `deadline_s` passes (False)."""
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


def part_state(name: str, needle: str, host: str, port: int) -> tuple[bool, str]:
    """(answering, how to describe it): ours by recorded pid, reused when something else answers, or down."""
    pid = read_pid(name)
    if pid_is(pid, needle):
        answering = port_open(host, port)
        return answering, f"ours (pid {pid})" + ("" if answering else ", NOT answering yet")
    if port_open(host, port):
        return True, "reused (answering, not started by this stack)"
    return False, "down"


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
