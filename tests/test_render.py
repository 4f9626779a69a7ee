"""`modelctl render`: the stack's Kubernetes objects as plain, valid, reviewable manifests."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

from infra.stack_source import StackFile
from modelctl.cli import main
from modelctl.engine import Plan, plan_stack_file
from modelctl.render import HEADER, Manifest, kubernetes_resources, render_manifests, validate_manifests, write_manifests
from tests.conftest import ROOT, plan_doc, set_path, stack_doc, with_models

M = "model-platform:models.days-to-sell"
OLDEST_SUPPORTED = "1.29"


def stack_version(stack: str) -> str:
    return str(stack_doc(stack)["config"]["model-platform:kubernetes"].get("version", "1.31"))


def every_feature_doc() -> dict[str, Any]:
    """Staging with a canary, an Ingress and caller labels: objects the committed stacks do not declare."""
    doc = stack_doc("staging")
    set_path(doc, f"{M}.canary", {"version": "1.5.0", "bundleSha256": "a" * 64, "replicas": 1})
    set_path(doc, f"{M}.serving.ingress", {"host": "days-to-sell.ml.example.com", "tlsSecret": "ml-tls"})
    set_path(doc, "model-platform:kubernetes.allowedPodLabels", {"model-client": "true"})
    return doc


def read_dir(out: Path) -> dict[str, dict[str, Any]]:
    files = {}
    for path in sorted(out.glob("*.yaml")):
        documents = list(yaml.safe_load_all(path.read_text()))
        assert len(documents) == 1, f"{path.name} holds {len(documents)} objects"
        files[path.name] = documents[0]
    return files


def integral(value: Any) -> Any:
    """The plan's numbers as the API expects them (the engine carries whole numbers as floats)."""
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_render_writes_every_kubernetes_object_once_as_planned(stack, tmp_path, monkeypatch, real_plan, planned_once):
    monkeypatch.chdir(ROOT)
    assert main(["render", stack, "--out", str(tmp_path)]) == 0
    files = read_dir(tmp_path)
    planned = kubernetes_resources(real_plan(stack))
    assert {"Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"} <= {
        r.inputs["kind"] for r in planned
    }
    expected = {f"{r.inputs['kind']}-{r.inputs['metadata']['name']}.yaml".lower(): r for r in planned}
    assert set(files) == set(expected)
    for name, document in files.items():
        assert document == integral(expected[name].inputs), name


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_rendered_manifests_are_valid_for_every_supported_kubernetes_version(stack, real_plan):
    manifests = render_manifests(real_plan(stack))
    versions = {stack_version(stack), OLDEST_SUPPORTED, kubernetes_validate.latest_version()}
    for version in sorted(versions):
        assert validate_manifests(manifests, version) == [], version


def test_canary_ingress_and_caller_labels_render_valid_manifests():
    manifests = render_manifests(plan_doc(every_feature_doc(), "staging"))
    assert {"deployment-days-to-sell-canary.yaml", "ingress-days-to-sell.yaml"} <= {m.filename for m in manifests}
    for version in (OLDEST_SUPPORTED, stack_version("staging"), kubernetes_validate.latest_version()):
        assert validate_manifests(manifests, version) == [], version


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_kubernetes_validate_cli_accepts_the_rendered_files(stack, tmp_path, real_plan):
    paths = write_manifests(render_manifests(real_plan(stack)), tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "--kubernetes-version", f"{stack_version(stack)}.0", *map(str, paths)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_validation_catches_a_field_the_schema_does_not_know(real_plan):
    (deployment,) = [m for m in render_manifests(real_plan("staging")) if m.kind == "Deployment"]
    broken = copy.deepcopy(deployment.document)
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    problems = validate_manifests([Manifest(deployment.filename, deployment.urn, broken, False, False)], "1.31")
    assert len(problems) == 1 and "imagePullPolcy" in problems[0]


def test_render_validate_flag_checks_against_the_stacks_version(tmp_path, monkeypatch, capsys, planned_once):
    monkeypatch.chdir(ROOT)
    assert main(["render", "prod", "--out", str(tmp_path), "--validate"]) == 0
    assert f"Kubernetes {stack_version('prod')}" in capsys.readouterr().err


def test_whole_numbers_are_written_as_integers(tmp_path, real_plan):
    write_manifests(render_manifests(real_plan("prod")), tmp_path)
    text = (tmp_path / "deployment-days-to-sell.yaml").read_text()
    spec = yaml.safe_load(text)["spec"]
    assert type(spec["minReadySeconds"]) is int and type(spec["progressDeadlineSeconds"]) is int
    assert type(spec["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]) is int


def test_secret_values_are_never_written_in_clear(tmp_path):
    def program() -> None:
        k8s.core.v1.Secret(
            "airflow-connections",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="airflow-connections", namespace="airflow"),
            string_data={"AIRFLOW_CONN_DATABRICKS_DEFAULT": pulumi.Output.secret("databricks://token:hunter2@host")},
        )

    stack_file = StackFile.from_document(stack_doc("staging"), "stacks/Pulumi.staging.yaml")
    plan = plan_stack_file(stack_file, "staging", program=program)
    (manifest,) = render_manifests(plan)
    assert manifest.redacted
    (path,) = write_manifests([manifest], tmp_path)
    text = path.read_text()
    assert "hunter2" not in text
    assert "[secret]" in yaml.safe_dump(yaml.safe_load(text)["stringData"])
    assert "Pulumi secrets" in text
    assert validate_manifests([manifest], OLDEST_SUPPORTED) == [], "redaction must not make the object invalid"


def test_rerender_drops_objects_of_a_removed_model_and_keeps_other_files(tmp_path):
    two = plan_doc(with_models(stack_doc("staging"), ["days-to-sell", "price-band"]), "staging")
    write_manifests(render_manifests(two), tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")
    assert (tmp_path / "deployment-price-band.yaml").exists()

    one = plan_doc(with_models(stack_doc("staging"), ["days-to-sell"]), "staging")
    write_manifests(render_manifests(one), tmp_path)
    assert not list(tmp_path.glob("*price-band*"))
    assert (tmp_path / "deployment-days-to-sell.yaml").read_text().startswith(HEADER)
    assert (tmp_path / "kustomization.yaml").read_text() == "resources: []\n"


def test_objects_sharing_kind_and_name_get_distinct_files():
    def program() -> None:
        for namespace in ("blue", "green"):
            k8s.core.v1.ConfigMap(
                f"settings-{namespace}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="settings", namespace=namespace),
                data={"colour": namespace},
            )

    plan: Plan = plan_stack_file(StackFile.from_document(stack_doc("staging"), "staging"), "staging", program=program)
    assert sorted(m.filename for m in render_manifests(plan)) == ["configmap-blue-settings.yaml", "configmap-green-settings.yaml"]


def test_unknown_stack_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["render", "no-such-stack", "--out", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())
