"""Where a stack's raw config comes from: the Pulumi runtime, or a stack file.

``pulumi up`` hands the program its config through the runtime (decrypted,
with the list of secure keys); ``modelctl`` reads the stack file and feeds the
very same runtime API, with every secure value replaced by a placeholder, so
both paths go through one parser. Both hand the parser every key, whatever its
namespace, so a misspelled ``model-platform:`` namespace is refused too.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import yaml

from infra.contract.naming import PROJECT

if TYPE_CHECKING:
    from infra.config import StackConfig

STACKS_DIR = "stacks"
#: What a secure value reads as offline (``modelctl``); never decrypted. The config parser and modelctl import it here.
SECRET_PLACEHOLDER = "[secret]"


#: Set by ``modelctl`` when it plans a file outside ``stacks/`` (a fixture, a git revision).
STACK_FILE_LABEL: ContextVar[Optional[str]] = ContextVar("stack_file_label", default=None)


def stack_file_label(stack: str) -> str:
    """How errors name a stack's file: relative to the project root."""
    return STACK_FILE_LABEL.get() or f"{STACKS_DIR}/Pulumi.{stack}.yaml"


def decode(value: Any) -> Any:
    """Pulumi passes structured config as JSON text; scalars stay strings."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def read_runtime_config() -> tuple[dict[str, Any], frozenset[str]]:
    """Every config key of the stack (namespace included, values decoded), and which of them are secure.

    Through the SDK's public runtime API only: the keys come from the config
    the engine set (``set_all_config``, which is also how ``modelctl`` feeds a
    stack file) and from ``PULUMI_CONFIG``; a key is secure when
    ``is_config_secret`` says so or ``PULUMI_CONFIG_SECRET_KEYS`` names it.
    """
    import pulumi.runtime as runtime
    from pulumi.runtime.config import CONFIG

    keys = {**runtime.get_config_env(), **CONFIG.get()}
    values = {key: runtime.get_config(key) for key in keys}
    secret = {key for key in keys if runtime.is_config_secret(key)} | set(runtime.get_config_secret_keys_env())
    return {k: decode(v) for k, v in values.items()}, frozenset(secret)


class StackFileError(Exception):
    """The stack file cannot be read as a Pulumi stack file at all."""


class _StackFileLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading scalars as Pulumi does: a date stays the string it is written as.

    (PyYAML would make ``2024-01-01`` a ``date``, which is not config and not JSON.)
    """


_StackFileLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _duplicate_key_error(node: yaml.Node, label: str, path: tuple[str, ...] = ()) -> Optional[str]:
    """The first key written twice in one mapping, with its line and key path.

    PyYAML keeps the last of two equal keys and ruamel (modelctl's editor) the
    first: the two readers of one file would disagree, so neither may choose.
    """
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = str(key_node.value)
            # The stack's keys are addressed below `config:`, as `pulumi config` and the errors name them.
            dotted = ".".join((*path, key)[1:] if path[:1] == ("config",) else (*path, key))
            if key in seen:
                return f"{label}: line {key_node.start_mark.line + 1}: duplicate key {dotted}"
            seen.add(key)
            found = _duplicate_key_error(value_node, label, (*path, key))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = _duplicate_key_error(item, label, (*path, str(index)))
            if found:
                return found
    return None


def _load_yaml(text: str, label: str) -> Any:
    """The YAML document in ``text``; StackFileError naming ``label`` if it is not valid or repeats a key."""
    loader = _StackFileLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        duplicate = _duplicate_key_error(node, label)
        if duplicate:
            raise StackFileError(duplicate)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise StackFileError(f"{label}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _config_text(key: str, value: Any, label: str) -> str:
    """A plain config value as the runtime hands it over: structured values as JSON, scalars as text."""
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            raise StackFileError(f"{label}: {key}: holds a value that is not plain config (quote it)") from None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass(frozen=True)
class StackFile:
    """A stack file read for offline use: config as the runtime would see it."""

    path: Path
    label: str
    config: dict[str, str]
    secret_keys: tuple[str, ...]

    @classmethod
    def load(cls, path: Path, label: str | None = None) -> "StackFile":
        label = label or str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise StackFileError(f"{label}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise StackFileError(f"{label}: not UTF-8 text") from None
        return cls.from_text(text, label, path)

    @classmethod
    def from_text(cls, text: str, label: str, path: Path | None = None) -> "StackFile":
        """The one way from a stack file's text to a StackFile, for every reader (file, git revision, edit).

        Raises StackFileError naming ``label`` when the text is not YAML, repeats
        a key, or is not shaped like a stack file.
        """
        doc = _load_yaml(text, label)
        return cls.from_document({} if doc is None else doc, label, path)

    @classmethod
    def from_document(cls, doc: Any, label: str, path: Path | None = None) -> "StackFile":
        if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
            raise StackFileError(f"{label}: expected a mapping with a 'config:' mapping")
        flat: dict[str, str] = {}
        secrets: list[str] = []
        for key, value in (doc.get("config") or {}).items():
            key = str(key)
            if ":" not in key:
                key = f"{PROJECT}:{key}"
            if isinstance(value, dict) and set(value) == {"secure"}:
                flat[key] = SECRET_PLACEHOLDER
                secrets.append(key)
            elif _has_secure(value):
                # As at run time, the whole key is secret; the placeholder marks which value inside was secure.
                flat[key] = _config_text(key, _redact(value), label)
                secrets.append(key)
            else:
                flat[key] = _config_text(key, value, label)
        return cls(path or Path(label), label, flat, tuple(secrets))

    def stack_config(self) -> "StackConfig":
        """The typed config, parsed as ``pulumi up`` would (secure values stay placeholders)."""
        from infra.config import parse_stack_config

        values = {k: decode(v) for k, v in self.config.items()}
        return parse_stack_config(values, frozenset(self.secret_keys), self.label)


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value
