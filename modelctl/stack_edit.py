"""Reviewed edits of a stack file: set one model's ``version`` and ``bundleSha256``.

A release is the pair, a version and the digest of its bundle, changed
together. It is a two-line change a human reviews, so the edit must not touch
anything else: the edit itself is modelctl/pin_edit.py (the same code the
training DAG's release step runs). Here it is applied to a file: the edited
stack must still parse as a valid stack config that pins exactly the new
values; only then is it written, atomically (temporary file in the same
folder, then rename), so a failure leaves the file as it was. A symlinked
stack file is edited where it really is: the link's target is replaced, the
link stays a link. Commands hold ``modelctl.stack_lock`` from read to write.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from infra.stack_source import StackFile, StackFileError
from modelctl.diff import diff_plans, format_diff
from modelctl.engine import plan_stack_file
from modelctl.pin_edit import (  # noqa: F401 - BundlePin, InvalidPin, PinConflict, MODELS_KEY: re-exported for the commands
    MODELS_KEY,
    BundlePin,
    InvalidPin,
    NotYaml,
    PinConflict,
    PinDocument,
    PinEdit,
    PinEditError,
    edit_pin,
)
from modelctl.stacks import StackRef, UsageError


class StackDocument:
    """A stack file read for an edit of its model pins (``modelctl.pin_edit.PinDocument`` over the file's text)."""

    def __init__(self, ref: StackRef):
        self.ref = ref
        try:
            self.raw = ref.path.read_bytes()
            self.text = self.raw.decode("utf-8")
        except OSError as exc:
            raise StackFileError(f"{ref.label}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise StackFileError(f"{ref.label}: not UTF-8 text") from None
        try:
            self._document = PinDocument(self.text, ref.label)
        except NotYaml as exc:
            raise StackFileError(str(exc)) from None

    @property
    def label(self) -> str:
        return self.ref.label

    def stack_file(self) -> StackFile:
        return StackFile.from_text(self.text, self.ref.label, self.ref.path)

    def has_model(self, model: str) -> bool:
        with _usage_errors():
            return self._document.has_model(model)

    def pin(self, model: str) -> BundlePin:
        """The model's current pin; UsageError when the stack has no such model or its pin is malformed."""
        with _usage_errors():
            return self._document.pin(model)

    def with_pin(self, model: str, pin: BundlePin) -> str:
        """The file's text with the model pinned to ``pin``; every other byte as before."""
        with _usage_errors():
            return self._document.with_pin(model, pin)

    @property
    def document(self) -> PinDocument:
        return self._document


@contextmanager
def _usage_errors() -> Iterator[None]:
    """Report a PinEditError as the command-line mistake it is (UsageError: exit 2)."""
    try:
        yield
    except PinEditError as exc:
        raise UsageError(str(exc)) from None


@dataclass(frozen=True)
class PinChange:
    """One model's pin moving from ``old`` to ``new`` in one stack file, checked and ready to write."""

    ref: StackRef
    #: The text edit itself (``modelctl.pin_edit``, the code the training DAG runs too).
    edit: PinEdit
    #: The file's bytes as read, written back untouched when nothing else changes.
    original: bytes

    @property
    def model(self) -> str:
        return self.edit.model

    @property
    def old(self) -> BundlePin:
        return self.edit.old

    @property
    def new(self) -> BundlePin:
        return self.edit.new

    @property
    def new_text(self) -> str:
        return self.edit.new_text

    @property
    def key(self) -> str:
        return self.edit.key

    @property
    def is_noop(self) -> bool:
        return self.edit.is_noop

    def summary(self) -> str:
        return f"{self.ref.label}: {self.key}: {self.old} -> {self.new}"

    def text_diff(self) -> str:
        """The change as ``git diff`` shows it."""
        old = self.original.decode("utf-8").splitlines(True)
        new = self.new_text.splitlines(True)
        lines = difflib.unified_diff(old, new, f"a/{self.ref.label}", f"b/{self.ref.label}")
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines).rstrip("\n")

    def plan_diff(self) -> str:
        """What the change does to the stack's resources (``modelctl diff``), planned offline."""
        old_file = StackFile.from_text(self.original.decode("utf-8"), self.ref.label, self.ref.path)
        new_file = StackFile.from_text(self.new_text, self.ref.label, self.ref.path)
        diff = diff_plans(plan_stack_file(old_file, self.ref.name), plan_stack_file(new_file, self.ref.name))
        return format_diff(diff, f"{self.ref.label} (before)", f"{self.ref.label} (after)")

    def apply(self, dry_run: bool) -> str:
        """Write the change (unless ``dry_run``) and return the report for the reviewer.

        The stack is planned before anything is written: a change the program
        cannot plan leaves the file untouched.
        """
        report = "\n".join((self.summary(), self.text_diff(), self.plan_diff()))
        if dry_run:
            return f"{report}\n(dry run: {self.ref.label} not written)"
        self.write()
        return f"{report}\nwrote {self.ref.label}"

    def write(self) -> None:
        """Replace the file atomically, unless it changed on disk since it was read."""
        try:
            current = self.ref.path.resolve().read_bytes()
        except OSError as exc:
            raise StackFileError(f"{self.ref.label}: cannot read: {exc.strerror}") from None
        if current != self.original:
            raise UsageError(f"{self.ref.label}: changed on disk while modelctl was editing it; run the command again")
        write_atomically(self.ref.path, self.new_text.encode("utf-8"))


def plan_pin_change(document: StackDocument, model: str, new: BundlePin) -> PinChange:
    """Check that ``model`` may be pinned to ``new`` in ``document`` and prepare the edit.

    The edit is ``modelctl.pin_edit.edit_pin``'s; on top of it the edited stack
    must still be a valid stack config pinning exactly ``new``. Raises
    UsageError (unknown model, an edit that would reformat the file),
    ConfigError (the edited stack would not be a valid config), or PinConflict
    (the version is already pinned to a different bundle).
    """
    ref = document.ref
    with _usage_errors():
        edit = edit_pin(document.document, model, new)
    if edit.is_noop:
        return PinChange(ref, edit, document.raw)
    cfg = StackFile.from_text(edit.new_text, ref.label, ref.path).stack_config()  # the edited stack must still be valid
    written = cfg.models[model]
    if (written.version, written.bundle_sha256) != (new.version, new.bundle_sha256):
        raise UsageError(f"{ref.label}: {MODELS_KEY}.{model}: the edit does not read back as {new}; edit it by hand")
    return PinChange(ref, edit, document.raw)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; on failure ``path`` is untouched.

    A symlink is followed: its target is replaced (beside the target, so the
    rename stays in one file system) and the link itself is left as it is.
    An OSError names ``path`` (the file the user asked to change), not the temporary file.
    """
    try:
        _replace(path.resolve(), data)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def _replace(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
