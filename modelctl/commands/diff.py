"""``modelctl diff A B`` / ``modelctl diff STACK --base REV``: what a stack change does."""

from __future__ import annotations

import argparse
import json

from modelctl.diff import diff_plans, format_diff
from modelctl.engine import plan_stack_file
from modelctl.stacks import UsageError, resolve_stack, stack_file_at_revision


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="resources added, removed and changed between two stacks, or a stack and its file at a git revision",
        description="Both sides run the working tree's program; --base takes only the stack file from git.",
    )
    p.add_argument("stack", help="stack name or stack file (the new side)")
    p.add_argument("other", nargs="?", help="a second stack to compare against STACK (STACK is the old side)")
    p.add_argument("--base", metavar="GIT_REV", help="compare STACK's file at GIT_REV (old) with the working tree (new)")
    p.add_argument("--json", action="store_true", help="print the diff as JSON")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when there are changes")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.other) == bool(args.base):
        raise UsageError("diff takes either two stacks (diff A B) or one stack and --base GIT_REV")
    if args.base:
        ref = resolve_stack(args.stack)
        base_file, base_label = stack_file_at_revision(ref, args.base), f"{ref.label}@{args.base}"
        base_name = head_name = ref.name
        head_file, head_label = ref.load(), ref.label
    else:
        a, b = resolve_stack(args.stack), resolve_stack(args.other)
        base_file, base_label, base_name = a.load(), a.label, a.name
        head_file, head_label, head_name = b.load(), b.label, b.name
    d = diff_plans(plan_stack_file(base_file, base_name), plan_stack_file(head_file, head_name))
    if args.json:
        print(json.dumps({"base": base_label, "head": head_label, **d.to_json()}, indent=2, sort_keys=True))
    else:
        print(format_diff(d, base_label, head_label))
    return 1 if (args.exit_code and not d.empty) else 0
