"""Reviewed edits of a stack file: set one model's ``version`` and ``bundleSha256``.

A release is the pair, a version and the digest of its bundle, changed
together. It is a two-line change a human reviews, so the edit must not touch
anything else: ruamel.yaml locates the two values and only their characters
are replaced (see ``StackDocument``). The edited stack must still parse as a
valid stack config that pins exactly the new values; only then is it written,
atomically (temporary file in the same folder, then rename), so a failure
leaves the file as it was.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from infra.config import PROJECT, SHA256
from infra.model_version import is_model_version, version_message
from infra.stack_source import StackFile, StackFileError
from modelctl.diff import diff_plans, format_diff
from modelctl.engine import plan_stack_file
from modelctl.stacks import StackRef, UsageError

MODELS_KEY = f"{PROJECT}:models"
VERSION_KEY = "version"
DIGEST_KEY = "bundleSha256"


class PinConflict(Exception):
    """The stack already pins this version to another bundle (exit 1): a released bundle must not change."""


class InvalidPin(UsageError):
    """A version or digest that a stack file cannot hold (exit 2); ``key`` says which."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key

    def at(self, label: str, model: str) -> UsageError:
        """The same problem, naming the stack file and the full key."""
        return UsageError(f"{label}: {MODELS_KEY}.{model}.{self.key}: {self}")


@dataclass(frozen=True)
class BundlePin:
    """What a stack serves of one model: a version and the sha256 of its bundle."""

    version: str
    bundle_sha256: str

    def __post_init__(self) -> None:
        self.check_version(self.version)
        if not re.match(SHA256, self.bundle_sha256):
            raise InvalidPin(DIGEST_KEY, f"{self.bundle_sha256!r} is not a sha256 digest (64 lowercase hex digits)")

    @staticmethod
    def check_version(version: str) -> None:
        if not is_model_version(version):
            raise InvalidPin(VERSION_KEY, version_message(version))

    @classmethod
    def from_cli(cls, version: str, sha256: str) -> "BundlePin":
        """Digests are case-insensitive on the command line; stack files hold lowercase."""
        return cls(version, sha256.strip().lower())

    def __str__(self) -> str:
        return f"{self.version} (sha256 {self.bundle_sha256[:12]}…)"


def _kind(node: Node) -> str:
    """What a YAML node holds, for messages: "a list", "null", "the value '1'"."""
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, ScalarNode) and str(node.tag).endswith(":null"):
        return "null"
    return f"the value {node.value!r}" if isinstance(node, ScalarNode) else "not a value"


def _mapping_get(node: Any, key: str) -> Any:
    """The value node of ``key`` in a YAML mapping node, or None."""
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return value_node
    return None


def _render_scalar(value: str, style: Any) -> str:
    """``value`` written in the quoting style of the scalar it replaces.

    Validated versions and digests hold only ``[0-9A-Za-z._-]``: no escaping
    is needed. A plain value that YAML would read as something other than a
    string (an all-digit digest, a version such as ``1.10`` or ``2026-12-02``,
    or ``1e5``, a number to YAML 1.2 readers such as Pulumi's) is double-quoted.
    """
    if style in ('"', "'"):
        return f"{style}{value}{style}"
    plain = isinstance(yaml.safe_load(value), str) and not _YAML12_NUMBER.fullmatch(value)
    return value if plain else f'"{value}"'


#: A number in YAML 1.2's core schema (PyYAML's YAML 1.1 reads ``1e5`` as text, Pulumi's Go reader as a float).
_YAML12_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+")


class StackDocument:
    """A stack file read for an edit of its model pins.

    ruamel.yaml's composer gives the exact span of every scalar, so an edit
    replaces the characters of the two values and nothing else: comments,
    key order, quoting, flow style, spacing and line endings survive byte for
    byte (a round-trip dump would re-emit ``{ min: 1 }`` as ``{min: 1}``).
    """

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
            self._root = YAML(typ="rt").compose(self.text)
        except Exception as exc:  # ruamel raises many error types; all mean "not YAML we can edit"
            raise StackFileError(f"{ref.label}: not valid YAML: {exc}") from None

    @property
    def label(self) -> str:
        return self.ref.label

    def stack_file(self) -> StackFile:
        return StackFile.from_text(self.text, self.ref.label, self.ref.path)

    def _models(self) -> MappingNode:
        models = _mapping_get(_mapping_get(self._root, "config"), MODELS_KEY)
        if models is None:
            raise UsageError(f"{self.label}: {MODELS_KEY}: no models block")
        if not isinstance(models, MappingNode):
            raise UsageError(f"{self.label}: {MODELS_KEY}: is not a mapping of model names (it is {_kind(models)})")
        return models

    def has_model(self, model: str) -> bool:
        return _mapping_get(self._models(), model) is not None

    def _entry(self, model: str) -> MappingNode:
        models = self._models()
        entry = _mapping_get(models, model)
        if entry is None:
            known = ", ".join(str(k.value) for k, _ in models.value) or "none"
            raise UsageError(f"{self.label}: {MODELS_KEY}.{model}: no such model (models: {known})")
        if not isinstance(entry, MappingNode):
            raise UsageError(
                f"{self.label}: {MODELS_KEY}.{model}: is not a mapping of the model's settings (it is {_kind(entry)})"
            )
        return entry

    def _scalar(self, model: str, key: str) -> ScalarNode:
        """The value node of one pin key; refused unless it is a single-line scalar of its own."""
        node = _mapping_get(self._entry(model), key)
        where = f"{self.label}: {MODELS_KEY}.{model}.{key}"
        if node is None:
            raise UsageError(f"{where}: not set in this model's entry")
        if not isinstance(node, ScalarNode):
            raise UsageError(f"{where}: is not a single value (it is {_kind(node)})")
        if node.anchor is not None:
            raise UsageError(f"{where}: is a YAML anchor or alias shared with other keys; edit it by hand")
        if node.style not in (None, '"', "'") or node.start_mark.line != node.end_mark.line:
            raise UsageError(f"{where}: must be a one-line plain or quoted value; edit it by hand")
        return node

    def pin(self, model: str) -> BundlePin:
        """The model's current pin; UsageError when the stack has no such model or its pin is malformed."""
        try:
            return BundlePin(self._scalar(model, VERSION_KEY).value, self._scalar(model, DIGEST_KEY).value)
        except InvalidPin as exc:
            raise exc.at(self.label, model) from None

    def with_pin(self, model: str, pin: BundlePin) -> str:
        """The file's text with the model pinned to ``pin``; every other byte as before."""
        edits = sorted(
            ((self._scalar(model, key), value) for key, value in ((VERSION_KEY, pin.version), (DIGEST_KEY, pin.bundle_sha256))),
            key=lambda edit: edit[0].start_mark.index,
            reverse=True,  # splice from the end so earlier offsets stay valid
        )
        text = self.text
        for node, value in edits:
            text = text[: node.start_mark.index] + _render_scalar(value, node.style) + text[node.end_mark.index :]
        return text


@dataclass(frozen=True)
class PinChange:
    """One model's pin moving from ``old`` to ``new`` in one stack file, checked and ready to write."""

    ref: StackRef
    model: str
    old: BundlePin
    new: BundlePin
    original: bytes
    new_text: str

    @property
    def key(self) -> str:
        return f"{MODELS_KEY}.{self.model}"

    @property
    def is_noop(self) -> bool:
        return self.old == self.new

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
            current = self.ref.path.read_bytes()
        except OSError as exc:
            raise StackFileError(f"{self.ref.label}: cannot read: {exc.strerror}") from None
        if current != self.original:
            raise UsageError(f"{self.ref.label}: changed on disk while modelctl was editing it; run the command again")
        write_atomically(self.ref.path, self.new_text.encode("utf-8"))


def plan_pin_change(document: StackDocument, model: str, new: BundlePin) -> PinChange:
    """Check that ``model`` may be pinned to ``new`` in ``document`` and prepare the edit.

    Raises UsageError (unknown model, an edit that would reformat the file),
    ConfigError (the edited stack would not be a valid config), or PinConflict
    (the version is already pinned to a different bundle).
    """
    ref = document.ref
    old = document.pin(model)
    if old.version == new.version and old.bundle_sha256 != new.bundle_sha256:
        raise PinConflict(
            f"{ref.label}: {MODELS_KEY}.{model}.{DIGEST_KEY}: version {old.version} is pinned to "
            f"{old.bundle_sha256}, not {new.bundle_sha256}; a released version's bundle must not change: "
            "release a new version"
        )
    if old == new:
        return PinChange(ref, model, old, new, document.raw, document.text)
    new_text = document.with_pin(model, new)
    cfg = StackFile.from_text(new_text, ref.label, ref.path).stack_config()  # the edited stack must still be valid
    written = cfg.models[model]
    if (written.version, written.bundle_sha256) != (new.version, new.bundle_sha256):
        raise UsageError(f"{ref.label}: {MODELS_KEY}.{model}: the edit does not read back as {new}; edit it by hand")
    return PinChange(ref, model, old, new, document.raw, new_text)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; on failure ``path`` is untouched.

    An OSError names ``path`` (the file the user asked to change), not the temporary file.
    """
    try:
        _replace(path, data)
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
