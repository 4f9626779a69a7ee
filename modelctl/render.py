"""Plain Kubernetes manifests from an offline plan, for review and third-party tools.

The inputs the program gives each ``kubernetes:*`` resource already have the
object's shape (apiVersion, kind, metadata, spec, camelCase), so rendering is
a faithful copy with three corrections:

* values that were Pulumi secrets are written as ``[secret]``, never in clear,
  and the file says so;
* whole numbers travel through the engine as floats (``10.0``); the API
  server rejects those for integer fields, so they are written as integers;
* keys are ordered (apiVersion, kind, metadata first, the rest sorted) so the
  files diff cleanly between renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from infra.stack_source import SECRET_PLACEHOLDER
from modelctl.engine import UNKNOWN_PLACEHOLDER as UNKNOWN
from modelctl.engine import Plan, PlannedResource, Secret
from modelctl.stacks import UsageError

#: First line of every rendered file; files carrying it are replaced on the next render.
HEADER = "# Rendered by `modelctl render`"
_HEAD_KEYS = ("apiVersion", "kind", "metadata")


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object as it will be written."""

    filename: str
    urn: str
    document: dict[str, Any]
    redacted: bool  # some values were secrets and are written as [secret]
    unknown: bool  # some values are only known after deployment

    @property
    def kind(self) -> str:
        return self.document["kind"]

    @property
    def name(self) -> str:
        return self.document.get("metadata", {}).get("name", "")

    def to_yaml(self) -> str:
        notes = [f"{HEADER} from {self.urn}"]
        if self.redacted:
            notes.append(f"# Values written as {SECRET_PLACEHOLDER} are Pulumi secrets: deploy this object with Pulumi.")
        if self.unknown:
            notes.append(f"# Values written as {UNKNOWN} are known only after deployment.")
        body = yaml.dump(self.document, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False, width=120)
        return "\n".join(notes) + "\n" + body


def kubernetes_resources(plan: Plan) -> list[PlannedResource]:
    """The plan's Kubernetes objects (not the provider, not components), in URN order."""
    return [
        r
        for r in plan.resources
        if r.custom and r.type.startswith("kubernetes:") and "apiVersion" in r.inputs and "kind" in r.inputs
    ]


def render_manifests(plan: Plan) -> list[Manifest]:
    """One manifest per Kubernetes object; filenames ``<kind>-<name>.yaml``, made unique with the namespace."""
    found: list[tuple[PlannedResource, dict[str, Any], bool, bool]] = []
    for r in kubernetes_resources(plan):
        flags = {"secret": False, "unknown": False}
        document = _ordered(_plain(r.inputs, flags))
        document.setdefault("metadata", {}).setdefault("name", r.name)
        found.append((r, document, flags["secret"], flags["unknown"]))
    stems = [_stem(doc, with_namespace=False) for _, doc, _, _ in found]
    manifests = []
    for (r, doc, redacted, unknown), stem in zip(found, stems):
        if stems.count(stem) > 1:
            stem = _stem(doc, with_namespace=True)
        manifests.append(Manifest(f"{stem}.yaml", r.urn, doc, redacted, unknown))
    return manifests


def write_manifests(manifests: Iterable[Manifest], out_dir: Path) -> list[Path]:
    """Write the manifests, first removing files an earlier render left (a removed model's objects).

    Only files that start with ``HEADER`` are removed or overwritten: anything
    else in the folder is the user's, and a manifest that would replace it is
    refused (UsageError) before any file is touched.
    """
    manifests = list(manifests)
    _prepare_out_dir(out_dir)
    in_the_way = [
        out_dir / m.filename for m in manifests if _exists(out_dir / m.filename) and not _is_rendered(out_dir / m.filename)
    ]
    if in_the_way:
        raise UsageError(
            f"--out {out_dir}: {', '.join(p.name for p in in_the_way)}: already there and not written by "
            "modelctl render, so not replaced; move them away or render to another folder"
        )
    for old in out_dir.glob("*.yaml"):
        if _is_rendered(old):
            old.unlink()
    written = []
    for m in manifests:
        path = out_dir / m.filename
        path.write_text(m.to_yaml(), encoding="utf-8")
        written.append(path)
    return written


def _prepare_out_dir(out_dir: Path) -> None:
    if _exists(out_dir) and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _is_rendered(path: Path) -> bool:
    """A regular file an earlier render wrote (its first bytes are ``HEADER``; other bytes need not be UTF-8)."""
    if not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(len(HEADER.encode())) == HEADER.encode()


def validate_manifests(manifests: Iterable[Manifest], kubernetes_version: str) -> list[str]:
    """Problems found by ``kubernetes-validate --strict`` (a dev dependency) for that version."""
    try:
        from kubernetes_validate import utils as kv
    except ImportError:
        return ["kubernetes-validate is not installed (pip install kubernetes-validate)"]
    problems = []
    for m in manifests:
        try:
            kv.validate(_without_secrets(m.document), kubernetes_version, strict=True)
        except kv.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(object)"
            problems.append(f"{m.filename}: {where}: {exc.message}")
        except (kv.SchemaNotFoundError, kv.VersionNotSupportedError) as exc:
            problems.append(f"{m.filename}: {exc.message}")
    return problems


def _without_secrets(value: Any) -> Any:
    """The document minus its redacted entries: a secret field is validated by its absence."""
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if v != SECRET_PLACEHOLDER}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def _stem(document: dict[str, Any], with_namespace: bool) -> str:
    meta = document.get("metadata", {})
    parts = [document["kind"], meta.get("namespace") if with_namespace else None, meta.get("name")]
    return "-".join(str(p) for p in parts if p).lower()


def _plain(value: Any, flags: dict[str, bool]) -> Any:
    """Recorded inputs as plain YAML-able data, noting secrets and unknowns in ``flags``."""
    if isinstance(value, Secret):
        flags["secret"] = True
        return SECRET_PLACEHOLDER
    if value == UNKNOWN:
        flags["unknown"] = True
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, flags) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v, flags) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _ordered(document: dict[str, Any]) -> dict[str, Any]:
    keys = [k for k in _HEAD_KEYS if k in document] + sorted(k for k in document if k not in _HEAD_KEYS)
    return {k: _sorted(document[k]) for k in keys}


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


class _ManifestDumper(yaml.SafeDumper):
    """Multi-line strings (scripts) as literal blocks, so they read as they run."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_ManifestDumper.add_representer(str, _str_representer)
