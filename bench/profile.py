"""Sampling the services with py-spy while the benchmark runs, and summarising where the time went.

py-spy is not a project dependency; install it as a tool (``uv tool install py-spy``) and run the
benchmark with ``--profile``. It attaches to each service's pid (root or ptrace permission needed) and
writes collapsed stacks (``--format raw``), which :func:`summarize` turns into the functions with the
most samples on top of the stack (self) and anywhere on it (inclusive).
"""

import asyncio
import shutil
import signal
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


def py_spy() -> str:
    """The py-spy executable.

    Raises:
        RuntimeError: py-spy is not on PATH (nor in ``~/.local/bin`` where ``uv tool install`` puts it).
    """
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path.home() / ".local" / "bin"))
    if found is None:
        raise RuntimeError("--profile needs py-spy: `uv tool install py-spy` (it is not in the project venv)")
    return found


@dataclass
class Recording:
    """A py-spy process recording one service."""

    name: str
    process: asyncio.subprocess.Process
    output: Path


async def record(name: str, pid: int, out_dir: Path, *, rate: int = 200) -> Recording:
    """Start ``py-spy record`` on ``pid``; stop it with :func:`finish`."""
    output = out_dir / f"{name}.collapsed.txt"
    log = (out_dir / f"{name}.py-spy.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        stdout=log,
        stderr=log,
    )
    log.close()
    return Recording(name, process, output)


async def finish(recording: Recording) -> None:
    """SIGINT py-spy (it writes its file on interrupt) and wait for it."""
    if recording.process.returncode is None:
        recording.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(recording.process.wait(), 30)
        except TimeoutError:
            recording.process.kill()
            await recording.process.wait()


def _frame(frame: str) -> str:
    """``function (path/to/module.py:line)`` shortened to ``module.py:function``."""
    function, _, location = frame.partition(" (")
    module = location.rsplit("/", 1)[-1].split(":", 1)[0]
    return f"{module}:{function}" if module else function


def summarize(
    collapsed: Path, *, top: int = 15, idle: tuple[str, ...] = ("select", "poll", "epoll")
) -> dict[str, object]:
    """Top functions by self and inclusive share of the busy samples (idle waits in the selector removed).

    Returns:
        ``{"samples": busy samples, "idle_share": ..., "self": [(function, share)], "inclusive": [...]}``.
    """
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    busy = idle_samples = 0
    for line in collapsed.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        leaf = frames[-1]
        if leaf.rsplit(".", 1)[-1].rsplit(":", 1)[-1] in idle:
            idle_samples += count
            continue
        busy += count
        self_counts[leaf] += count
        for name in set(frames):
            inclusive[name] += count
    total = busy or 1
    return {
        "samples": busy,
        "idle_share": round(idle_samples / max(1, busy + idle_samples), 3),
        "self": [(name, round(n / total, 3)) for name, n in self_counts.most_common(top)],
        "inclusive": [(name, round(n / total, 3)) for name, n in inclusive.most_common(top * 2)],
    }
