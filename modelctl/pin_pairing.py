"""A model's ``version`` and ``bundleSha256`` change together or not at all; secure values change visibly.

A hand-edited ``version:`` with the old digest plans, diffs and passes the
policy pack, and then every pod refuses the bundle at start. Compared with
the stack file of a base revision, ``modelctl check --base`` and ``modelctl
diff --base`` refuse such a half change (and a digest changed under an
unchanged version: a released version's bundle never changes). The pairs are
each model's pin and its canary's (``models.<m>.canary``).

``changed_pins`` is what ``modelctl verify-pins`` checks against the bundle
store; ``secure_changes`` lets ``modelctl diff`` say that a secure value
changed, without showing it (the plan only ever sees a placeholder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional

from infra.stack_source import StackFile, decode
from modelctl.pin_edit import DIGEST_KEY, MODELS_KEY, VERSION_KEY


@dataclass(frozen=True)
class Pin:
    """One pin of a stack file: ``key`` is ``model-platform:models.<m>`` or ``...<m>.canary``."""

    key: str
    model: str
    version: Any
    bundle_sha256: Any


def pins(stack_file: StackFile) -> dict[str, Pin]:
    """Every pin the stack file declares, by key path; entries that are not mappings are the config's to report."""
    models = decode(stack_file.config.get(MODELS_KEY, "{}"))
    out: dict[str, Pin] = {}
    for model, entry in (models.items() if isinstance(models, dict) else ()):
        for key, value in _pin_entries(f"{MODELS_KEY}.{model}", entry):
            out[key] = Pin(key, str(model), value.get(VERSION_KEY), value.get(DIGEST_KEY))
    return out


def _pin_entries(key: str, entry: Any) -> Iterator[tuple[str, dict]]:
    if isinstance(entry, dict):
        yield key, entry
        if isinstance(entry.get("canary"), dict):
            yield f"{key}.canary", entry["canary"]


def unpaired_changes(base: StackFile, head: StackFile) -> list[str]:
    """One message per pin whose version changed without its digest, or its digest without its version."""
    old_pins, problems = pins(base), []
    for key, new in pins(head).items():
        old = old_pins.get(key)
        if old is None:
            continue
        version_changed, digest_changed = old.version != new.version, old.bundle_sha256 != new.bundle_sha256
        if version_changed and not digest_changed:
            problems.append(
                f"{head.label}: {key}.{VERSION_KEY}: changed from {old.version!r} to {new.version!r}, but "
                f"{key}.{DIGEST_KEY} did not: a version change is the pair, the version and its bundle's sha256; "
                f"pin both with `modelctl release {new.model} {new.version} --stack <stack> --from-s3` (or --sha256)"
            )
        elif digest_changed and not version_changed:
            problems.append(
                f"{head.label}: {key}.{DIGEST_KEY}: changed while {key}.{VERSION_KEY} stayed {new.version!r}: "
                "a released version's bundle never changes; release the new bundle as a new version"
            )
    return problems


def changed_pins(base: Optional[StackFile], head: StackFile) -> list[Pin]:
    """The pins of ``head`` that are new or differ from ``base`` (every pin when there is no base)."""
    old_pins = pins(base) if base is not None else {}
    return [pin for key, pin in pins(head).items() if old_pins.get(key) != pin]


def secure_values(text: str, label: str) -> dict[str, str]:
    """The ciphertext of every secure value of a stack file's config, by key path (never decrypted)."""
    import yaml

    StackFile.from_text(text, label)  # the size and structure limits of every stack file reader first
    doc = yaml.safe_load(text) or {}
    found: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            if set(value) == {"secure"}:
                found[path] = str(value["secure"])
                return
            for k, v in value.items():
                walk(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for key, value in ((doc.get("config") or {}) if isinstance(doc, dict) else {}).items():
        walk(value, str(key))
    return found


def secure_changes(old_text: str, old_label: str, new_text: str, new_label: str) -> list[tuple[str, str]]:
    """(key path, "added" | "removed" | "changed") for each secure value that differs; the values are not returned.

    Secure values compare by ciphertext: re-encrypting the same secret shows as
    changed, which is what a reviewer should look at anyway.
    """
    old, new = secure_values(old_text, old_label), secure_values(new_text, new_label)
    out = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            out.append((key, "added"))
        elif key not in new:
            out.append((key, "removed"))
        elif old[key] != new[key]:
            out.append((key, "changed"))
    return out


def format_secure_changes(changes: list[tuple[str, str]]) -> str:
    lines = ["secure config values (values not shown):"]
    lines += [f"  {key}: [secret] ({change})" for key, change in changes]
    return "\n".join(lines)
