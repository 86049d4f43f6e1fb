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

This file is only the command line; the work is done by the modules beside it (package `deploy.stack`):
config (paths, endpoints), procs (pid files, process groups, waiting), install, kafka_broker, postgres_server,
redis_server, services (honcho) and lifecycle (up, down, status, topics).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # run as a script, only deploy/stack is on sys.path: make `deploy.stack` importable
    sys.path.insert(0, _ROOT)

from deploy.stack import install, lifecycle, services  # noqa: E402 - importable only after the lines above
from deploy.stack.config import StackError  # noqa: E402 - same reason

Command = Callable[[argparse.Namespace], int | None]

COMMANDS: dict[str, tuple[Command, str]] = {
    "install": (
        install.cmd_install,
        "Debian packages, uv, Kafka jars (Maven Central), uv sync; skips what is there",
    ),
    "up": (
        lifecycle.cmd_up,
        "start or reuse Kafka, PostgreSQL and Redis, create topics; returns when all answer",
    ),
    "down": (
        lifecycle.cmd_down,
        "stop what up / make up started (by recorded pid); reused servers are left alone",
    ),
    "status": (
        lifecycle.cmd_status,
        "ours / reused / down for each part, with host:port (exit 3 if a part is down)",
    ),
    "topics": (lifecycle.cmd_topics, "create the topics listed in deploy/stack/topics.txt if missing"),
    "services-up": (
        services.cmd_services_up,
        "start the Procfile under honcho, detached, and wait for every /healthz",
    ),
    "services-down": (
        services.cmd_services_down,
        "stop the honcho started by services-up (its whole process group)",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a StackError prints one `stack: error:` line and exits 1, Ctrl-C exits 130."""
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][0](args) or 0
    except StackError as exc:
        print(f"stack: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
