"""A violation that names a stack-file key names the one whose fix clears it.

Each case trips a rule through a stack file (and, where the environment's
policy config is too lenient to trip it, a stricter policy config), reads the
key the violation names (``(stack file: model-platform:<key>)``), sets *that*
key to a good value, and checks the violation is gone. The key is read from
the message, never assumed, so a hint naming a look-alike key (the discovery
cluster's autotermination for the cluster policy's) fails.

Every check is ``modelctl.check.check_stack`` as ``modelctl check`` runs it,
with the pack served in this process (``tests.fixtures.pack_in_process``):
pulumi_policy reads the stack config from the pack process's environment, so
a real pack serves one stack config, and each edited stack here would start
one (tests/test_check.py runs the real packs). Policies no case of a trip
reads are disabled in its checks (``_check``: why that changes no violation read).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from infra.stack_source import StackFile
from modelctl.check import CheckResult, Violation, check_stack, policy_config_for_stack
from tests.conftest import ROOT, stack_doc
from tests.fixtures.pack_in_process import checks_in_process

sys.path.insert(0, str(ROOT / "policies"))  # the pack is a CLI plugin, not installed

from model_platform_policy import POLICIES  # noqa: E402
from model_platform_policy.rules import STACK_KEY_HINTS  # noqa: E402

M = "models.days-to-sell"
HINT = re.compile(r" \(stack file: model-platform:([^)]+)\)$")
DIGEST = "@sha256:" + "4f" * 32

#: Stricter policy config for staging: rules its own config is too lenient to trip.
STRICT_STAGING = {
    "k8s-serving-hpa": {"minReplicas": 3},
    "s3-bucket-encrypted": {"requireKms": True},
    "s3-bucket-protected": "mandatory",
    "aws-tags": {"requiredTags": ["owner"]},
    "airflow-connection-secrets": {"requiredConnections": ["databricks_default", "aws_default", "slack"]},
    "databricks-runtime-allowed": {"allowedRuntimes": ["13.3.x-gpu-ml-scala2.12"]},
}
#: Stack-file edits that trip rules, by name (each planned and checked once per module).
TRIPS: dict[str, tuple[str, dict[str, Any], Optional[dict[str, Any]]]] = {
    "prod-databricks": (
        "prod",
        {
            "databricks.clusterPolicy.autoterminationMinutes": 90,
            "databricks.clusterPolicy.maxWorkers": 40,
            f"{M}.training.maxRetries": 0,
        },
        None,
    ),
    "staging-autotermination": (
        "staging",
        {"databricks.clusterPolicy.autoterminationMinutes": 150, "databricks.discoveryCluster.autoterminationMinutes": 150},
        None,
    ),
    "staging-workers": (
        "staging",
        {
            "databricks.clusterPolicy.maxWorkers": 20,
            "databricks.discoveryCluster.maxWorkers": 20,
            f"{M}.training.numWorkers": 20,
        },
        None,
    ),
    "staging-images": (
        "staging",
        {f"{M}.serving.image": "registry.example.com/ml/mleap-serving:latest", "kubernetes.images.init": "public.ecr.aws/aws-cli/aws-cli:latest"},
        None,
    ),
    "staging-untagged": ("staging", {"kubernetes.images.serving": "registry.example.com/ml/mleap-serving"}, None),
    "staging-strict": ("staging", {}, STRICT_STAGING),
}


def with_digest(image: str) -> str:
    return image + DIGEST


@dataclass(frozen=True)
class Case:
    """A rule tripped by ``trip``, its violation picked by ``where``; ``fix`` gives the hinted key a good value."""

    id: str
    trip: str
    policy: str
    where: str
    hinted: str
    fix: Callable[[Any], Any]


CASES = [
    Case("policy-autotermination", "prod-databricks", "databricks-autotermination", "definition.autotermination_minutes",
         "databricks.clusterPolicy.autoterminationMinutes", lambda _: 30),
    Case("policy-workers", "prod-databricks", "databricks-workers-capped", "cluster policy",
         "databricks.clusterPolicy.maxWorkers", lambda _: 16),
    Case("job-retries", "prod-databricks", "databricks-job-retries", "retries 0 times",
         f"{M}.training.maxRetries", lambda _: 1),
    Case("discovery-autotermination", "staging-autotermination", "databricks-autotermination", "autoterminationMinutes is",
         "databricks.discoveryCluster.autoterminationMinutes", lambda _: 60),
    Case("discovery-workers", "staging-workers", "databricks-workers-capped", "training-discovery:",
         "databricks.discoveryCluster.maxWorkers", lambda _: 4),
    Case("job-workers", "staging-workers", "databricks-workers-capped", "days-to-sell-training:",
         f"{M}.training.numWorkers", lambda _: 2),
    Case("serving-image-digest", "staging-autotermination", "k8s-image-digest", "container 'mleap'",
         "kubernetes.images.serving", with_digest),
    Case("model-image-digest", "staging-images", "k8s-image-digest", "container 'mleap'",
         f"{M}.serving.image", with_digest),
    Case("model-image-latest", "staging-images", "k8s-image-no-latest", "container 'mleap'",
         f"{M}.serving.image", with_digest),
    Case("serving-image-untagged", "staging-untagged", "k8s-image-no-latest", "container 'mleap'",
         "kubernetes.images.serving", with_digest),
    Case("init-image-digest", "staging-images", "k8s-image-digest", "init container",
         "kubernetes.images.init", with_digest),
    Case("init-image-latest", "staging-images", "k8s-image-no-latest", "init container",
         "kubernetes.images.init", with_digest),
    Case("hpa-min-replicas", "staging-strict", "k8s-serving-hpa", "minReplicas 1",
         f"{M}.serving.replicas.min", lambda _: 3),
    Case("kms-required", "staging-strict", "s3-bucket-encrypted", "not SSE-KMS",
         "bundleStore.encryption", lambda _: "sse-kms"),
    Case("bucket-protected", "staging-strict", "s3-bucket-protected", "is not protected",
         "bundleStore.protect", lambda _: True),
    Case("organisation-tags", "staging-strict", "aws-tags", "['owner']",
         "tags", lambda tags: {**(tags or {}), "owner": "pricing"}),
    Case("airflow-connection", "staging-strict", "airflow-connection-secrets", "connection 'slack'",
         "airflow.connections.slack", lambda _: {"connType": "http", "host": "https://hooks.slack.com"}),
    Case("runtime", "staging-strict", "databricks-runtime-allowed", "not allow-listed",
         "databricks.sparkVersion", lambda _: "13.3.x-gpu-ml-scala2.12"),
]


def _get(doc: dict[str, Any], key: str) -> Any:
    node: Any = doc["config"]
    head, *rest = key.split(".")
    node = node.get(f"model-platform:{head}")
    for part in rest:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _set(doc: dict[str, Any], key: str, value: Any) -> None:
    head, *rest = key.split(".")
    if not rest:
        doc["config"][f"model-platform:{head}"] = value
        return
    node = doc["config"].setdefault(f"model-platform:{head}", {})
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = value


def _examined(trip: str) -> set[str]:
    """The policies whose violations the cases of ``trip`` read."""
    return {c.policy for c in CASES if c.trip == trip}


def _check(trip: str, doc: dict[str, Any], tmp: Path) -> CheckResult:
    """``check_stack`` of ``doc`` under the trip's policy config, every policy no case of the trip reads disabled.

    The environment's config (and the trip's stricter one) is kept for the
    policies read, so their violations are the ones ``modelctl check`` reports:
    pulumi_policy runs each policy on its own (its own config and report), and
    the pack's rules keep no state, so which other policies run changes none of
    them; disabling the rest only skips analysis no case reads.
    """
    stack, _, policy_config = TRIPS[trip]
    base = json.loads(policy_config_for_stack(stack, ROOT).read_text())
    disabled = {p.name: "disabled" for p in POLICIES if p.name not in _examined(trip)}
    config_path = tmp / f"{trip}.json"
    config_path.write_text(json.dumps({**base, **(policy_config or {}), **disabled}))
    return check_stack(StackFile.from_document(doc, f"stacks/Pulumi.{stack}.yaml"), stack, ROOT, config_path)


def _tripped_doc(trip: str) -> dict[str, Any]:
    stack, edits, _ = TRIPS[trip]
    doc = stack_doc(stack)
    for key, value in edits.items():
        _set(doc, key, value)
    return doc


@pytest.fixture(scope="module")
def served_in_process() -> Any:
    """``check_stack`` serves the pack in this process for this module's checks (module docstring)."""
    with checks_in_process():
        yield


@pytest.fixture(scope="module")
def tripped(tmp_path_factory, served_in_process) -> Callable[[str], CheckResult]:
    results: dict[str, CheckResult] = {}

    def get(trip: str) -> CheckResult:
        if trip not in results:
            results[trip] = _check(trip, _tripped_doc(trip), tmp_path_factory.mktemp(trip))
        return results[trip]

    return get


def _picked(result: CheckResult, case: Case) -> list[Violation]:
    return [v for v in result.violations if v.policy == case.policy and case.where in v.message]


@pytest.fixture(scope="module")
def fixed(tmp_path_factory, served_in_process) -> Callable[[str, str, Callable[[Any], Any]], CheckResult]:
    """The check of a trip with one key set right (cached: two cases may make the same fix)."""
    results: dict[tuple[str, str, str], CheckResult] = {}

    def get(trip: str, key: str, fix: Callable[[Any], Any]) -> CheckResult:
        doc = _tripped_doc(trip)
        value = fix(_get(doc, key))
        cache_key = (trip, key, json.dumps(value, sort_keys=True))
        if cache_key not in results:
            _set(doc, key, value)
            results[cache_key] = _check(trip, doc, tmp_path_factory.mktemp("fixed"))
        return results[cache_key]

    return get


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_key_a_violation_names_is_the_one_that_clears_it(case, tripped, fixed):
    found = _picked(tripped(case.trip), case)
    assert found, f"{case.trip} does not trip {case.policy} ({case.where})"
    hinted = {m.group(1) if (m := HINT.search(v.message)) else None for v in found}
    assert hinted == {case.hinted}, [v.message for v in found]
    assert _picked(fixed(case.trip, hinted.pop(), case.fix), case) == []


def test_every_key_a_policy_may_name_is_tripped_by_a_case():
    """A policy that declares a hint it can give has a case above giving it (models.<name> is the model)."""
    covered = {(c.policy, re.sub(r"^models\.[^.]+\.", "models.<name>.", c.hinted)) for c in CASES}
    covered = {(p, re.sub(r"^airflow\.connections\.[^.]+$", "airflow.connections.<key>", k)) for p, k in covered}
    declared = {(policy, key) for policy, keys in STACK_KEY_HINTS.items() for key in keys}
    assert declared == covered


def test_a_resource_the_program_did_not_declare_gets_no_key():
    """Hints are for the program's resources: the pack says nothing about keys for anyone else's."""
    from model_platform_policy.stack_keys import is_programs
    from model_platform_policy.testing import on_the_wire

    programs = on_the_wire({"tags": {"project": "model-platform", "model": "days-to-sell"}})
    someone_elses = on_the_wire({"tags": {"project": "payments"}})
    assert is_programs(programs) and not is_programs(someone_elses)
