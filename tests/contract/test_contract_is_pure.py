"""infra.contract is plain Python, and the policy pack takes every shared fact from it and from nowhere else.

The pack and the DAG package import the contract without the program's SDKs
or its config; these tests import them in a fresh interpreter where the
forbidden modules cannot be found, so an import that slips in fails here,
not in a CI job that happens to lack a package.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from infra.contract import airflow as contract_airflow
from infra.contract import limits, naming

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "infra" / "contract"
POLICY_PACKAGE = ROOT / "policies" / "model_platform_policy"

#: Refuses to find the named modules (and their submodules), as if they were not installed.
_BLOCKER = textwrap.dedent(
    """
    import importlib.abc
    import sys

    def refused(name):
        return ({refused})(name)

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if refused(name):
                raise ModuleNotFoundError(f"blocked by the test: {{name}}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    started_with = set(sys.modules)
    """
)


def _import_blocked(modules: list[str], refused: str, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Import ``modules`` in a fresh interpreter in which ``refused(name)`` (a Python expression) modules are missing."""
    script = _BLOCKER.format(refused=refused) + textwrap.dedent(
        f"""
        import importlib
        sys.path[:0] = [{str(ROOT)!r}, {str(extra_path or ROOT)!r}]
        for module in {modules!r}:
            importlib.import_module(module)
        leaked = sorted(m for m in set(sys.modules) - started_with if refused(m))
        assert not leaked, leaked
        print("imported", len({modules!r}))
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)


def _contract_modules() -> list[str]:
    return ["infra.contract", *(f"infra.contract.{m.name}" for m in pkgutil.iter_modules([str(CONTRACT)]))]


def _policy_modules() -> list[str]:
    return ["model_platform_policy", *(f"model_platform_policy.{m.name}" for m in pkgutil.iter_modules([str(POLICY_PACKAGE)]))]


def test_the_contract_imports_with_nothing_but_the_standard_library():
    """No Pulumi SDK, no gRPC, no pydantic, no YAML: only the standard library and the contract itself."""
    stdlib = sorted(sys.stdlib_module_names)
    refused = (
        f"lambda name: name.split('.')[0] not in {stdlib!r} "
        "and not (name == 'infra' or name == 'infra.contract' or name.startswith('infra.contract.'))"
    )
    result = _import_blocked(_contract_modules(), refused)
    assert result.returncode == 0, result.stderr
    assert f"imported {len(_contract_modules())}" in result.stdout


def test_the_blocker_does_block():
    """The finder really hides a module: importing the program's config under it fails."""
    result = _import_blocked(["infra.config"], "lambda name: name == 'pulumi' or name.startswith(('pulumi.', 'pulumi_', 'grpc'))")
    assert result.returncode != 0
    assert "blocked by the test: pulumi" in result.stderr


#: What the pack may not import: the program's modules (all of infra but the contract), its config library and the
#: providers' SDKs. pulumi and pulumi_policy (with gRPC) are the pack's own runtime.
_PACK_REFUSED = (
    "lambda name: (name.startswith('infra.') and not (name == 'infra.contract' or name.startswith('infra.contract.'))) "
    "or name.split('.')[0] in ('pydantic', 'pydantic_core', 'pulumi_aws', 'pulumi_kubernetes', 'pulumi_databricks')"
)


def test_every_module_of_the_policy_pack_imports_with_only_the_contract_of_the_program():
    modules = _policy_modules()
    result = _import_blocked(modules, _PACK_REFUSED, extra_path=ROOT / "policies")
    assert result.returncode == 0, result.stderr
    assert f"imported {len(modules)}" in result.stdout


def _contract_strings(modules: list[str], *, plain_words: bool) -> dict[str, str]:
    """The string constants of the contract ``modules``, by value. With ``plain_words`` (the pack's scan), plain
    words and the strings of tuple constants too (tag keys, environments); without, only what is not a plain
    word: ``model`` or ``canary`` is also a dictionary key or an argument name with another meaning elsewhere,
    and the training job names its parameters as keys beside their values (checked against the tuple)."""
    values: dict[str, str] = {}
    for module in [importlib.import_module(name) for name in modules]:
        for name, value in vars(module).items():
            members = list(value) if plain_words and isinstance(value, tuple) else [value]
            for text in members if name.isupper() else []:
                if isinstance(text, str) and (plain_words or not text.isalpha()):
                    values.setdefault(text, f"{module.__name__}.{name}")
    return values


#: What a policy would otherwise spell out: name, tag and label keys (plain words included), conn ids.
_PACK_FACTS = ["infra.contract.naming", "infra.contract.airflow"]


def _literals(path: Path) -> list[tuple[int, str]]:
    """Every string literal of a module that is a whole value, not a docstring or part of a message."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    in_fstring = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings and id(node) not in in_fstring
    ]


def test_no_literal_in_the_policy_pack_restates_a_contract_constant():
    constants = _contract_strings(_PACK_FACTS, plain_words=True)
    assert constants.keys() >= {naming.PROJECT, naming.PART_OF_LABEL, naming.TRACK_LABEL, contract_airflow.AWS_CONN_ID}
    restated = [
        f"{path.relative_to(ROOT)}:{line}: {value!r} is {constants[value]}"
        for path in sorted(POLICY_PACKAGE.rglob("*.py"))
        for line, value in _literals(path)
        if value in constants
    ]
    assert restated == []


#: Where a distinctive contract value may still be spelled out, and why.
_MAY_SPELL_OUT = {
    # The DAG package ships only the contract modules it needs (infra/documents/dag_package.py), not naming.py;
    # this is the user agent its Databricks hook sends.
    ("dags/model_platform_dags/steps.py", naming.PROJECT),
}


_TREES = [ROOT / "infra", ROOT / "modelctl", ROOT / "dags", POLICY_PACKAGE]


def _modules_outside_the_contract() -> list[Path]:
    return [path for tree in _TREES for path in sorted(tree.rglob("*.py")) if CONTRACT not in path.parents]


def test_no_literal_of_the_program_modelctl_dags_or_pack_restates_a_contract_constant():
    """Label keys, key layout, conn ids, grammars: written once in the contract, imported everywhere else."""
    constants = _contract_strings(_contract_modules(), plain_words=False)
    assert constants.keys() >= {naming.PROJECT, naming.IRSA_ROLE_ANNOTATION, contract_airflow.CONN_ENV_PREFIX}
    found = [
        (str(path.relative_to(ROOT)), line, value)
        for path in _modules_outside_the_contract()
        for line, value in _literals(path)
        if value in constants
    ]
    restated = [f"{where}:{line}: {value!r} is {constants[value]}" for where, line, value in found if (where, value) not in _MAY_SPELL_OUT]
    assert restated == []
    assert {(where, value) for where, _, value in found} >= _MAY_SPELL_OUT, "an exception no longer needed: remove it"


def test_no_module_outside_the_contract_defines_a_name_the_contract_defines():
    """A number restated is as wrong as a string: ``MIN_AUTOTERMINATION_MINUTES = 10`` beside the contract's own."""
    contract_names = {
        name
        for module in [importlib.import_module(m) for m in _contract_modules()]
        for name in vars(module)
        if name.isupper() and getattr(module, name).__class__.__module__ == "builtins"
    }
    redefined = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {target.id}"
        for path in _modules_outside_the_contract()
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id in contract_names
    ]
    assert redefined == []


def test_the_literal_scan_finds_a_restated_constant(tmp_path: Path):
    """The scan above can fail: a module spelling the project name and a label key is caught."""
    module = tmp_path / "restating.py"
    module.write_text('"""Doc: model-platform."""\nPROJECT = "model-platform"\nLABEL = "app.kubernetes.io/part-of"\n')
    found = [value for _, value in _literals(module) if value in _contract_strings(_PACK_FACTS, plain_words=True)]
    assert found == [naming.PROJECT, naming.PART_OF_LABEL]


def _effective(environment: str, policy: str, setting: str):
    """A setting as an environment's policy config leaves it: its own value, else the policy's default."""
    sys.path.insert(0, str(ROOT / "policies"))
    try:
        from model_platform_policy import POLICIES
    finally:
        sys.path.remove(str(ROOT / "policies"))
    (found,) = [p for p in POLICIES if p.name == policy]
    default = found.config_schema.properties[setting]["default"]
    given = json.loads((ROOT / "policies" / f"{environment}.json").read_text()).get(policy, {})
    return given.get(setting, default)


def test_the_prod_policy_config_asks_what_the_prod_stack_config_requires():
    """policies/prod.json is JSON and cannot import the contract: its numbers must agree with it."""
    assert _effective("prod", "k8s-serving-hpa", "minReplicas") == limits.PROD_MIN_REPLICAS


@pytest.mark.parametrize("environment", naming.ENVIRONMENTS)
def test_no_environment_allows_an_autotermination_databricks_refuses(environment):
    assert _effective(environment, "databricks-autotermination", "minMinutes") >= limits.MIN_AUTOTERMINATION_MINUTES
