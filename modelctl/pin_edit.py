"""The release edit itself: set one model's ``version`` and ``bundleSha256`` in a stack file's text.

A release is the pair, a version and the digest of its bundle, changed
together, as a two-line change a human reviews: ruamel.yaml's composer gives
the exact span of every scalar, so only the characters of the two values are
replaced. Comments, key order, quoting, flow style, spacing and line endings
survive byte for byte (a round-trip dump would re-emit ``{ min: 1 }`` as
``{min: 1}``).

This module is the whole edit and nothing else: it works on text, imports only
ruamel.yaml, PyYAML and the version/digest grammar, and never touches a file.
``modelctl release``/``promote`` (modelctl/stack_edit.py) apply it to a stack
file and then check the whole stack config; the training DAG's release step
applies the very same bytes to the stack file it fetched from GitHub (the
stack delivers this file beside the DAG, infra/documents/dag_package.py), and
CI checks the config of the pull request it opens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

if __package__ == "modelctl":  # in the repository, beside the Pulumi program
    from infra.contract.model_version import digest_message, is_model_version, is_sha256, version_message
else:  # delivered beside the training DAG, where the grammar is a sibling module
    from .model_version import digest_message, is_model_version, is_sha256, version_message

MODELS_KEY = "model-platform:models"
VERSION_KEY = "version"
DIGEST_KEY = "bundleSha256"


class PinEditError(Exception):
    """The text cannot take the edit as asked (bad input: modelctl exits 2); the message names the file and key."""


class NotYaml(PinEditError):
    """The text is not YAML that can be edited."""


class InvalidPin(PinEditError):
    """A version or digest that a stack file cannot hold; ``key`` says which."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key

    def at(self, label: str, model: str) -> PinEditError:
        """The same problem, naming the stack file and the full key."""
        return PinEditError(f"{label}: {MODELS_KEY}.{model}.{self.key}: {self}")


class PinConflict(Exception):
    """The stack already pins this version to another bundle (a failed check: exit 1): a released bundle must not change."""


@dataclass(frozen=True)
class BundlePin:
    """What a stack serves of one model: a version and the sha256 of its bundle."""

    version: str
    bundle_sha256: str

    def __post_init__(self) -> None:
        self.check_version(self.version)
        if not is_sha256(self.bundle_sha256):
            raise InvalidPin(DIGEST_KEY, digest_message(self.bundle_sha256))

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


#: A number in YAML 1.2's core schema (PyYAML's YAML 1.1 reads ``1e5`` as text, Pulumi's Go reader as a float).
_YAML12_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+")


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


def _shared_node(node: Node, path: str, seen: frozenset[int] = frozenset()) -> str | None:
    """``<key path>: is a YAML anchor or alias (&name)`` / ``is a YAML merge key`` for the first node under ``node``
    that shares its value with another place of the document; None when every value is written out.

    An alias composes to the very node its anchor names, so ``anchor`` is set on both the anchored and the
    aliased occurrence, wherever the anchor was defined.
    """
    if node.anchor is not None:
        return f"{path}: is a YAML anchor or alias (&{node.anchor})"
    if id(node) in seen:  # a recursive structure: reached again through itself
        return f"{path}: is a YAML alias"
    seen = seen | {id(node)}
    children: list[tuple[str, Node]] = []
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
            if isinstance(key_node, ScalarNode) and (str(key_node.tag).endswith(":merge") or key_node.value == "<<"):
                return f"{path}.<<: is a YAML merge key"
            children += [(f"{path}.{key}", key_node), (f"{path}.{key}", value_node)]
    elif isinstance(node, SequenceNode):
        children = [(f"{path}[{i}]", item) for i, item in enumerate(node.value)]
    for child_path, child in children:
        found = _shared_node(child, child_path, seen)
        if found is not None:
            return found
    return None


class PinDocument:
    """A stack file's text, composed for an edit of its model pins; ``label`` names the file in messages."""

    def __init__(self, text: str, label: str):
        self.text = text
        self.label = label
        try:
            self._root = YAML(typ="rt").compose(text)
        except Exception as exc:  # ruamel raises many error types; all mean "not YAML we can edit"
            raise NotYaml(f"{label}: not valid YAML: {exc}") from None

    def _models(self) -> MappingNode:
        models = _mapping_get(_mapping_get(self._root, "config"), MODELS_KEY)
        if models is None:
            raise PinEditError(f"{self.label}: {MODELS_KEY}: no models block")
        if not isinstance(models, MappingNode):
            raise PinEditError(f"{self.label}: {MODELS_KEY}: is not a mapping of model names (it is {_kind(models)})")
        shared = _shared_node(models, MODELS_KEY)
        if shared is not None:
            raise PinEditError(
                f"{self.label}: {shared}: a stack file whose models block uses YAML anchors, aliases or merge keys "
                "is not edited (an edit of one model must never change another): write the values out in full"
            )
        return models

    def has_model(self, model: str) -> bool:
        return _mapping_get(self._models(), model) is not None

    def _entry(self, model: str) -> MappingNode:
        models = self._models()
        entry = _mapping_get(models, model)
        if entry is None:
            known = ", ".join(str(k.value) for k, _ in models.value) or "none"
            raise PinEditError(f"{self.label}: {MODELS_KEY}.{model}: no such model (models: {known})")
        if not isinstance(entry, MappingNode):
            raise PinEditError(
                f"{self.label}: {MODELS_KEY}.{model}: is not a mapping of the model's settings (it is {_kind(entry)})"
            )
        return entry

    def _scalar(self, model: str, key: str) -> ScalarNode:
        """The value node of one pin key; refused unless it is a single-line scalar of its own."""
        node = _mapping_get(self._entry(model), key)
        where = f"{self.label}: {MODELS_KEY}.{model}.{key}"
        if node is None:
            raise PinEditError(f"{where}: not set in this model's entry")
        if not isinstance(node, ScalarNode):
            raise PinEditError(f"{where}: is not a single value (it is {_kind(node)})")
        if node.anchor is not None:
            raise PinEditError(f"{where}: is a YAML anchor or alias shared with other keys; edit it by hand")
        if node.style not in (None, '"', "'") or node.start_mark.line != node.end_mark.line:
            raise PinEditError(f"{where}: must be a one-line plain or quoted value; edit it by hand")
        return node

    def pin(self, model: str) -> BundlePin:
        """The model's current pin; PinEditError when the text has no such model or its pin is malformed."""
        try:
            return BundlePin(self._scalar(model, VERSION_KEY).value, self._scalar(model, DIGEST_KEY).value)
        except InvalidPin as exc:
            raise exc.at(self.label, model) from None

    def with_pin(self, model: str, pin: BundlePin) -> str:
        """The text with the model pinned to ``pin``; every other byte as before."""
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
class PinEdit:
    """One model's pin moving from ``old`` to ``new`` in one stack file's text: ``new_text`` is the edited text."""

    label: str
    model: str
    old: BundlePin
    new: BundlePin
    original: str
    new_text: str

    @property
    def key(self) -> str:
        return f"{MODELS_KEY}.{self.model}"

    @property
    def is_noop(self) -> bool:
        return self.old == self.new

    def summary(self) -> str:
        return f"{self.label}: {self.key}: {self.old} -> {self.new}"


def edit_pin(document: PinDocument, model: str, new: BundlePin) -> PinEdit:
    """Pin ``model`` to ``new`` in ``document``'s text: the two values change, nothing else.

    Raises PinEditError (unknown model, a pin that cannot be edited in place,
    an edit that does not read back as ``new``) or PinConflict (the version is
    already pinned to a different bundle). Pinning what is already pinned is a
    no-op (``is_noop``), not an error.
    """
    old = document.pin(model)
    if old.version == new.version and old.bundle_sha256 != new.bundle_sha256:
        raise PinConflict(
            f"{document.label}: {MODELS_KEY}.{model}.{DIGEST_KEY}: version {old.version} is pinned to "
            f"{old.bundle_sha256}, not {new.bundle_sha256}; a released version's bundle must not change: "
            "release a new version"
        )
    if old == new:
        return PinEdit(document.label, model, old, new, document.text, document.text)
    new_text = document.with_pin(model, new)
    if read_pin(new_text, model) != (new.version, new.bundle_sha256):
        raise PinEditError(f"{document.label}: {MODELS_KEY}.{model}: the edit does not read back as {new}; edit it by hand")
    return PinEdit(document.label, model, old, new, document.text, new_text)


def read_pin(text: str, model: str) -> tuple[Any, Any]:
    """(version, bundleSha256) of ``model`` as a YAML reader reads ``text``: what Pulumi will read."""
    try:
        entry = (yaml.safe_load(text) or {})["config"][MODELS_KEY][model]
        return entry.get(VERSION_KEY), entry.get(DIGEST_KEY)
    except (yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None, None
