"""Shared fixtures: the real stack files, edited copies of them, and offline plans."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from infra.stack_source import StackFile
from modelctl.engine import Plan, plan_stack_file

# Fixtures of the release/promote tests (a tmp project, the CLI, S3 served by moto).
pytest_plugins = ["tests.fixtures.release_env"]

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"


def stack_doc(stack: str) -> dict[str, Any]:
    """A fresh copy of ``stacks/Pulumi.<stack>.yaml`` as a dict."""
    return yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())


def plan_doc(doc: dict[str, Any], stack: str, label: str | None = None) -> Plan:
    """Plan a stack document (e.g. an edited copy of a real stack file) offline."""
    return plan_stack_file(StackFile.from_document(doc, label or f"stacks/Pulumi.{stack}.yaml"), stack)


def set_path(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Set ``model-platform:models.days-to-sell.version``-style paths in a stack doc (returns doc)."""
    key, _, rest = dotted.partition(".")
    node = doc["config"]
    if not rest:
        node[key] = value
        return doc
    node = node.setdefault(key, {})
    parts = rest.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return doc


def del_path(doc: dict[str, Any], dotted: str) -> dict[str, Any]:
    key, _, rest = dotted.partition(".")
    node = doc["config"]
    if not rest:
        del node[key]
        return doc
    node = node[key]
    parts = rest.split(".")
    for p in parts[:-1]:
        node = node[p]
    del node[parts[-1]]
    return doc


def with_models(doc: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Copy the stack's first model under each of ``names``."""
    models = doc["config"]["model-platform:models"]
    template = next(iter(models.values()))
    doc["config"]["model-platform:models"] = {n: copy.deepcopy(template) for n in names}
    return doc


_plan_cache: dict[str, Plan] = {}


@pytest.fixture(scope="session")
def real_plan() -> Callable[[str], Plan]:
    """Plan of the committed stack file (cached per session)."""

    def get(stack: str) -> Plan:
        if stack not in _plan_cache:
            _plan_cache[stack] = plan_doc(stack_doc(stack), stack)
        return _plan_cache[stack]

    return get
