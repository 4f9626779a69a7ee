"""``modelctl``: offline plan, diff, render, check, release and promote.

Exit codes: 0 success, 1 the command's check failed (e.g. a mandatory policy
violation), 2 bad input (config errors, usage).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from infra.config import ConfigError
from infra.stack_source import StackFileError
from modelctl.commands import COMMAND_MODULES
from modelctl.engine import PlanError
from modelctl.stacks import UsageError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelctl",
        description="Plan, check and release model-platform stacks offline (no cloud credentials, no Pulumi CLI).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.problems)} configuration error(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"{exc.source}: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StackFileError, UsageError, PlanError) as exc:
        print(f"modelctl: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
