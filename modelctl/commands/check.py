"""``modelctl check STACK``: the policy pack against the stack's offline plan, as ``pulumi preview --policy-pack`` runs it.

The policy config is chosen by the stack's name (``policies/<stack>.json``, else
the environment the name binds), never by the stack file. With ``--base REV``
the stack file is also compared with its text at REV: a model whose
``version`` changed without its ``bundleSha256``, or the reverse, fails the check.
A stack file that leaves the default provider of any package the program
uses enabled (``pulumi:disable-default-providers``) is refused as a config error.

Exit codes: 0 no mandatory violation, 1 at least one (or an unpaired pin
change), 2 a stack or policy config error (reported by ``modelctl.cli``) or a
pack that would not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelctl.stacks import StackRef


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="run the policy pack against the stack's offline plan (like pulumi preview --policy-pack policies)",
    )
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or a stack file path")
    p.add_argument(
        "--policy-config",
        type=Path,
        help="policy pack config file (default: policies/<stack>.json, else policies/<environment>.json of the "
        "environment the stack's name binds: prod, prod-*, *prod* -> prod; staging[-*]; dev[-*]; any other -> prod)",
    )
    p.add_argument(
        "--base",
        metavar="GIT_REV",
        help="also compare the stack file with its text at GIT_REV: a model's version changed without its "
        "bundleSha256 (or the reverse) fails the check (a stack file new since GIT_REV has nothing to compare)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelctl.check import PolicyPackError, check_stack, format_result
    from modelctl.stacks import project_root, resolve_stack

    ref = resolve_stack(args.stack)
    unpaired = _unpaired_pin_changes(ref, args.base) if args.base else []
    for problem in unpaired:
        print(f"modelctl: {problem}", file=sys.stderr)
    try:
        result = check_stack(ref.load(), ref.name, project_root(), args.policy_config)
    except PolicyPackError as exc:
        print(f"modelctl: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 1 if (result.mandatory or unpaired) else 0


def _unpaired_pin_changes(ref: StackRef, base: str) -> list[str]:
    """Half releases (a version without its digest, or the reverse) since the stack file at ``base``."""
    from infra.stack_source import StackFile
    from modelctl.pin_pairing import unpaired_changes
    from modelctl.stacks import base_stack_text

    text = base_stack_text(ref, base, missing_ok=True)
    if text is None:  # a new stack: every pin is new, none is half changed
        return []
    return unpaired_changes(StackFile.from_text(text, f"{ref.label}@{base}"), ref.load())
