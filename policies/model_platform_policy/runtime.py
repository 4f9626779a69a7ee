"""Which Python runs the pack, resolved from PulumiPolicy.yaml the way the Pulumi CLI resolves it.

``pulumi preview --policy-pack DIR`` starts ``pulumi-analyzer-policy-python``
in DIR, which runs ``<virtualenv>/bin/python -u -m pulumi.policy`` when
``runtime.options.virtualenv`` is set (relative to DIR) and refuses a
virtualenv without that interpreter; without the option it runs ``python3``.
Tools that start the pack offline (modelctl check, the pack tests) use this,
so a broken virtualenv setting fails there as it would in CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import yaml

PROJECT_FILE = "PulumiPolicy.yaml"


class PackRuntimeError(Exception):
    """PulumiPolicy.yaml is unreadable, or names no usable interpreter."""


def _project(pack_dir: Path) -> Mapping[str, Any]:
    path = pack_dir / PROJECT_FILE
    try:
        project = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PackRuntimeError(f"{path}: not a readable policy pack project ({exc})") from None
    if not isinstance(project, Mapping) or "runtime" not in project:
        raise PackRuntimeError(f"{path}: a policy pack project needs a 'runtime'")
    return project


def virtualenv_option(pack_dir: Path) -> Optional[str]:
    """``runtime.options.virtualenv`` of the pack (``runtime`` may be a bare name without options)."""
    runtime = _project(pack_dir)["runtime"]
    options = runtime.get("options") if isinstance(runtime, Mapping) else None
    value = options.get("virtualenv") if isinstance(options, Mapping) else None
    return str(value) if value else None


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def pack_interpreter(pack_dir: Path) -> Path:
    """The Python the CLI would run the pack in ``pack_dir`` with; PackRuntimeError if there is none."""
    pack_dir = Path(os.path.abspath(pack_dir))
    virtualenv = virtualenv_option(pack_dir)
    if virtualenv is None:
        found = shutil.which("python3")
        if found is None:
            raise PackRuntimeError(f"{pack_dir / PROJECT_FILE}: no runtime.options.virtualenv and no python3 on PATH")
        return Path(found)
    venv = Path(os.path.normpath(pack_dir / virtualenv))  # no resolve(): bin/python is a symlink out of the venv
    python = _venv_python(venv)
    if not python.is_file():
        raise PackRuntimeError(
            f"{pack_dir / PROJECT_FILE}: runtime.options.virtualenv {virtualenv!r} ({venv}) doesn't appear to be a "
            f"virtual environment (no {python.relative_to(venv)}); create it (make setup) or fix the path"
        )
    return python
