"""``modelctl diff A B`` / ``modelctl diff STACK --base REV``: what a stack change does.

With ``--base``, the old side is what REV would deploy: REV's program run on
REV's stack file. The project folder at REV is exported (``git archive``) to a
temporary folder and its own ``modelctl plan --json-full`` runs there in a
subprocess, so a change to the code shows up as well as a change to the stack
file. A revision without modelctl, or whose plan fails, is planned with the
working tree's program instead, with a warning.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from modelctl.commands.plan import JSON_FULL_FLAG
from modelctl.diff import diff_plans, format_diff
from modelctl.engine import FINGERPRINT_KEY_ENV, Plan, fingerprint_key, plan_stack_file
from modelctl.stacks import (
    Revision,
    StackRef,
    UsageError,
    export_project,
    project_relative,
    project_root,
    resolve_revision,
    resolve_stack,
    stack_file_at_revision,
)

#: Lines of a failed base plan's stderr repeated in the warning.
_STDERR_LINES = 5


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
    if bool(args.other) == bool(args.base):
        raise UsageError("diff takes either two stacks (diff A B) or one stack and --base GIT_REV")
    if args.base:
        ref = resolve_stack(args.stack)
        base_label, head_label = f"{ref.label}@{args.base}", ref.label
        base, head = plan_against_revision(ref, args.base)
    else:
        a, b = resolve_stack(args.stack), resolve_stack(args.other)
        base_label, head_label = a.label, b.label
        base, head = plan_stack_file(a.load(), a.name), plan_stack_file(b.load(), b.name)
    d = diff_plans(base, head)
    if args.json:
        print(json.dumps({"base": base_label, "head": head_label, **d.to_json()}, indent=2, sort_keys=True))
    else:
        print(format_diff(d, base_label, head_label))
    return 1 if (args.exit_code and not d.empty) else 0


def plan_against_revision(ref: StackRef, rev: str) -> tuple[Plan, Plan]:
    """(REV's plan of the stack, the working tree's plan); REV's runs in a subprocess alongside."""
    root = project_root()
    revision = resolve_revision(rev, root)
    relative = project_relative(ref, root)
    with tempfile.TemporaryDirectory(prefix="modelctl-base-") as tmp:
        tree = export_project(revision, Path(tmp))
        if not (tree / relative).is_file():
            raise UsageError(f"{ref.label}@{rev}: {relative.as_posix()} does not exist at {rev}")
        job = RevisionPlan.start(tree, relative, revision)
        try:
            head = plan_stack_file(ref.load(), ref.name)
            base = job.result() if job else None
        finally:
            if job:
                job.stop()
    if base is None:
        base = plan_stack_file(stack_file_at_revision(ref, revision), ref.name)
    return base, head


def warn(message: str) -> None:
    print(f"modelctl: warning: {message}", file=sys.stderr)


class RevisionPlan:
    """``python -m modelctl plan FILE --json-full`` run by the modelctl of an exported revision."""

    def __init__(self, tree: Path, relative: Path, revision: Revision, full: bool = True):
        self.tree, self.relative, self.revision, self.full = tree, relative, revision, full
        env = {
            **os.environ,
            # The exported tree's infra/ and modelctl/, not the working tree's editable install.
            "PYTHONPATH": os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH")) if p),
            "MODELCTL_PROJECT_DIR": str(tree),
            FINGERPRINT_KEY_ENV: fingerprint_key(),  # so secrets' fingerprints compare with this process's
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        flag = JSON_FULL_FLAG if full else "--json"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelctl", "plan", relative.as_posix(), flag],
            cwd=tree,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
        )

    @classmethod
    def start(cls, tree: Path, relative: Path, revision: Revision) -> Optional["RevisionPlan"]:
        """The running plan, or None (with a warning) when the revision has no modelctl to run."""
        if not (tree / "modelctl" / "__main__.py").is_file():
            warn(f"{revision.name} has no modelctl: planning its stack file with the working tree's program")
            return None
        return cls(tree, relative, revision)

    def result(self) -> Optional[Plan]:
        """REV's plan; None (with a warning) when it failed, so the caller falls back to this program."""
        out, err = self.process.communicate()
        if self.full and self.process.returncode == 2 and JSON_FULL_FLAG in err:
            # A modelctl older than --json-full: its plain JSON has no options and no secret fingerprints.
            warn(f"the modelctl of {self.revision.name} predates {JSON_FULL_FLAG}: resource options and secret values "
                 "are not compared")
            return RevisionPlan(self.tree, self.relative, self.revision, full=False).result()
        if self.process.returncode == 0:
            try:
                return Plan.from_json(json.loads(out))
            except (ValueError, KeyError, TypeError) as exc:
                err = f"unreadable plan JSON ({exc})"
        detail = "\n".join(err.strip().splitlines()[-_STDERR_LINES:])
        warn(
            f"the program at {self.revision.name} could not plan {self.relative.as_posix()} "
            f"(exit {self.process.returncode}); planning its stack file with the working tree's program instead"
            + (f":\n{detail}" if detail else "")
        )
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
