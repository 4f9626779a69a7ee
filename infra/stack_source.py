"""Where a stack's raw config comes from: the Pulumi runtime, or a stack file.

``pulumi up`` hands the program its config through the runtime (decrypted,
with the list of secure keys); ``modelctl`` reads the stack file and feeds the
very same runtime API, with every secure value replaced by a placeholder, so
both paths go through one parser. Both hand the parser every key, whatever its
namespace, so a misspelled ``model-platform:`` namespace is refused too.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

import yaml

from infra.contract.limits import MAX_STACK_FILE_BYTES, MAX_YAML_ALIASES, MAX_YAML_DEPTH, MAX_YAML_NODES
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

    Values and secrecy through the SDK's public runtime API (``get_config``,
    ``is_config_secret``, ``get_config_env``, ``get_config_secret_keys_env``).
    The SDK has no public call that lists the keys, so their names come from
    ``PULUMI_CONFIG`` and from ``pulumi.runtime.config.CONFIG``, the public
    module's store that ``set_all_config`` fills (under ``pulumi up`` the
    language host calls it; ``modelctl`` feeds a stack file the same way).
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
    """PyYAML's safe loader, reading scalars as Pulumi does, and refusing hostile structure while it composes.

    Scalars as Pulumi's YAML 1.2 reader sees them: a date stays the string it
    is written as (PyYAML would make ``2024-01-01`` a ``date``, which is not
    config and not JSON), and only ``true``/``false`` are booleans (``yes``,
    ``on`` stay text, which a boolean key then refuses). Composition stops at
    the first alias past ``MAX_YAML_ALIASES`` or level past ``MAX_YAML_DEPTH``:
    an alias bomb or a deeply nested file is refused before it costs time or
    memory.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise _StructureError(f"line {self._line()}: uses more than {MAX_YAML_ALIASES} YAML aliases (*name)")
            return super().compose_node(parent, index)
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise _StructureError(f"line {self._line()}: nests mappings and lists more than {MAX_YAML_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _line(self) -> int:
        return self.peek_event().start_mark.line + 1


class _StructureError(Exception):
    """A stack file's YAML is shaped to cost time or memory (too many aliases, too deep, expands too far)."""


_YAML12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


_StackFileLoader.yaml_implicit_resolvers = {
    first: [
        (tag, _YAML12_BOOL if tag == "tag:yaml.org,2002:bool" else regexp)
        for tag, regexp in resolvers
        if tag != "tag:yaml.org,2002:timestamp"
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes ``root`` becomes once every alias is followed; _StructureError past MAX_YAML_NODES.

    Each distinct node is sized once (an alias shares its anchor's node), so
    this costs the nodes written, not the nodes they expand to.
    """
    sizes: dict[int, int] = {}
    pending: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in pending:
            raise _StructureError("has a YAML alias inside its own anchor (a recursive structure)")
        pending.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        if total > MAX_YAML_NODES:
            raise _StructureError(f"expands to more than {MAX_YAML_NODES} YAML nodes once its aliases are followed")
        pending.discard(key)
        sizes[key] = total
        return total

    return size(root)


def check_size(size: int, label: str) -> None:
    """Refuse a stack file larger than MAX_STACK_FILE_BYTES, before any YAML is parsed."""
    if size > MAX_STACK_FILE_BYTES:
        raise StackFileError(
            f"{label}: is {size} bytes, more than the {MAX_STACK_FILE_BYTES} a stack file may hold "
            f"({MAX_STACK_FILE_BYTES // 1024} KiB, infra/contract/limits.py)"
        )


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


#: Where a config key is written: its line (1-based) and, for a plain scalar, the text as written.
Position = tuple[int, Optional[str]]


def _positions(root: yaml.Node) -> dict[str, Position]:
    """Each config key's position, by its full key path (``model-platform:models.x.version``), as errors name it."""
    out: dict[str, Position] = {}

    def walk(node: yaml.Node, path: str) -> None:
        items: list[tuple[str, yaml.Node, yaml.Node]] = []
        if isinstance(node, yaml.MappingNode):
            items = [(str(k.value), k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
        elif isinstance(node, yaml.SequenceNode):
            items = [(str(i), v, v) for i, v in enumerate(node.value)]
        for key, key_node, value in items:
            if not path and ":" not in key:
                key = f"{PROJECT}:{key}"
            sub = f"{path}.{key}" if path else key
            plain = value.value if isinstance(value, yaml.ScalarNode) and value.style is None else None
            out.setdefault(sub, (key_node.start_mark.line + 1, plain))
            walk(value, sub)

    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "config":
                walk(value, "")
    return out


def _load_yaml(text: str, label: str) -> tuple[Any, dict[str, Position]]:
    """The YAML document in ``text`` and its keys' positions; StackFileError naming ``label`` if it is not valid,
    repeats a key or is shaped to cost time or memory."""
    loader = _StackFileLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _expanded_size(node)
        duplicate = _duplicate_key_error(node, label)
        if duplicate:
            raise StackFileError(duplicate)
        return loader.construct_document(node), _positions(node)
    except yaml.YAMLError as exc:
        raise StackFileError(f"{label}: not valid YAML: {exc}") from None
    except _StructureError as exc:
        raise StackFileError(f"{label}: refused: {exc}") from None
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
    #: Where each config key is written (read from text only): errors name its line.
    positions: Mapping[str, Position] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path, label: str | None = None) -> "StackFile":
        label = label or str(path)
        try:
            with path.open("rb") as stream:  # at most one byte past the limit, whatever the file claims to be
                data = stream.read(MAX_STACK_FILE_BYTES + 1)
            check_size(max(len(data), path.stat().st_size), label)
            text = data.decode("utf-8")
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
        check_size(len(text) if len(text) > MAX_STACK_FILE_BYTES else len(text.encode("utf-8")), label)
        doc, positions = _load_yaml(text, label)
        stack_file = cls.from_document({} if doc is None else doc, label, path)
        return cls(stack_file.path, label, stack_file.config, stack_file.secret_keys, positions)

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

    def stack_config(self, *, stack: Optional[str] = None) -> "StackConfig":
        """The typed config, parsed as ``pulumi up`` would (secure values stay placeholders).

        ``stack`` binds the environment (default: the stack the label's
        ``Pulumi.<stack>.yaml`` names); a ConfigError carries each problem's line.
        """
        from infra.config import ConfigError, parse_stack_config

        values = {k: decode(v) for k, v in self.config.items()}
        written = {key: text for key, (_, text) in self.positions.items() if text is not None}
        try:
            return parse_stack_config(values, frozenset(self.secret_keys), self.label, stack=stack, written=written)
        except ConfigError as exc:
            raise ConfigError(exc.source, exc.problems, [self.line_of(p) for p in exc.problems]) from None

    def line_of(self, problem: str) -> Optional[int]:
        """The line of the key a problem names (``model-platform:a.b.c: ...``), or of its nearest written parent."""
        key = problem.split(": ", 1)[0]
        while key:
            if key in self.positions:
                return self.positions[key][0]
            key = key.rpartition(".")[0]
        return None


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
