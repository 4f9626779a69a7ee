"""A policy pack's config file, reconciled with the pack's own policies as the Pulumi CLI does it.

``--policy-pack-config policies/<env>.json`` holds ``{"all": LEVEL, "<policy>":
LEVEL | {"enforcementLevel": LEVEL, <settings>}}``. Each policy's effective
config is its defaults (from GetAnalyzerInfo), then ``all``, then its own
entry; settings are checked against the policy's JSON schema. Unlike the CLI,
a policy name or setting the pack does not know is an error here: a typo in
the file would otherwise silently leave a rule at its default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from infra.config import ConfigError

LEVELS = ("advisory", "mandatory", "remediate", "disabled")


@dataclass(frozen=True)
class PolicyConfig:
    """One entry of a policy config file: an enforcement level and/or settings."""

    level: Optional[str] = None
    properties: Mapping[str, Any] = field(default_factory=dict)


def load_policy_config(path: Path, label: str) -> dict[str, PolicyConfig]:
    """Parse ``{"all": "mandatory", "<policy>": "advisory" | {"enforcementLevel": ..., <settings>}}``."""
    try:
        document = json.loads(path.read_text() or "{}")
    except OSError as exc:
        raise ConfigError(label, [f"cannot read the policy config: {exc.strerror}"]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(label, [f"not valid JSON: {exc}"]) from None
    if not isinstance(document, dict):
        raise ConfigError(label, ["must be a JSON object keyed by policy name"])
    entries, problems = {}, []
    for name, value in document.items():
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            problems.append(f"{name}: {value!r} is neither an enforcement level nor an object")
            continue
        settings = {k: v for k, v in value.items() if k != "enforcementLevel"}
        level = value.get("enforcementLevel")
        if level is not None and level not in LEVELS:
            problems.append(f"{name}: enforcement level {level!r} is not one of {', '.join(LEVELS)}")
            continue
        entries[name] = PolicyConfig(level, settings)
    if problems:
        raise ConfigError(label, problems)
    return entries


def level_name(level: int) -> str:
    """``mandatory`` for ``EnforcementLevel.MANDATORY``: the spelling of config files and reports."""
    return analyzer_pb2.EnforcementLevel.Name(level).lower()


def reconcile(
    info: analyzer_pb2.AnalyzerInfo, given: Mapping[str, PolicyConfig], label: str
) -> dict[str, PolicyConfig]:
    """Each policy's effective config: its defaults, then ``all``, then its own entry; ConfigError on mistakes."""
    schemas = {p.name: json_format.MessageToDict(p.configSchema.properties) for p in info.policies}
    effective = {
        p.name: PolicyConfig(
            level_name(p.enforcementLevel), {k: s["default"] for k, s in schemas[p.name].items() if "default" in s}
        )
        for p in info.policies
    }
    problems = [
        f"{name}: not a policy of the {info.name} pack (typo?)"
        for name in given
        if name != "all" and name not in effective
    ]
    everyone = given.get("all")
    for name, current in effective.items():
        own = given.get(name, PolicyConfig())
        level = own.level or (everyone.level if everyone else None) or current.level
        effective[name] = PolicyConfig(level, {**current.properties, **own.properties})
        problems += [f"{name}: {p}" for p in _schema_problems(schemas[name], own.properties)]
    if problems:
        raise ConfigError(label, problems)
    return effective


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
}


def _schema_problems(schema: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]) -> Iterator[str]:
    """The JSON-schema keywords the pack's settings use: type, items, minimum, enum; unknown settings are typos."""
    for key, value in values.items():
        spec = schema.get(key)
        if spec is None:
            yield f"{key!r} is not a setting of this policy (settings: {', '.join(sorted(schema)) or 'none'})"
        else:
            yield from (f"{key}: {p}" for p in _value_problems(spec, value))


def _value_problems(spec: Mapping[str, Any], value: Any) -> Iterator[str]:
    kind = spec.get("type")
    wanted = _JSON_TYPES.get(kind, (object,))
    if isinstance(value, bool) and bool not in wanted or not isinstance(value, wanted):
        yield f"{value!r} is not of type {kind}"
        return
    if kind == "integer" and isinstance(value, float) and not value.is_integer():
        yield f"{value!r} is not an integer"
    if "minimum" in spec and value < spec["minimum"]:
        yield f"{value!r} is less than the minimum of {spec['minimum']:g}"
    if "enum" in spec and value not in spec["enum"]:
        yield f"{value!r} is not one of {spec['enum']}"
    for item in value if kind == "array" else ():
        yield from _value_problems(spec.get("items", {}), item)
