"""Shared fixtures: the real stack files, edited copies of them, and offline plans."""

from __future__ import annotations

import atexit
import copy
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pytest
import yaml

from infra.config import StackConfig
from infra.stack_source import StackFile
from modelctl.engine import Plan, plan_stack_file

# Fixtures of the release/promote tests (a tmp project, the CLI, S3 served by moto).
pytest_plugins = ["tests.fixtures.release_env"]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # An xdist worker is done once its atexit handlers have run: tearing its heap down object by object (every
    # plan it cached, the SDKs' modules) took ~3 s that the whole run waited for; the OS frees it at once.
    # Registered first, so it runs last.
    atexit.register(lambda: (sys.stdout.flush(), sys.stderr.flush(), os._exit(0)))

#: pytest imports this file as ``conftest`` and the tests import it as ``tests.conftest``: one module under both
#: names, so there is one plan cache (two copies would plan every stack twice).
sys.modules.setdefault("tests.conftest", sys.modules[__name__])

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"


def stack_doc(stack: str) -> dict[str, Any]:
    """A fresh copy of ``stacks/Pulumi.<stack>.yaml`` as a dict."""
    return yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())


#: Plans made by ``plan_file``, by stack file content and stack.
_plans: dict[tuple[str, tuple[str, ...], str], Plan] = {}


def plan_file(stack_file: StackFile, stack: str) -> Plan:
    """``plan_stack_file(stack_file, stack)``, planned once per content: planning is most of the suite's time.

    A plan is a function of the stack file's config, its secret keys and the
    stack name (the file's label only names it in errors, and errors are not
    remembered). Each caller gets its own deep copy, so a test may edit it.
    """
    key = (json.dumps(stack_file.config, sort_keys=True), tuple(sorted(stack_file.secret_keys)), stack)
    if key not in _plans:
        _plans[key] = plan_stack_file(stack_file, stack)
    return copy.deepcopy(_plans[key])


def plan_doc(doc: dict[str, Any], stack: str, label: str | None = None) -> Plan:
    """Plan a stack document (e.g. an edited copy of a real stack file) offline."""
    return plan_file(StackFile.from_document(doc, label or f"stacks/Pulumi.{stack}.yaml"), stack)


def doc_with(stack: str, edits: Mapping[str, Any] = {}, *, models: Sequence[str] | None = None) -> dict[str, Any]:
    """A fresh copy of ``stacks/Pulumi.<stack>.yaml`` serving ``models`` (``with_models``; the stack's own if None),
    then with each of ``edits`` (``set_path``'s dotted paths) set."""
    doc = stack_doc(stack) if models is None else with_models(stack_doc(stack), models)
    for dotted, value in edits.items():
        set_path(doc, dotted, value)
    return doc


def plan_with(stack: str, edits: Mapping[str, Any] = {}, *, models: Sequence[str] | None = None) -> Plan:
    """The plan of ``stack`` with ``edits`` and ``models`` (``doc_with``), once per content."""
    return plan_doc(doc_with(stack, edits, models=models), stack)


def plan_fixture(stack: str, edits: Mapping[str, Any] = {}, *, models: Sequence[str] | None = None) -> Any:
    """A module-scoped fixture of ``plan_with(stack, edits, models=models)``, named by the attribute it is assigned
    to (``edited = plan_fixture("staging", EDITED)``); tests only read the plan.

    Independent edits share one plan, as planning is the slow part: each edit is to its own key, and no value a
    test reads derives from two of them. The fixture asserts every edit changes the stack's config (the parser
    rejects unknown keys), so no test passes on an edit that left the committed value in place.
    """

    @pytest.fixture(scope="module")
    def planned() -> Plan:
        base = doc_with(stack, models=models)["config"]
        unchanged = [k for k, v in edits.items() if set_path(doc_with(stack, models=models), k, v)["config"] == base]
        assert not unchanged, f"these edits leave {stack}'s config as it is: {unchanged}"
        return plan_with(stack, edits, models=models)

    return planned


#: A release of a model: a training run's version and its bundle's digest.
RELEASED_VERSION = "2026-12-02-884422123"
RELEASED_DIGEST = "b" * 64


#: A training schedule Databricks runs itself (Quartz cron, six fields), not Airflow.
QUARTZ_SCHEDULE = {"runBy": "databricks", "cron": "0 0 3 * * ?", "timezone": "Europe/London"}


def release_edits(model: str = "days-to-sell") -> dict[str, str]:
    """The stack edits of releasing ``RELEASED_VERSION`` of ``model``: its served version and digest, nothing else."""
    key = f"model-platform:models.{model}"
    return {f"{key}.version": RELEASED_VERSION, f"{key}.bundleSha256": RELEASED_DIGEST}


def parse_doc(doc: dict[str, Any], stack: str = "staging") -> StackConfig:
    """The typed config of a stack document, as the program reads it: for a rule of the config, no plan needed."""
    return StackFile.from_document(doc, f"stacks/Pulumi.{stack}.yaml").stack_config()


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


def with_models(doc: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """Copy the stack's first model under each of ``names``."""
    models = doc["config"]["model-platform:models"]
    template = next(iter(models.values()))
    doc["config"]["model-platform:models"] = {n: copy.deepcopy(template) for n in names}
    return doc


#: What makes a test ``e2e`` (a real component, seconds to minutes each): ``pytest -m e2e`` runs them,
#: ``pytest -m "not e2e"`` is the quick set. A fixture that starts the component, or a whole module.
E2E_FIXTURES = {"spark": "a local PySpark session (tests/examples)"}
E2E_MODULES = {
    "tests/dags/test_dag_run.py": "whole DAG runs under Airflow's dag.test against moto and fakes",
    "tests/dags/test_dag_bag.py": "Airflow's DagBag parsing the delivered DAG folder",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: runs a real component (Spark, an Airflow DAG run, the make e2e script): the slow, real path"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that start a real component ``e2e``, so the quick set never starts one by accident."""
    for item in items:
        module = item.path.relative_to(ROOT).as_posix() if item.path.is_relative_to(ROOT) else ""
        if module in E2E_MODULES or E2E_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


_plan_cache: dict[str, Plan] = {}


@pytest.fixture(scope="session")
def real_plan() -> Callable[[str], Plan]:
    """Plan of the committed stack file (cached per session; shared: copy it before editing)."""

    def get(stack: str) -> Plan:
        if stack not in _plan_cache:
            _plan_cache[stack] = plan_doc(stack_doc(stack), stack)
        return _plan_cache[stack]

    return get


#: The modules whose ``plan_stack_file`` ``planned_once`` replaces: the engine (the commands import it from
#: there when they run) and the modules that import it at their top.
PLANNING_MODULES = ("modelctl.engine", "modelctl.stack_edit", "modelctl.revision_plan", "modelctl.check")


@pytest.fixture
def planned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process ``modelctl`` commands plan through ``plan_file``: each stack content is planned once per session.

    For tests of what a command does with a plan (its output, its exit code, the
    file it edits), not of planning itself. A plan with its own ``program`` is not cached.
    """
    import importlib

    def plan(stack_file: StackFile, stack: str, program: Callable[[], None] | None = None) -> Plan:
        return plan_file(stack_file, stack) if program is None else plan_stack_file(stack_file, stack, program)

    for name in PLANNING_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "plan_stack_file", plan)


class _SharedPack:
    """``modelctl.check.PolicyPackProcess`` for the tests: one started pack per pack folder and stack config.

    ``modelctl check`` starts the pack for every run, as the CLI does, and a
    start costs more than the analysis; the suite checks many plans of a few
    stack configs. Each run still sends GetAnalyzerInfo, Configure and
    ConfigureStack first, so no run sees another's policy config, and the
    first run of each config starts the pack for real. A pack that failed is
    stopped and forgotten.
    """

    started: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}

    def __init__(self, pack_dir: Path, env: dict[str, str]):
        from modelctl.analyzer_host import PolicyPackProcess

        self._key = (str(Path(pack_dir).resolve()), tuple(sorted(env.items())))
        if self._key not in self.started:
            self.started[self._key] = [PolicyPackProcess(pack_dir, env), None]
        self._entry = self.started[self._key]

    def connect(self) -> Any:
        if self._entry[1] is None:
            self._entry[1] = self._entry[0].connect()
        return self._entry[1]

    def failure(self, what: str) -> Exception:
        return self._entry[0].failure(what)

    def __enter__(self) -> "_SharedPack":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        import grpc

        from modelctl.analyzer_host import PolicyPackError

        if exc_type is not None and issubclass(exc_type, (PolicyPackError, grpc.RpcError)):
            self.started.pop(self._key, None)
            self._entry[0].__exit__(None, None, None)

    @classmethod
    def stop_all(cls) -> None:
        while cls.started:
            cls.started.popitem()[1][0].__exit__(None, None, None)


@pytest.fixture(scope="session", autouse=True)
def shared_policy_packs() -> Any:
    """``modelctl check`` in-process reuses a started pack per stack config for the session (``_SharedPack``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("modelctl.check.PolicyPackProcess", _SharedPack)
        yield
    _SharedPack.stop_all()
