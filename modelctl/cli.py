"""``modelctl``: offline plan, diff, render, check, release and promote.

Exit codes: 0 success, 1 the command's check failed (e.g. a mandatory policy
violation), 2 bad input (config errors, usage, a file that cannot be read or
written), 141 the reader of the output went away (``modelctl plan | head``),
as a tool killed by SIGPIPE reports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from modelctl.commands import COMMAND_MODULES
from modelctl.errors import UsageError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE


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
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return _output_closed()
    except UsageError as exc:
        print(f"modelctl: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"modelctl: {describe_os_error(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        if report_bad_input(exc):
            return EXIT_BAD_INPUT
        raise


def report_bad_input(exc: Exception) -> bool:
    """Print a config, stack file or plan error as the user's mistake; False for anything else (a bug).

    Imported here, not at the top: each is raised only by a module the command
    has already loaded, and ``modelctl plan`` must not pay for the others.
    """
    from infra.config import ConfigError
    from infra.stack_source import StackFileError
    from modelctl.engine import PlanError

    if isinstance(exc, ConfigError):
        print(f"{exc.source}: {len(exc.problems)} configuration error(s):", file=sys.stderr)
        for line in exc.located():  # each problem with the line of its key, where the stack file gives one
            print(line, file=sys.stderr)
        return True
    if isinstance(exc, (StackFileError, PlanError)):
        print(f"modelctl: {exc}", file=sys.stderr)
        return True
    return False


def describe_os_error(exc: OSError) -> str:
    """``<path>: <reason>``, as the shell's tools say it, instead of a traceback."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def _output_closed() -> int:
    """The reader of stdout went away: stop quietly (the Python docs' idiom), no traceback at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (e.g. captured by tests)
        pass
    return EXIT_BROKEN_PIPE


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
