"""What changes between two plans: resources added, removed, changed, per property."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelctl.engine import Plan, PlannedResource, to_plain

_MISSING = object()


def resource_key(r: PlannedResource) -> str:
    """Identity across stacks: the URN without its stack and project parts."""
    return r.urn.split("::", 2)[2]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": [1]}}`` -> ``{"a.b[0]": 1}``; empty containers are kept as leaves."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


@dataclass(frozen=True)
class PropertyChange:
    path: str
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old": None if self.old is _MISSING else self.old,
            "new": None if self.new is _MISSING else self.new,
            "kind": "add" if self.old is _MISSING else "delete" if self.new is _MISSING else "update",
        }


@dataclass
class ResourceChange:
    key: str
    type: str
    name: str
    properties: list[PropertyChange] = field(default_factory=list)


@dataclass
class PlanDiff:
    added: list[PlannedResource]
    removed: list[PlannedResource]
    changed: list[ResourceChange]
    outputs: list[PropertyChange]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.outputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [{"type": r.type, "name": r.name, "key": resource_key(r)} for r in self.added],
            "removed": [{"type": r.type, "name": r.name, "key": resource_key(r)} for r in self.removed],
            "changed": [
                {"type": c.type, "name": c.name, "key": c.key, "properties": [p.to_json() for p in c.properties]}
                for c in self.changed
            ],
            "outputs": [p.to_json() for p in self.outputs],
        }


def _property_changes(old: Any, new: Any) -> list[PropertyChange]:
    a, b = flatten(to_plain(old)), flatten(to_plain(new))
    return [
        PropertyChange(path, a.get(path, _MISSING), b.get(path, _MISSING))
        for path in sorted(set(a) | set(b))
        if a.get(path, _MISSING) != b.get(path, _MISSING)
    ]


def diff_plans(base: Plan, head: Plan) -> PlanDiff:
    old = {resource_key(r): r for r in base.resources}
    new = {resource_key(r): r for r in head.resources}
    changed = []
    for key in sorted(set(old) & set(new)):
        props = _property_changes(old[key].inputs, new[key].inputs)
        props += _property_changes({"(options)": old[key].options}, {"(options)": new[key].options})
        if props:
            changed.append(ResourceChange(key, new[key].type, new[key].name, props))
    return PlanDiff(
        added=[new[k] for k in sorted(set(new) - set(old))],
        removed=[old[k] for k in sorted(set(old) - set(new))],
        changed=changed,
        outputs=_property_changes(base.outputs, head.outputs),
    )


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def format_diff(d: PlanDiff, base_label: str, head_label: str) -> str:
    lines = [f"--- {base_label}", f"+++ {head_label}"]
    if d.empty:
        lines.append("no changes")
        return "\n".join(lines)
    for r in d.added:
        lines.append(f"+ {r.type}  {r.name}")
    for r in d.removed:
        lines.append(f"- {r.type}  {r.name}")
    for c in d.changed:
        lines.append(f"~ {c.type}  {c.name}")
        for p in c.properties:
            lines.append(f"    {p.path}: {_show(p.old)} => {_show(p.new)}")
    if d.outputs:
        lines.append("~ outputs")
        for p in d.outputs:
            lines.append(f"    {p.path}: {_show(p.old)} => {_show(p.new)}")
    lines.append(
        f"{len(d.added)} to add, {len(d.changed)} to change, {len(d.removed)} to remove, {len(d.outputs)} output changes"
    )
    return "\n".join(lines)
