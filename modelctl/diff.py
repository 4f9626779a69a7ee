"""What changes between two plans: resources added, removed, changed, per property."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from modelctl.engine import Plan, PlannedResource, Secret, to_plain
from modelctl.value_text import json_document, show_value

_MISSING = object()
#: Around the path inside a JSON document held in a string: ``policy⟨Statement[0].Resource[2]⟩``.
JSON_OPEN, JSON_CLOSE = "⟨", "⟩"


def urn_key(urn: str) -> str:
    """Identity across stacks: the URN without its stack and project parts."""
    return urn.split("::", 2)[2]


def resource_key(r: PlannedResource) -> str:
    return urn_key(r.urn)


def flatten(value: Any, prefix: str = "", descend_json: bool = False) -> dict[str, Any]:
    """``{"a": {"b": [1]}}`` -> ``{"a.b[0]": 1}``; empty containers are kept as leaves.

    With ``descend_json``, a string holding a JSON object or array is
    flattened too, its paths written inside ``⟨ ⟩``: ``policy⟨Statement[0].Effect⟩``,
    so a diff names the statement that changed rather than the whole document.
    """
    out: dict[str, Any] = {}
    document = json_document(value) if descend_json else None
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


@dataclass(frozen=True)
class ShownChange:
    """A line of the text diff: one change, or identical changes of several items of one list (``note`` says which)."""

    path: str
    change: PropertyChange
    note: str = ""


@dataclass
class ResourceChange:
    key: str
    type: str
    name: str
    properties: list[PropertyChange] = field(default_factory=list)
    #: ``properties`` as the text diff shows them, identical changes of list items grouped.
    shown: list[ShownChange] = field(default_factory=list)


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


def _moved(old: dict[str, PlannedResource], new: dict[str, PlannedResource]) -> dict[str, str]:
    """``{new key: old key}`` of resources renamed with an alias: Pulumi moves them, it does not replace them."""
    moved: dict[str, str] = {}
    for key in sorted(set(new) - set(old)):
        for alias in new[key].aliases:
            previous = urn_key(alias)
            if previous in old and previous not in new and previous not in moved.values():
                moved[key] = previous
                break
    return moved


def diff_plans(base: Plan, head: Plan) -> PlanDiff:
    """Resources matched by ``resource_key`` (or by an alias of the new one); options compared only when both plans recorded them."""
    old = {resource_key(r): r for r in base.resources}
    new = {resource_key(r): r for r in head.resources}
    moved = _moved(old, new)
    pairs = {key: key for key in set(old) & set(new)} | moved
    with_options = base.has_options and head.has_options
    changed = []
    for key in sorted(pairs):
        before, after = old[pairs[key]], new[key]
        props = _property_changes(before.inputs, after.inputs)
        if with_options:
            props += _property_changes(
                {"(options)": _comparable_options(before.options)},
                {"(options)": _comparable_options(after.options)},
            )
        if props:
            shown = group_changes(
                props, old_lengths=list_lengths(flatten(before.inputs, descend_json=True)),
                new_lengths=list_lengths(flatten(after.inputs, descend_json=True)),
            )
            changed.append(ResourceChange(key, after.type, after.name, props, shown))
    return PlanDiff(
        added=[new[k] for k in sorted(set(new) - set(old) - set(moved))],
        removed=[old[k] for k in sorted(set(old) - set(new) - set(moved.values()))],
        changed=changed,
        outputs=_property_changes(base.outputs, head.outputs),
    )


# --------------------------------------------------------------------------- grouping identical changes

_INDEX = re.compile(r"\[(\d+)\]")
_LIST_NAME = re.compile(r"[A-Za-z0-9_-]+$")


def list_lengths(flat: Iterable[str]) -> dict[str, int]:
    """``{"tasks": 5, "tasks[0].libraries": 1}``: how many items each list of a flattened value holds."""
    lengths: dict[str, int] = {}
    for path in flat:
        for match in _INDEX.finditer(path):
            prefix = path[: match.start()]
            lengths[prefix] = max(lengths.get(prefix, 0), int(match.group(1)) + 1)
    return lengths


def _split(path: str, position: int) -> Optional[tuple[str, int, str]]:
    """``(head, index, tail)`` around the ``position``-th list index of ``path``, or None if it has fewer."""
    matches = list(_INDEX.finditer(path))
    if position >= len(matches):
        return None
    match = matches[position]
    return path[: match.start()], int(match.group(1)), path[match.end() :]


def _value_key(value: Any) -> str:
    """A hashable stand-in for a changed value (secrets by fingerprint)."""
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, Secret):
        return f"(secret {value.fingerprint})"
    return repr(to_plain(value))


def _ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 4]`` -> ``0-2,4``."""
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)


def group_changes(
    changes: list[PropertyChange], *, old_lengths: dict[str, int], new_lengths: dict[str, int]
) -> list[ShownChange]:
    """The changes as the text diff shows them: the same change of several items of a list on one line.

    ``tasks[*].libraries[0].whl: 'a' => 'b'  (all 5 tasks)`` when every item
    of the list (in both plans) changed alike, else the items by index
    (``tasks[0,2-4]...  (4 of 5 tasks)``): still exact, only shorter. The
    outermost list is grouped first.
    """
    placed: dict[int, ShownChange] = {}
    free = set(range(len(changes)))
    depth = max((len(_INDEX.findall(c.path)) for c in changes), default=0)
    for position in range(depth):
        buckets: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
        for i in sorted(free):
            parts = _split(changes[i].path, position)
            if parts is not None:
                head, _, tail = parts
                buckets[(head, tail, _value_key(changes[i].old), _value_key(changes[i].new))].append(i)
        for (head, tail, _, _), members in buckets.items():
            if len(members) < 2:
                continue
            indices = [_split(changes[i].path, position)[1] for i in members]  # type: ignore[index]
            total = new_lengths.get(head, 0)
            named = _LIST_NAME.search(head)
            noun = named.group(0) if named else "items"
            if sorted(indices) == list(range(total)) and old_lengths.get(head) == total:
                shown = ShownChange(f"{head}[*]{tail}", changes[members[0]], f"all {total} {noun}")
            else:
                shown = ShownChange(f"{head}[{_ranges(indices)}]{tail}", changes[members[0]], f"{len(indices)} of {total} {noun}")
            placed[members[0]] = shown
            free -= set(members)
    for i in free:
        placed[i] = ShownChange(changes[i].path, changes[i])
    return [placed[i] for i in sorted(placed)]


# --------------------------------------------------------------------------- text


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    return show_value(value, quote_strings=True)  # a secret as its placeholder, never its fingerprint


def _format_change(p: PropertyChange, path: Optional[str] = None, note: str = "") -> str:
    suffix = f"  ({note})" if note else ""
    if p.secret_changed:
        return f"    {path or p.path}: {_show(p.new)} (changed){suffix}"
    return f"    {path or p.path}: {_show(p.old)} => {_show(p.new)}{suffix}"


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
        lines += [_format_change(g.change, g.path, g.note) for g in (c.shown or [ShownChange(p.path, p) for p in c.properties])]
    if d.outputs:
        lines.append("~ outputs")
        lines += [_format_change(p) for p in d.outputs]
    lines.append(
        f"{len(d.added)} to add, {len(d.changed)} to change, {len(d.removed)} to remove, {len(d.outputs)} output changes"
    )
    return "\n".join(lines)
