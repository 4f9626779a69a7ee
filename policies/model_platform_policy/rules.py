"""How the pack declares a policy: a name, a fix-it description, an explicit
enforcement level, the resource types it reads and its configurable settings.

Every policy is MANDATORY in code; the per-environment config files
(``policies/<env>.json``) relax some of them, which keeps "what the rule
checks" here and "how hard it bites where" in one small file per environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

MANDATORY = EnforcementLevel.MANDATORY

#: The stack-file keys each policy's violations may name (``model_platform_policy.stack_keys``), by policy
#: name; ``<name>`` stands for a model, ``<key>`` for a tag or connection id. tests/test_policies_hints.py
#: trips every one of them through a stack file.
STACK_KEY_HINTS: dict[str, tuple[str, ...]] = {}

Config = Mapping[str, Any]
ResourceCheck = Callable[[ResourceValidationArgs, ReportViolation, Config], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation, Config], None]


@dataclass(frozen=True)
class Setting:
    """One configurable value of a policy, declared as the JSON schema the CLI validates config files against."""

    name: str
    schema: Mapping[str, Any]
    default: Any
    description: str

    def json_schema(self) -> dict[str, Any]:
        return {**self.schema, "default": self.default, "description": self.description}


def flag(name: str, default: bool, description: str) -> Setting:
    return Setting(name, {"type": "boolean"}, default, description)


def count(name: str, default: int, description: str, minimum: int = 0) -> Setting:
    return Setting(name, {"type": "integer", "minimum": minimum}, default, description)


def strings(name: str, default: Sequence[str], description: str) -> Setting:
    return Setting(name, {"type": "array", "items": {"type": "string"}}, list(default), description)


def text(name: str, default: str, description: str) -> Setting:
    return Setting(name, {"type": "string"}, default, description)


@dataclass(frozen=True)
class Settings:
    """A policy's settings; reading them fills in the defaults (tests and the pack alike)."""

    items: tuple[Setting, ...] = field(default_factory=tuple)

    def schema(self) -> Optional[PolicyConfigSchema]:
        if not self.items:
            return None
        return PolicyConfigSchema(properties={s.name: s.json_schema() for s in self.items})

    def read(self, given: Config) -> dict[str, Any]:
        return {s.name: given.get(s.name, s.default) for s in self.items}


def _declare_hints(name: str, hints: Sequence[str]) -> None:
    if hints:
        STACK_KEY_HINTS[name] = tuple(hints)


def resource_policy(
    name: str,
    description: str,
    check: ResourceCheck,
    types: Sequence[str] | Callable[[str], bool],
    settings: Sequence[Setting] = (),
    hints: Sequence[str] = (),
) -> ResourceValidationPolicy:
    """A per-resource policy that runs ``check`` only on ``types`` (a list of tokens or a predicate).

    ``hints``: the stack-file keys its violations may name (see :data:`STACK_KEY_HINTS`).
    """
    wanted = types if callable(types) else frozenset(types).__contains__
    declared = Settings(tuple(settings))
    _declare_hints(name, hints)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if wanted(args.resource_type):
            check(args, report, declared.read(args.get_config()))

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=MANDATORY,
        config_schema=declared.schema(),
    )


def stack_policy(
    name: str, description: str, check: StackCheck, settings: Sequence[Setting] = (), hints: Sequence[str] = ()
) -> StackValidationPolicy:
    """A policy over the whole stack, for rules that join resources (a bucket and its side resources)."""
    declared = Settings(tuple(settings))
    _declare_hints(name, hints)

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        check(args, report, declared.read(args.get_config()))

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=MANDATORY,
        config_schema=declared.schema(),
    )
