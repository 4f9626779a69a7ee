"""Finding stack files: ``staging`` means ``<project>/stacks/Pulumi.staging.yaml``."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.stack_source import StackFile, stack_file_label


class UsageError(Exception):
    """A command-line mistake (exit 2)."""


def project_root(start: Path | None = None) -> Path:
    """The folder holding Pulumi.yaml: $MODELCTL_PROJECT_DIR, or the nearest one above the cwd."""
    env = os.environ.get("MODELCTL_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise UsageError("no Pulumi.yaml here or above: run modelctl inside the project (or set MODELCTL_PROJECT_DIR)")


@dataclass(frozen=True)
class StackRef:
    """A stack name and the file holding its config."""

    name: str
    path: Path
    label: str

    def load(self) -> StackFile:
        return StackFile.load(self.path, self.label)


def resolve_stack(arg: str, root: Path | None = None) -> StackRef:
    """``staging`` -> stacks/Pulumi.staging.yaml; a path to ``Pulumi.<name>.yaml`` is taken as is."""
    if arg.endswith((".yaml", ".yml")) or os.sep in arg:
        path = Path(arg)
        m = re.fullmatch(r"Pulumi\.(.+)\.ya?ml", path.name)
        name = m.group(1) if m else path.stem
        if not path.is_file():
            raise UsageError(f"{arg}: no such stack file")
        return StackRef(name, path, arg)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", arg):
        raise UsageError(f"{arg!r} is not a stack name")
    root = root or project_root()
    label = stack_file_label(arg)
    path = root / label
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml"))
        raise UsageError(f"{label}: no such stack file (stacks: {', '.join(known) or 'none'})")
    return StackRef(arg, path, label)


def stack_file_at_revision(ref: StackRef, rev: str) -> StackFile:
    """The stack file as it was at git revision ``rev``."""
    root = project_root()
    rel = ref.path.resolve().relative_to(root) if ref.path.is_absolute() or ref.path.exists() else ref.path
    try:
        text = subprocess.run(
            ["git", "show", f"{rev}:{Path(rel).as_posix()}"],
            cwd=root, check=True, capture_output=True, text=True,
        ).stdout
    except FileNotFoundError:
        raise UsageError("git is not installed") from None
    except subprocess.CalledProcessError as exc:
        raise UsageError(f"{ref.label} at {rev}: {exc.stderr.strip() or 'not found'}") from None
    import yaml

    from infra.stack_source import StackFileError

    label = f"{ref.label}@{rev}"
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise StackFileError(f"{label}: not valid YAML: {exc}") from None
    return StackFile.from_document(doc, label)
