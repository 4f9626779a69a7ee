"""What changes between two plans: resources added, removed, changed, per property."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from modelctl.engine import Plan, PlannedResource, Secret, to_plain

_MISSING = object()
#: Around the path inside a JSON document held in a string: ``policy⟨Statement[0].Resource[2]⟩``.
JSON_OPEN, JSON_CLOSE = "⟨", "⟩"


def urn_key(urn: str) -> str:
    """Identity across stacks: the URN without its stack and project parts."""
    return urn.split("::", 2)[2]


def resource_key(r: PlannedResource) -> str:
    return urn_key(r.urn)


def _json_document(value: Any) -> Any:
    """The non-empty object or array a string holds as JSON text (IAM policies, cluster policies), else None."""
    if not isinstance(value, str) or value[:1] not in ("{", "["):
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    return document if isinstance(document, (dict, list)) and document else None


def flatten(value: Any, prefix: str = "", descend_json: bool = False) -> dict[str, Any]:
    """``{"a": {"b": [1]}}`` -> ``{"a.b[0]": 1}``; empty containers are kept as leaves.

    With ``descend_json``, a string holding a JSON object or array is
    flattened too, its paths written inside ``⟨ ⟩``: ``policy⟨Statement[0].Effect⟩``,
    so a diff names the statement that changed rather than the whole document.
    """
    out: dict[str, Any] = {}
    document = _json_document(value) if descend_json else None
    if document is not None:
        for path, leaf in flatten(document, "", descend_json).items():
            out[f"{prefix}{JSON_OPEN}{path}{JSON_CLOSE}"] = leaf
    elif isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k), descend_json))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]", descend_json))
    else:
        out[prefix] = value
    return out


@dataclass(frozen=True)
class PropertyChange:
    path: str
    old: Any
    new: Any

    @property
    def secret_changed(self) -> bool:
        """Both values are secrets, their fingerprints differ: the value changed, and stays unshown."""
        return isinstance(self.old, Secret) and isinstance(self.new, Secret)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old": None if self.old is _MISSING else to_plain(self.old),
            "new": None if self.new is _MISSING else to_plain(self.new),
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
    """Leaf-by-leaf changes; secrets compare by fingerprint (``Secret.__eq__``)."""
    a, b = flatten(old, descend_json=True), flatten(new, descend_json=True)
    return [
        PropertyChange(path, a.get(path, _MISSING), b.get(path, _MISSING))
        for path in sorted(set(a) | set(b))
        if a.get(path, _MISSING) != b.get(path, _MISSING)
    ]


def _comparable_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options as they matter across stacks: the provider by its stack-independent key, not its URN."""
    if "provider" not in options:
        return options
    return {**options, "provider": urn_key(options["provider"])}


def diff_plans(base: Plan, head: Plan) -> PlanDiff:
    """Resources matched by ``resource_key``; options compared only when both plans recorded them."""
    old = {resource_key(r): r for r in base.resources}
    new = {resource_key(r): r for r in head.resources}
    with_options = base.has_options and head.has_options
    changed = []
    for key in sorted(set(old) & set(new)):
        props = _property_changes(old[key].inputs, new[key].inputs)
        if with_options:
            props += _property_changes(
                {"(options)": _comparable_options(old[key].options)},
                {"(options)": _comparable_options(new[key].options)},
            )
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
    if isinstance(value, Secret):
        return str(value)  # the placeholder, never the fingerprint
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _format_change(p: PropertyChange) -> str:
    if p.secret_changed:
        return f"    {p.path}: {_show(p.new)} (changed)"
    return f"    {p.path}: {_show(p.old)} => {_show(p.new)}"


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
        lines += [_format_change(p) for p in c.properties]
    if d.outputs:
        lines.append("~ outputs")
        lines += [_format_change(p) for p in d.outputs]
    lines.append(
        f"{len(d.added)} to add, {len(d.changed)} to change, {len(d.removed)} to remove, {len(d.outputs)} output changes"
    )
    return "\n".join(lines)
