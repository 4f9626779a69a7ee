"""Generate the config reference from the schema, so defaults are documented where they are defined."""

from __future__ import annotations

import typing
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from infra.config import CREDENTIAL_KEYS, PROJECT, SecretValue, StackConfig


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The config block behind a field's annotation, and how the key is addressed."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    if origin is dict and len(args) == 2:
        inner, _ = _model_of(args[1])
        return inner, ".<name>"
    if args and origin is not list:
        for a in args:
            inner, suffix = _model_of(a)
            if inner:
                return inner, suffix
    return None, ""


def _type_name(annotation: Any) -> str:
    if annotation is SecretValue:
        return "secure string"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(m.value for m in annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:  # a checked type (e.g. a model version): named by what it holds
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin is typing.Union:
        return " \\| ".join(_type_name(a) for a in args if a is not type(None))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(see below)" if not value.model_dump(exclude_defaults=True) else f"`{value.model_dump(by_alias=True)}`"
        return f"`{value}`" if value else "empty"
    if field.default is None or field.default is PydanticUndefined:
        return "unset"
    value = field.default.value if isinstance(field.default, Enum) else field.default
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = f"{prefix}{field.alias or name}"
        rows.append((key, _type_name(field.annotation), _default(field), field.description or ""))
        inner, suffix = _model_of(field.annotation)
        if inner is not None:
            rows += _rows(inner, f"{key}{suffix}.")
    return rows


#: What the version keys mean, before the table that lists them.
VERSIONS_AND_RELEASES = (
    "**Versions and releases.** A model version (`models.<name>.version`) names one immutable folder of the bundle",
    "store, `<model>/<version>/`: a training run's own version (`<UTC date>-<run id>`, e.g. `2026-12-02-884422123`;",
    "every run writes a new one and never overwrites another) or any other valid version name (e.g. `1.4.0`): 1 to",
    "63 letters, digits, `.`, `_` or `-`, starting and ending with a letter or digit. A release is a version and its",
    "bundle's digest together (`version` + `bundleSha256`): what a stack serves. Change the pair only with",
    "`modelctl release` (digest read from the version's sealed `bundle.zip.sha256` with `--from-s3`) or",
    "`modelctl promote`; the stack then rolls the pods and rewrites `<model>/released.json`, and nothing in",
    "training changes. `training.packageVersion` is the training code's own version (the wheel or jar the job",
    "installs), not a model version.",
)


def render_config_doc() -> str:
    lines = [
        "# Stack configuration reference",
        "",
        f"Generated from the schema in `infra/config/` by `modelctl config-doc`; keys live under `{PROJECT}:` in",
        "`stacks/Pulumi.<stack>.yaml`. Unknown keys are errors. Credentials "
        f"({', '.join(f'`{k}`' for k in CREDENTIAL_KEYS)}, and any key named by `passwordKey`) are accepted only",
        "as secure values: `pulumi config set --secret KEY`.",
        "",
        *VERSIONS_AND_RELEASES,
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for key, type_, default, doc in _rows(StackConfig, ""):
        lines.append(f"| `{key}` | {type_} | {default} | {doc} |")
    return "\n".join(lines) + "\n"
