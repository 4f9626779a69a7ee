"""``modelctl diff A B`` / ``modelctl diff STACK --base REV``: what a stack change does.

With ``--base``, the old side is what REV would deploy: REV's program run on
REV's stack file, in a subprocess (``modelctl.revision_plan``), so a change to
the code shows up as well as a change to the stack file; and a model whose
``version`` changed without its ``bundleSha256`` (or the reverse) is refused
first (exit 1, ``modelctl.pin_pairing``). Either way a secure value that
changed between the two stack files is listed, never shown: the plan sees
only placeholders for secure values.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from modelctl.errors import UsageError

if TYPE_CHECKING:
    from infra.stack_source import StackFile
    from modelctl.stacks import StackRef


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="resources added, removed and changed between two stacks, or a stack and its file at a git revision",
        description="With --base, the old side is GIT_REV's program run (in a subprocess, so GIT_REV's code is "
        "executed) on GIT_REV's stack file; the new side is the working tree's program on the working tree's stack file.",
    )
    p.add_argument("stack", help="stack name or stack file (the new side)")
    p.add_argument("other", nargs="?", help="a second stack to compare against STACK (STACK is the old side)")
    p.add_argument(
        "--base", metavar="GIT_REV", help="compare the stack as deployed from GIT_REV (old) with the working tree (new)"
    )
    p.add_argument("--json", action="store_true", help="print the diff as JSON")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when there are changes")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from modelctl.diff import diff_plans, format_diff
    from modelctl.engine import plan_stack_file
    from modelctl.pin_pairing import format_secure_changes, secure_changes, unpaired_changes
    from modelctl.revision_plan import plan_against_revision
    from modelctl.stacks import base_stack_text, resolve_stack

    if bool(args.other) == bool(args.base):
        raise UsageError("diff takes either two stacks (diff A B) or one stack and --base GIT_REV")
    if args.base:
        ref = resolve_stack(args.stack)
        base_label, head_label = f"{ref.label}@{args.base}", ref.label
        base_text, head_text = base_stack_text(ref, args.base, missing_ok=True), _text(ref)
        # A file missing at the base: plan_against_revision says so, in the words of every --base.
        problems = [] if base_text is None else unpaired_changes(_stack_file(base_text, base_label), ref.load())
        if problems:
            for problem in problems:
                print(f"modelctl: {problem}", file=sys.stderr)
            return 1
        base, head = plan_against_revision(ref, args.base)
    else:
        a, b = resolve_stack(args.stack), resolve_stack(args.other)
        base_label, head_label = a.label, b.label
        base_text, head_text = _text(a), _text(b)
        base, head = plan_stack_file(a.load(), a.name), plan_stack_file(b.load(), b.name)
    d = diff_plans(base, head)
    secure = secure_changes(base_text or "", base_label, head_text, head_label)
    if args.json:
        document = {"base": base_label, "head": head_label, **d.to_json()}
        document["secureConfig"] = [{"key": key, "change": change} for key, change in secure]
        print(json.dumps(document, indent=2, sort_keys=True))
    else:
        print(format_diff(d, base_label, head_label))
        if secure:
            print(format_secure_changes(secure))
    return 1 if (args.exit_code and (not d.empty or secure)) else 0


def _text(ref: StackRef) -> str:
    """The stack file's text, for its secure values (planning the stack reads and checks it as well)."""
    return ref.path.read_bytes().decode("utf-8", errors="replace")


def _stack_file(text: str, label: str) -> StackFile:
    from infra.stack_source import StackFile

    return StackFile.from_text(text, label)
