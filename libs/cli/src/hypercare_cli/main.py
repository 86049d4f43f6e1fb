"""The ``hypercare`` command: offline triage replay, the launch-day demo, the exit report, the dead
letters, and data retention."""

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each subcommand lives in its own module exposing ``register(subparsers)``; they are imported only when
# the command line is parsed, so ``hypercare --help`` stays fast and needs no server.
_COMMANDS = (
    "hypercare_cli.replay",
    "hypercare_cli.demo",
    "hypercare_cli.exit_report",
    "hypercare_cli.dead_letters",
    "hypercare_cli.retention",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="hypercare", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hypercare`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
