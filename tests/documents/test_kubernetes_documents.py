"""The serving pod template (infra/documents/kubernetes.py), called directly: security, probes, the bundle check.

tests/test_serving.py checks, through a plan, that each Deployment carries
this template built from the stack's config.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.documents.kubernetes import (
    PodTemplate,
    ServerSettings,
    Track,
    pod_template,
    resource_amounts,
    track_selector,
)

MODEL = "days-to-sell"


def server(**overrides: Any) -> ServerSettings:
    values: dict[str, Any] = dict(
        image="registry.example.com/ml/mleap-serving:0.23.0",
        port=65327,
        max_ram_percentage=75,
        startup_timeout_seconds=300,
        resources={"requests": {"cpu": "500m", "memory": "1536Mi"}, "limits": {"memory": "1536Mi"}},
    )
    return ServerSettings(**{**values, **overrides})


def template(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        model=MODEL,
        track=Track.stable,
        version="1.4.0",
        bundle_sha256="3b" * 32,
        bundle_uri=f"s3://bundles/{MODEL}/1.4.0/bundle.zip",
        labels={"app.kubernetes.io/name": MODEL, "app.kubernetes.io/version": "1.4.0"},
        service_account_name=f"{MODEL}-serving",
        fetch_image="public.ecr.aws/aws-cli/aws-cli:2.17.0",
        region="eu-west-2",
        run_as_user=10001,
        server=server(),
    )
    return pod_template(PodTemplate(**{**values, **overrides}))


def containers(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = t["spec"]
    return {c["name"]: c for c in spec["initContainers"] + spec["containers"]}


def env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", [])}


# --------------------------------------------------------------------------- rules for every pod


@settings(max_examples=60, deadline=None)
@given(
    model=st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    track=st.sampled_from(list(Track)),
    uid=st.integers(1, 2**31 - 1),
    startup=st.integers(10, 3600),
    port=st.integers(1024, 65535),
)
def test_every_container_runs_restricted_with_a_read_only_root_and_a_writable_tmp(model, track, uid, startup, port):
    t = template(
        model=model,
        track=track,
        labels={"app.kubernetes.io/name": model},
        run_as_user=uid,
        server=server(startup_timeout_seconds=startup, port=port),
    )
    spec = t["spec"]
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["automountServiceAccountToken"] is False, "IRSA mounts its own token"
    volumes = {v["name"]: v for v in spec["volumes"]}
    for name, c in containers(t).items():
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"] == {"drop": ["ALL"]}, name
        tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{name} needs a writable /tmp"
    server_ = containers(t)["mleap"]
    startup_probe = server_["startupProbe"]
    assert startup_probe["periodSeconds"] * startup_probe["failureThreshold"] >= startup
    assert [p["containerPort"] for p in server_["ports"]] == [port]
    # Each Deployment selects its own track, and its pods carry the labels it selects.
    labels = t["metadata"]["labels"]
    assert all(labels[k] == v for k, v in track_selector(model, track).items())
    for spread in spec["topologySpreadConstraints"]:
        assert spread["labelSelector"]["matchLabels"] == track_selector(model, track)


# --------------------------------------------------------------------------- the server


def test_probes_wait_for_the_model_not_just_the_jvm():
    s = containers(template())["mleap"]
    meta = f"/models/{MODEL}/meta"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert s[probe]["httpGet"] == {"path": meta, "port": s["ports"][0]["name"]}, probe


def test_a_server_that_lost_its_model_is_restarted_but_a_busy_one_is_not():
    """Once unloaded (``DELETE /models/<name>``), MLeap still accepts connections: only a probe of
    the model itself notices, and a restart reloads the bundle at start-up. But a slow answer
    from a loaded JVM under load or in a GC pause must never get the pod killed."""
    s = containers(template())["mleap"]
    liveness, readiness = s["livenessProbe"], s["readinessProbe"]

    def patience(probe: dict[str, Any]) -> int:
        return probe["periodSeconds"] * probe["failureThreshold"]

    assert patience(liveness) >= 120, "two minutes without an answer before a restart"
    assert liveness["timeoutSeconds"] >= 5
    assert patience(liveness) > patience(readiness), "the pod leaves the Service long before it is restarted"
    java = env(s)["JAVA_TOOL_OPTIONS"].split()
    assert any(o.startswith("-Dmleap.model.config=") for o in java), "a restarted server must reload the model by itself"


def test_init_container_writes_the_mleap_startup_config_the_server_reads():
    c = containers(template())
    values = env(c["fetch-bundle"])
    request = json.loads(values["MLEAP_LOAD_REQUEST"])
    assert request["modelName"] == MODEL
    assert request["uri"] == f"file:{values['BUNDLE_PATH']}"
    # A long idle timeout: MLeap's default (15 min) would unload the model between quiet periods.
    assert min(request["config"]["memoryTimeout"], request["config"]["diskTimeout"]) >= 24 * 3600 * 1000
    assert f"-Dmleap.model.config={values['LOAD_REQUEST_PATH']}" in env(c["mleap"])["JAVA_TOOL_OPTIONS"].split()


def test_server_cannot_modify_the_verified_bundle():
    c = containers(template())
    bundle_dir = str(Path(env(c["fetch-bundle"])["BUNDLE_PATH"]).parent)
    (mount,) = [m for m in c["mleap"]["volumeMounts"] if m["mountPath"] == bundle_dir]
    assert mount["readOnly"] is True


def test_pods_carry_the_version_and_digest_and_the_fetch_reads_exactly_that_version():
    t = template(version="2026-12-02-884422123", bundle_sha256="ab" * 32, bundle_uri="s3://b/days-to-sell/2026-12-02-884422123/bundle.zip")
    annotations = t["metadata"]["annotations"]
    assert annotations["model-platform/model-version"] == "2026-12-02-884422123"
    assert annotations["model-platform/bundle-sha256"] == "ab" * 32
    fetch = env(containers(t)["fetch-bundle"])
    assert fetch["BUNDLE_URI"] == "s3://b/days-to-sell/2026-12-02-884422123/bundle.zip"
    assert fetch["BUNDLE_SHA256"] == "ab" * 32 and fetch["AWS_REGION"] == "eu-west-2"


@pytest.mark.parametrize(
    "cpu,memory,expected", [("500m", "2Gi", {"cpu": "500m", "memory": "2Gi"}), (None, "2Gi", {"memory": "2Gi"})]
)
def test_unset_amounts_are_left_out(cpu, memory, expected):
    assert resource_amounts(cpu, memory) == expected


# --------------------------------------------------------------------------- the bundle check, run


def _run_fetch_script(tmp_path: Path, configured_sha256: str, bundle: bytes) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the init container's own script against a fake ``aws`` that 'downloads' ``bundle``."""
    fetch = containers(template(bundle_sha256=configured_sha256))["fetch-bundle"]
    source = tmp_path / "source.zip"
    source.write_bytes(bundle)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_aws = bin_dir / "aws"
    fake_aws.write_text('#!/bin/sh\nfor dest; do :; done\ncp "$FAKE_S3_OBJECT" "$dest"\n')
    fake_aws.chmod(0o755)
    load_request = tmp_path / "load-request.json"
    run_env = {
        **env(fetch),
        "BUNDLE_PATH": str(tmp_path / "bundle.zip"),
        "LOAD_REQUEST_PATH": str(load_request),
        "FAKE_S3_OBJECT": str(source),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(fetch["command"], env=run_env, capture_output=True, text=True, timeout=30)
    return result, load_request


def test_bundle_with_the_configured_digest_is_accepted(tmp_path):
    bundle = b"PK\x03\x04 a trained model"
    result, load_request = _run_fetch_script(tmp_path, hashlib.sha256(bundle).hexdigest(), bundle)
    assert result.returncode == 0, result.stderr
    assert json.loads(load_request.read_text())["modelName"] == MODEL


def test_bundle_with_another_digest_fails_the_init_container(tmp_path):
    bundle = b"PK\x03\x04 a tampered model"
    result, load_request = _run_fetch_script(tmp_path, hashlib.sha256(b"the real one").hexdigest(), bundle)
    assert result.returncode != 0
    assert "digest mismatch" in result.stderr
    assert not load_request.exists(), "the server must never be told to load an unverified bundle"
