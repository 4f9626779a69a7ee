"""The pack as the Pulumi CLI loads it: a process serving the Analyzer protocol, with its per-environment config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi.runtime.proto.analyzer_pb2_grpc import AnalyzerStub

from modelctl.check import load_policy_config, reconcile, wire_value
from modelctl.engine import SECRET

PACK = Path(__file__).resolve().parents[1] / "policies"
sys.path.insert(0, str(PACK))  # the pack is a CLI plugin, not installed

from model_platform_policy import POLICIES  # noqa: E402
from model_platform_policy.runtime import PackRuntimeError, pack_interpreter  # noqa: E402

ROOT = PACK.parent


@pytest.fixture(scope="module")
def analyzer():
    """The pack started like `pulumi preview --policy-pack policies` starts a Python pack; it prints its port.

    With the interpreter PulumiPolicy.yaml's virtualenv names, as pulumi-analyzer-policy-python picks it.
    """
    process = subprocess.Popen(
        [str(pack_interpreter(PACK)), "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=PACK,
        env={**os.environ, "PULUMI_PROJECT": "model-platform", "PULUMI_STACK": "test", "PULUMI_DRY_RUN": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_pack_lists_every_policy_with_a_fix_and_an_explicit_mandatory_level(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "model-platform"
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]
    for policy in info.policies:
        assert "Fix:" in policy.description, policy.name
        assert policy.enforcementLevel == analyzer_pb2.MANDATORY, policy.name
    assert all(p.enforcement_level is not None for p in POLICIES)


def test_policy_names_are_unique_and_cover_every_concern():
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names))
    assert {n.split("-")[0] for n in names} >= {"s3", "iam", "k8s", "databricks", "airflow", "aws", "no"}


def _analyze(analyzer, resource_type: str, props: dict) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    struct = struct_pb2.Struct()
    struct.update(wire_value(props))
    request = analyzer_pb2.AnalyzeRequest(
        type=resource_type, urn=f"urn:pulumi:test::p::{resource_type}::r", name="r", properties=struct
    )
    return [d for d in analyzer.Analyze(request).diagnostics if d.policyName == "no-plain-credentials"]


def test_over_the_wire_a_secret_in_a_secret_field_passes_and_in_a_plain_field_fails(analyzer):
    version = {"secretId": "id", "secretString": SECRET}
    assert _analyze(analyzer, "aws:secretsmanager/secretVersion:SecretVersion", version) == []
    env = {
        "kind": "Deployment",
        "spec": {
            "template": {"spec": {"containers": [{"name": "c", "env": [{"name": "API_TOKEN", "value": SECRET}]}]}}
        },
    }
    found = _analyze(analyzer, "kubernetes:apps/v1:Deployment", env)
    assert len(found) == 1 and "API_TOKEN" in found[0].message and found[0].enforcementLevel == analyzer_pb2.MANDATORY


@pytest.mark.parametrize("environment", sorted(p.stem for p in PACK.glob("*.json")))
def test_each_environment_config_is_valid_for_the_pack(analyzer, environment):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    path = PACK / f"{environment}.json"
    config = reconcile(info, load_policy_config(path, str(path)), str(path))
    assert set(config) == {p.name for p in info.policies}


def test_prod_enforces_every_policy(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    path = PACK / "prod.json"
    config = reconcile(info, load_policy_config(path, str(path)), str(path))
    assert {c.level for c in config.values()} == {"mandatory"}
    assert config["s3-bucket-encrypted"].properties["requireKms"] is True
    assert config["k8s-serving-hpa"].properties["minReplicas"] >= 2


def test_the_pack_readme_documents_every_policy():
    readme = (PACK / "README.md").read_text()
    assert [p.name for p in POLICIES if f"| `{p.name}` |" not in readme] == []


# --------------------------------------------------------------------------- how the CLI finds the pack's Python


def test_the_pack_runs_in_the_projects_virtualenv():
    assert pack_interpreter(PACK) == ROOT / ".venv" / "bin" / "python"


def write_pack(tmp_path: Path, runtime: str) -> Path:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text(f"description: d\nversion: 0.1.0\nruntime:\n{runtime}")
    return pack


def test_a_virtualenv_setting_is_resolved_relative_to_the_pack(tmp_path):
    python = tmp_path / "env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    pack = write_pack(tmp_path, "  name: python\n  options:\n    virtualenv: ../env\n")
    assert pack_interpreter(pack) == python


@pytest.mark.parametrize("virtualenv", ["../no-such-env", "."])
def test_a_virtualenv_setting_that_is_no_virtualenv_is_refused(tmp_path, virtualenv):
    pack = write_pack(tmp_path, f"  name: python\n  options:\n    virtualenv: {virtualenv}\n")
    with pytest.raises(
        PackRuntimeError, match="runtime.options.virtualenv .* doesn't appear to be a virtual environment"
    ):
        pack_interpreter(pack)


def test_without_a_virtualenv_setting_the_pack_runs_with_python3_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(ROOT / ".venv" / "bin"))
    assert pack_interpreter(write_pack(tmp_path, "  name: python\n")) == ROOT / ".venv" / "bin" / "python3"


def test_a_folder_without_a_pack_project_is_refused(tmp_path):
    with pytest.raises(PackRuntimeError, match="PulumiPolicy.yaml"):
        pack_interpreter(tmp_path)


# --------------------------------------------------------------------------- requirements.txt


def test_the_packs_requirements_install_from_any_directory():
    """`pip install -r policies/requirements.txt` from the repository root, offline, in the project's virtualenv."""
    result = subprocess.run(
        [
            str(pack_interpreter(PACK)),
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-index",
            "--quiet",
            "-r",
            "policies/requirements.txt",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in (PACK / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert not [line for line in lines if line.startswith("-") or "/" in line or line.startswith(".")]
