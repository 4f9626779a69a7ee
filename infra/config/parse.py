"""From the config the Pulumi runtime hands over to a ``StackConfig``, or a ``ConfigError`` naming every problem.

Every error names the stack file and the full key path, e.g.::

    stacks/Pulumi.prod.yaml: model-platform:models.days-to-sell.serving.replicas.min: 12 is greater than max (10)

Credentials are accepted only as secure top-level keys and never echoed.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from pydantic import BaseModel, ValidationError

from infra.config.base import ConfigError, _camel
from infra.config.rules import _cross_stack_problems, _Parts
from infra.config.stack import CREDENTIAL_KEYS, FOREIGN_NAMESPACES, SECRET_PLACEHOLDER, Environment, SecretValue, StackConfig
from infra.contract.credentials import credential_value_kind, is_credential_name
from infra.contract.model_version import MODEL_NAME
from infra.contract.naming import CANARY_SUFFIX, PROJECT, stack_environment, stack_of_file


def _key_path(loc: tuple[Any, ...], subpath: str = "") -> str:
    return f"{PROJECT}:" + ".".join([str(p) for p in loc] + ([subpath] if subpath else []))


def _is_sensitive(error: Mapping[str, Any]) -> bool:
    """Whether the error's input may be a credential, which must never be echoed."""
    if error["type"] == "is_instance_of" and (error.get("ctx") or {}).get("class") == SecretValue.__name__:
        return True
    if isinstance(error.get("input"), str) and credential_value_kind(error["input"]):
        return True
    return any(isinstance(p, str) and is_credential_name(p) for p in error["loc"])


def _unwrap(annotation: Any) -> Any:
    """The block or container an annotation holds: Annotated and Optional taken off."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys a stack file may write in the block at ``loc`` (below ``model-platform:``); [] if not a block."""
    current: Any = StackConfig
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items() if not f.exclude]
    return []


def _unknown_key(key: str, known: Iterable[str]) -> str:
    """``unknown key`` with the nearest valid key, or a camelCase hint for a snake_case spelling."""
    known = list(known)
    camel = _camel(key)
    if camel != key and camel in known:
        return f"unknown key: stack files spell keys in camelCase ({camel})"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    if camel != key:
        return f"unknown key: stack files spell keys in camelCase ({camel})"
    return "unknown key (typo?)"


def _describe(error: Mapping[str, Any]) -> str:
    kind, msg = error["type"], error["msg"]
    value = None if _is_sensitive(error) else error.get("input")
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        if is_credential_name(key):
            return "is a credential: set it as a secure top-level key (pulumi config set --secret ...), never in plain text"
        return _unknown_key(key, _keys_at(tuple(error["loc"][:-1])))
    if kind == "missing":
        return "is required"
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value!r} was read by YAML as a number, not text: quote it (\"{value}\")"
    if kind == "string_pattern_mismatch" and isinstance(value, str):
        return f"{value!r} does not match {error['ctx']['pattern']}"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if isinstance(value, (str, int, float, bool)):
        return f"{value!r}: {msg}"
    return msg


def _error_lines(error: Mapping[str, Any], written: Mapping[str, str]) -> list[str]:
    """One line per problem of a pydantic error (a validator's error may carry several).

    ``written`` holds scalars as the stack file wrote them: where YAML made a
    number of one (``1.10`` read as 1.1), the message shows what to quote.
    """
    if error["type"] == "cross_field":
        return [f"{_key_path(error['loc'], sub)}: {msg}" for sub, msg in error["ctx"]["problems"]]
    path, value = _key_path(error["loc"]), error.get("input")
    text = written.get(path)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and text and text != repr(value):
        return [f"{path}: {text} was read by YAML as the number {value!r}, not text: quote it (\"{text}\")"]
    return [f"{path}: {_describe(error)}"]


def _split_key(key: str) -> tuple[str, str]:
    """(namespace, name) of a config key; a key without one is the project's, as in Pulumi."""
    namespace, colon, name = key.partition(":")
    return (namespace, name) if colon else (PROJECT, key)


def _namespace_problem(key: str, namespace: str) -> str:
    known = (PROJECT, *FOREIGN_NAMESPACES)
    close = difflib.get_close_matches(namespace, known, n=1)
    hint = f" (typo of {close[0]!r}?)" if close else ""
    return (
        f"{key}: unknown config namespace {namespace!r}{hint}: nothing would read this key. Stack files hold {PROJECT}:* "
        f"keys, and {', '.join(f'{ns}:*' for ns in FOREIGN_NAMESPACES)} for the providers and Pulumi"
    )


def _secret_paths(value: Any, path: str) -> list[str]:
    """Key paths inside ``value`` holding an (offline) secure value."""
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _secret_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secret_paths(v, f"{path}.{i}")]
    return [path] if value == SECRET_PLACEHOLDER else []


def _nested_secret_problems(key: str, value: Any) -> list[str]:
    """A secure value inside structured config (``pulumi config set --path --secret``): name where, say what to do.

    Offline, the stack file shows which nested value is secure; at run time the
    whole top-level key arrives secret and decrypted, so only the key is named.
    """
    advice = (
        "structured config cannot hold a secure value: set it as a top-level secure key "
        "(pulumi config set --secret NAME) and name that key in passwordKey"
    )
    nested = _secret_paths(value, f"{PROJECT}:{key}")
    if nested:
        return [f"{path}: is a secure value inside structured config (pulumi config set --path --secret); {advice}" for path in nested]
    return [f"{PROJECT}:{key}: is secret because a value inside it is (pulumi config set --path --secret); {advice}"]


@dataclass
class _ProjectKeys:
    """The project's top-level keys sorted out: plain data, secure values, and what is wrong with the rest."""

    data: dict[str, Any]
    secure: set[str]
    problems: list[str]
    #: Keys whose problem was reported here; rules spanning blocks stay silent about them.
    reported: set[str]


def _sort_project_keys(values: Mapping[str, Any], secret_keys: set[str]) -> _ProjectKeys:
    known = {f.alias for f in StackConfig.model_fields.values()} - {"extraSecrets"}
    out = _ProjectKeys({}, set(), [], set())
    extra: dict[str, SecretValue] = {}
    for key, value in values.items():
        path, camel = f"{PROJECT}:{key}", _camel(key)
        if key in secret_keys:
            if key not in known and camel != key and camel in known:
                out.problems.append(f"{path}: unknown key: stack files spell keys in camelCase ({camel})")
                out.reported.add(camel)
            elif isinstance(value, (Mapping, list)):
                out.problems += _nested_secret_problems(key, value)
                out.reported.add(key)
            elif not isinstance(value, str) or not value:
                out.problems.append(f"{path}: a secure value must be a non-empty string")
                out.reported.add(key)
            elif key in CREDENTIAL_KEYS:
                out.data[key] = SecretValue(value)
                out.secure.add(key)
            else:
                extra[key] = SecretValue(value)
                out.secure.add(key)
        elif key in CREDENTIAL_KEYS or (key not in known and is_credential_name(key)):
            name = camel if camel in CREDENTIAL_KEYS else key
            out.problems.append(f"{path}: is a credential in plain text: set it with 'pulumi config set --secret {name}'")
            out.reported |= {key, name}
        elif key not in known:
            out.problems.append(f"{path}: {_unknown_key(key, sorted(known))}")
        else:
            out.data[key] = value
    out.data["extraSecrets"] = extra
    return out


def _model_name_problems(models: Any) -> list[str]:
    """Model names become Kubernetes names: DNS labels, and none equal to another model's canary Deployment."""
    if not isinstance(models, Mapping):
        return []
    names = {str(n): None for n in models}  # ordered, with set lookups
    out: list[str] = []
    for name in names:
        if not re.fullmatch(MODEL_NAME, name):
            out.append(
                f"{PROJECT}:models.{name}: model name must be a DNS label: lowercase letters, digits and '-', at most 40 characters"
            )
        base = name.removesuffix(CANARY_SUFFIX)
        if base != name and base in names:
            out.append(
                f"{PROJECT}:models.{name}: collides with model {base!r}, whose canary Deployment is named {name!r}: "
                "rename one of the two models"
            )
    return out


def _environment_problem(declared: Optional[Environment], stack: Optional[str]) -> tuple[list[str], Optional[Environment]]:
    """A stack cannot declare a weaker environment than its name binds it to (``stack_environment``).

    Returns the problem, if any, and the environment the rules judge the stack
    as: the bound one, so a prod stack claiming to be staging still gets every
    production problem reported.
    """
    bound = stack_environment(stack) if stack else None
    if bound is None or declared is None or declared.value == bound:
        return [], declared
    problem = (
        f"{PROJECT}:environment: {declared.value!r} is not the environment of stack {stack!r}, which is {bound!r}: "
        f"a stack's name binds its environment (a stack named {bound} or {bound}-*; any name with 'prod' in it is "
        f"prod), so its policy level cannot be lowered from its own file"
    )
    return [problem], Environment(bound)


def parse_stack_config(
    values: Mapping[str, Any],
    secret_keys: Iterable[str],
    source: str,
    *,
    stack: Optional[str] = None,
    written: Optional[Mapping[str, str]] = None,
) -> StackConfig:
    """Parse one stack's config, as the Pulumi runtime hands it over.

    ``values`` maps every config key of the stack, namespace included
    (``model-platform:models``, ``aws:region``), to its decoded value (objects
    already JSON-decoded); ``secret_keys`` names those that were secure. Keys of
    the providers' and Pulumi's namespaces are theirs to read; a key in any
    other namespace (a misspelled ``model-platform``) would be read by no one,
    so it is refused. ``stack`` (default: from ``source``, ``.../Pulumi.<stack>.yaml``)
    binds the environment the stack may declare; ``written`` (key path to
    scalar as written, from a stack file) lets messages show what to quote. Raises ConfigError listing every
    problem, each with its full key path.
    """
    stack = stack or stack_of_file(source)
    problems: list[str] = []
    project_values: dict[str, Any] = {}
    for key, value in values.items():
        namespace, name = _split_key(key)
        if namespace == PROJECT:
            project_values[name] = value
        elif namespace not in FOREIGN_NAMESPACES:
            problems.append(_namespace_problem(key, namespace))
    project_secrets = {name for namespace, name in map(_split_key, secret_keys) if namespace == PROJECT}
    keys = _sort_project_keys(project_values, project_secrets)
    problems += keys.problems
    problems += _model_name_problems(keys.data.get("models"))
    cfg: Optional[StackConfig] = None
    try:
        cfg = StackConfig.model_validate(keys.data)
        parts = _Parts.of(cfg)
    except ValidationError as exc:
        problems += [line for error in exc.errors() for line in _error_lines(error, written or {})]
        parts = _Parts.salvage(keys.data, frozenset(keys.secure))
    environment_problems, environment = _environment_problem(parts.environment, stack)
    problems += environment_problems
    parts = dataclasses.replace(parts, environment=environment)
    problems += [f"{PROJECT}:{path}: {msg}" for path, msg in _cross_stack_problems(parts) if path not in keys.reported]
    if problems or cfg is None:
        raise ConfigError(source, problems)
    return cfg
