"""Where a stack's raw config comes from: the Pulumi runtime, or a stack file.

``pulumi up`` hands the program its config through the runtime (decrypted,
with the list of secure keys); ``modelctl`` reads the stack file and feeds the
very same runtime API, with every secure value replaced by a placeholder, so
both paths go through one parser.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import yaml

from infra.config import PROJECT

if TYPE_CHECKING:
    from infra.config import StackConfig

#: What a secure value reads as offline; never decrypted.
SECRET_PLACEHOLDER = "[secret]"
STACKS_DIR = "stacks"


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
    """This project's config keys (prefix stripped) and which of them are secure."""
    from pulumi.runtime import config as rc

    merged: dict[str, Any] = dict(rc.get_config_env())
    merged.update(rc.CONFIG.get())
    secret = set(rc._SECRET_KEYS.get()) | set(rc.get_config_secret_keys_env())
    prefix = f"{PROJECT}:"
    values = {k[len(prefix):]: decode(v) for k, v in merged.items() if k.startswith(prefix)}
    secrets = frozenset(k[len(prefix):] for k in secret if k.startswith(prefix))
    return values, secrets


class StackFileError(Exception):
    """The stack file cannot be read as a Pulumi stack file at all."""


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
            doc = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise StackFileError(f"{label}: cannot read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise StackFileError(f"{label}: not valid YAML: {exc}") from None
        return cls.from_document(doc, label, path)

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
                flat[key] = json.dumps(_redact(value))
                secrets.append(key)
            elif isinstance(value, (dict, list)):
                flat[key] = json.dumps(value)
            elif isinstance(value, bool):
                flat[key] = "true" if value else "false"
            else:
                flat[key] = "" if value is None else str(value)
        return cls(path or Path(label), label, flat, tuple(secrets))

    def stack_config(self) -> "StackConfig":
        """The typed config, parsed as ``pulumi up`` would (secure values stay placeholders)."""
        from infra.config import parse_stack_config

        prefix = f"{PROJECT}:"
        values = {k[len(prefix):]: decode(v) for k, v in self.config.items() if k.startswith(prefix)}
        secrets = frozenset(k[len(prefix):] for k in self.secret_keys if k.startswith(prefix))
        return parse_stack_config(values, secrets, self.label)


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
