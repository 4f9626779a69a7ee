"""Finding stack files: ``staging`` means ``<project>/<stackConfigDir>/Pulumi.staging.yaml``; and their git history."""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.stack_source import StackFile, StackFileError
from modelctl.errors import UsageError  # defined there so the CLI reports it without importing this module

PROJECT_FILE = "Pulumi.yaml"


def project_root(start: Path | None = None) -> Path:
    """The folder holding Pulumi.yaml: $MODELCTL_PROJECT_DIR, or the nearest one above the cwd."""
    env = os.environ.get("MODELCTL_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise UsageError(f"no {PROJECT_FILE} here or above: run modelctl inside the project (or set MODELCTL_PROJECT_DIR)")


def stacks_dir(root: Path) -> Path:
    """Where the project keeps its stack files: Pulumi.yaml's ``stackConfigDir``, else beside Pulumi.yaml (as Pulumi)."""
    project_file = root / PROJECT_FILE
    try:
        project = yaml.safe_load(project_file.read_text()) or {}
    except OSError as exc:
        raise UsageError(f"{project_file}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{project_file}: not valid YAML: {exc}") from None
    folder = project.get("stackConfigDir") if isinstance(project, dict) else None
    if folder is not None and not isinstance(folder, str):
        raise UsageError(f"{project_file}: stackConfigDir: {folder!r} is not a folder name")
    return root / folder if folder else root


@dataclass(frozen=True)
class StackRef:
    """A stack name and the file holding its config."""

    name: str
    path: Path
    label: str

    def load(self) -> StackFile:
        """The stack file; StackFileError (not a traceback) when it cannot be read or is not UTF-8 text."""
        return StackFile.load(self.path, self.label)


def resolve_stack(arg: str, root: Path | None = None) -> StackRef:
    """``staging`` -> <stackConfigDir>/Pulumi.staging.yaml; a path to ``Pulumi.<name>.yaml`` is taken as is."""
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
    folder = stacks_dir(root)
    path = folder / f"Pulumi.{arg}.yaml"
    label = Path(os.path.relpath(path, root)).as_posix()
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))
        raise UsageError(f"{label}: no such stack file (stacks: {', '.join(known) or 'none'})")
    return StackRef(arg, path, label)


def project_relative(ref: StackRef, root: Path) -> Path:
    """The stack file's path inside the project; UsageError for a file elsewhere (git cannot know it)."""
    try:
        return ref.path.resolve().relative_to(root.resolve())
    except ValueError:
        raise UsageError(
            f"{ref.label}: the stack file is outside the project ({root}): --base needs a file git tracks"
        ) from None


# --------------------------------------------------------------------------- git


def _git(root: Path, *args: str, text: bool = True) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=text)
    except FileNotFoundError:
        raise UsageError("git is not installed") from None


@dataclass(frozen=True)
class Revision:
    """A git revision resolved to a commit, in the repository holding the project at ``root``."""

    name: str  # as the user wrote it
    commit: str
    root: Path  # the project folder
    toplevel: Path  # the repository's work tree
    prefix: str  # the project folder inside the repository ("" or "platform/")

    def path_in_repo(self, relative: Path) -> str:
        return f"{self.prefix}{relative.as_posix()}"


def resolve_revision(rev: str, root: Path) -> Revision:
    """``rev`` as a commit; refused (UsageError naming it) unless git reads it as one.

    ``--end-of-options`` and the ``^{commit}`` peel keep a value such as
    ``--output=FILE`` from being taken as a git option.
    """
    try:
        commit = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}").stdout.strip()
        toplevel = _git(root, "rev-parse", "--show-toplevel").stdout.strip()
        prefix = _git(root, "rev-parse", "--show-prefix").stdout.strip()
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or "").strip()
        where = f"--base {rev!r}: not a commit of the git repository at {root}"
        raise UsageError(where + (f" ({detail})" if detail else "")) from None
    return Revision(rev, commit, root, Path(toplevel), prefix)


def stack_text_at(revision: Revision, relative: Path, label: str) -> str:
    """The text of the project file ``relative`` as it was at ``revision``."""
    spec = f"{revision.commit}:{revision.path_in_repo(relative)}"
    try:
        data = _git(revision.toplevel, "show", "--end-of-options", spec, text=False).stdout
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace").strip()
        raise UsageError(f"{label}: not found at {revision.name} ({detail})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StackFileError(f"{label}: not UTF-8 text") from None


def base_stack_text(ref: StackRef, rev: str, *, missing_ok: bool = False) -> str | None:
    """The text of ``ref``'s stack file at the git revision ``rev`` (``--base``).

    A file that does not exist at ``rev`` (a new stack) is None with
    ``missing_ok``, else a UsageError; a ``rev`` that is not a commit is always one.
    """
    root = project_root()
    revision = resolve_revision(rev, root)
    relative = project_relative(ref, root)
    if missing_ok:
        spec = f"{revision.commit}:{revision.path_in_repo(relative)}"
        try:
            _git(revision.toplevel, "cat-file", "-e", spec)
        except subprocess.CalledProcessError:
            return None
    return stack_text_at(revision, relative, f"{ref.label}@{rev}")


def stack_file_at_revision(ref: StackRef, revision: Revision) -> StackFile:
    """The stack file as it was at ``revision``."""
    label = f"{ref.label}@{revision.name}"
    text = stack_text_at(revision, project_relative(ref, revision.root), label)
    return StackFile.from_text(text, label)


def export_project(revision: Revision, dest: Path) -> Path:
    """The project folder's files at ``revision``, written under ``dest`` (``git archive``); returns the copy."""
    tree = f"{revision.commit}:{revision.prefix}"
    try:
        archive = _git(revision.toplevel, "archive", "--format=tar", tree, text=False).stdout
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace").strip()
        raise UsageError(f"--base {revision.name!r}: cannot export the project at that commit ({detail})") from None
    extract_tar(archive, dest, label=f"--base {revision.name!r}")
    return dest


def extract_tar(archive: bytes, dest: Path, *, label: str) -> None:
    """Extract a tar of plain files and folders into ``dest``; UsageError (nothing extracted) for anything else.

    The only archive modelctl extracts is ``git archive`` of a revision the
    user named, and that revision's tree is not trusted: a member with an
    absolute path, a ``..`` component, a symlink or hard link (which could
    point out of ``dest``, or at a file a later member overwrites), a device
    or a FIFO is refused before anything is written. The ``data`` filter, where
    Python has it, is applied on top.
    """
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = tar.getmembers()
        for member in members:
            name = member.name
            parts = Path(name).parts
            if name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")) or ".." in parts:
                raise UsageError(f"{label}: the archive holds {name!r}, a path outside its folder: refused")
            if not (member.isfile() or member.isdir()):
                kind = "a link" if member.issym() or member.islnk() else "not a plain file or folder"
                raise UsageError(f"{label}: the archive's {name!r} is {kind}: refused (a revision with links is not exported)")
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            tar.extractall(dest, members=members, filter="data")
        else:
            tar.extractall(dest, members=members)
