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


def render_config_doc() -> str:
    lines = [
        "# Stack configuration reference",
        "",
        f"Generated from `infra/config.py` by `modelctl config-doc`; keys live under `{PROJECT}:` in",
        "`stacks/Pulumi.<stack>.yaml`. Unknown keys are errors. Credentials "
        f"({', '.join(f'`{k}`' for k in CREDENTIAL_KEYS)}, and any key named by `passwordKey`) are accepted only",
        "as secure values: `pulumi config set --secret KEY`.",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for key, type_, default, doc in _rows(StackConfig, ""):
        lines.append(f"| `{key}` | {type_} | {default} | {doc} |")
    return "\n".join(lines) + "\n"
