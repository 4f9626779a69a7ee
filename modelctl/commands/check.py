"""``modelctl check STACK``: the policy pack against the stack's offline plan, as ``pulumi preview --policy-pack`` runs it.

Exit codes: 0 no mandatory violation, 1 at least one, 2 a stack or policy
config error (reported by ``modelctl.cli``) or a pack that would not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="run the policy pack against the stack's offline plan (like pulumi preview --policy-pack policies)",
    )
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or a stack file path")
    p.add_argument(
        "--policy-config",
        type=Path,
        help="policy pack config file (default: policies/<environment>.json of the stack's environment)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelctl.check import PolicyPackError, check_stack, format_result
    from modelctl.stacks import project_root, resolve_stack

    ref = resolve_stack(args.stack)
    try:
        result = check_stack(ref.load(), ref.name, project_root(), args.policy_config)
    except PolicyPackError as exc:
        print(f"modelctl: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 1 if result.mandatory else 0
