"""The old side of ``modelctl diff STACK --base REV``: what REV would deploy, planned by REV's own code.

The project folder at REV is exported (``git archive``) to a temporary folder
and its own ``modelctl plan --json-full`` runs there in a subprocess, while
this process plans the working tree's side. A revision without modelctl, or
whose plan fails, is planned with the working tree's program instead, with a
warning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from modelctl.commands.plan import JSON_FULL_FLAG
from modelctl.engine import FINGERPRINT_KEY_ENV, Plan, fingerprint_key, plan_stack_file
from modelctl.stacks import (
    Revision,
    StackRef,
    UsageError,
    export_project,
    project_relative,
    project_root,
    resolve_revision,
    stack_file_at_revision,
)

#: Lines of a failed base plan's stderr repeated in the warning.
_STDERR_LINES = 5


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
