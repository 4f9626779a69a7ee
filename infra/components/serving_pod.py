"""The pod template of a model server: fetch and verify the bundle, then serve it.

An init container (AWS CLI, authenticated by IRSA) copies
``<model>/<version>/bundle.zip`` into an emptyDir and checks its sha256
against the stack config. A mismatch fails the init container, so the pod
never starts, never becomes ready, and the rollout stalls while the old
ReplicaSet keeps serving. It then writes the MLeap load request that the
server reads at start-up (``mleap.model.config``), so the model is loaded
before the server reports ready.

Everything that identifies the version (image env, annotations, version
label) lives in this template: bumping the version rolls the pods and
changes nothing else.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components.serving_labels import (
    DIGEST_ANNOTATION,
    VERSION_ANNOTATION,
    Track,
    pod_labels,
    track_selector,
)
from infra.config import ModelConfig, ResourceAmounts, StackConfig
from infra.layout import BUNDLE_FILE, bundle_keys

BUNDLE_DIR = "/models"
TMP_DIR = "/tmp"
BUNDLE_PATH = f"{BUNDLE_DIR}/{BUNDLE_FILE}"
LOAD_REQUEST_PATH = f"{BUNDLE_DIR}/load-request.json"
SERVER_CONTAINER = "mleap"
FETCH_CONTAINER = "fetch-bundle"
PORT_NAME = "http"
BUNDLE_VOLUME = "bundle"
TMP_VOLUME = "tmp"
#: MLeap drops a model idle for memoryTimeout (default 15 min) and reloads it on the next request.
#: Seven days keeps it resident (readiness probes touch it every few seconds anyway) while staying
#: far below the 32-bit millisecond limits of the Akka scheduler MLeap uses.
MODEL_IDLE_TIMEOUT_MS = 7 * 24 * 3600 * 1000
STARTUP_PROBE_PERIOD_SECONDS = 5
#: Liveness restarts a server that lost its model (unloaded through the management API, or
#: dropped): the restarted container reloads the verified bundle still on the pod's emptyDir.
#: Six misses in a row, 30 s apart, 10 s allowed each: only a server that cannot answer for
#: about three minutes is restarted, never a JVM that is merely busy or in a long GC pause.
LIVENESS_PERIOD_SECONDS = 30
LIVENESS_TIMEOUT_SECONDS = 10
LIVENESS_FAILURE_THRESHOLD = 6

#: Constant script: every value arrives as an environment variable, so nothing needs quoting
#: and the script runs unchanged anywhere (the tests run it against a fake ``aws``).
FETCH_SCRIPT = """\
set -eu
aws s3 cp --only-show-errors "$BUNDLE_URI" "$BUNDLE_PATH"
if ! echo "$BUNDLE_SHA256  $BUNDLE_PATH" | sha256sum -c -; then
  echo "bundle digest mismatch: $BUNDLE_URI is not sha256 $BUNDLE_SHA256; refusing to serve it" >&2
  exit 1
fi
printf '%s\\n' "$MLEAP_LOAD_REQUEST" > "$LOAD_REQUEST_PATH"
"""


@dataclass(frozen=True)
class BundleVersion:
    """One version of a model's bundle: what a Deployment serves."""

    version: str
    sha256: str


@dataclass(frozen=True)
class PodTemplateArgs:
    config: StackConfig
    model: str
    track: Track
    bundle: BundleVersion
    bucket_name: pulumi.Input[str]
    service_account_name: pulumi.Input[str]


def mleap_load_request(model: str) -> str:
    """The ``LoadModelRequest`` JSON the MLeap server reads at start-up."""
    return json.dumps(
        {
            "modelName": model,
            "uri": f"file:{BUNDLE_PATH}",
            "config": {"memoryTimeout": MODEL_IDLE_TIMEOUT_MS, "diskTimeout": MODEL_IDLE_TIMEOUT_MS},
        },
        sort_keys=True,
    )


def model_meta_path(model: str) -> str:
    """Answers only while the model is loaded (``/actuator/health`` can be UP without it):
    the path of every probe."""
    return f"/models/{model}/meta"


def pod_template(args: PodTemplateArgs) -> k8s.core.v1.PodTemplateSpecArgs:
    cfg, model = args.config, args.model
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(
            labels=pod_labels(cfg, model, args.bundle.version, args.track),
            annotations={
                VERSION_ANNOTATION: args.bundle.version,
                DIGEST_ANNOTATION: args.bundle.sha256,
                "kubectl.kubernetes.io/default-container": SERVER_CONTAINER,
            },
        ),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=args.service_account_name,
            # IRSA mounts its own projected token; the Kubernetes API token is not needed.
            automount_service_account_token=False,
            # One Service per model: with many models, service links would flood every pod's env.
            enable_service_links=False,
            security_context=_pod_security(cfg),
            init_containers=[_fetch_container(args)],
            containers=[_server_container(cfg, model, cfg.models[model])],
            volumes=[
                k8s.core.v1.VolumeArgs(name=BUNDLE_VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()),
                k8s.core.v1.VolumeArgs(name=TMP_VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()),
            ],
            topology_spread_constraints=[
                _spread(model, args.track, "topology.kubernetes.io/zone"),
                _spread(model, args.track, "kubernetes.io/hostname"),
            ],
        ),
    )


def _pod_security(cfg: StackConfig) -> k8s.core.v1.PodSecurityContextArgs:
    uid = cfg.kubernetes.run_as_user
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def _container_security() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


def _fetch_container(args: PodTemplateArgs) -> k8s.core.v1.ContainerArgs:
    keys = bundle_keys(args.model, args.bundle.version)
    env = {
        "BUNDLE_URI": pulumi.Output.from_input(args.bucket_name).apply(keys.uri),
        "BUNDLE_SHA256": args.bundle.sha256,
        "BUNDLE_PATH": BUNDLE_PATH,
        "MLEAP_LOAD_REQUEST": mleap_load_request(args.model),
        "LOAD_REQUEST_PATH": LOAD_REQUEST_PATH,
        "AWS_REGION": args.config.aws.region,
        "HOME": TMP_DIR,  # the AWS CLI writes its cache under $HOME; the root filesystem is read-only
    }
    return k8s.core.v1.ContainerArgs(
        name=FETCH_CONTAINER,
        image=args.config.kubernetes.images.init,
        command=["/bin/sh", "-c", FETCH_SCRIPT],
        env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "512Mi"}
        ),
        security_context=_container_security(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name=BUNDLE_VOLUME, mount_path=BUNDLE_DIR),
            k8s.core.v1.VolumeMountArgs(name=TMP_VOLUME, mount_path=TMP_DIR),
        ],
    )


def _server_container(cfg: StackConfig, model: str, model_cfg: ModelConfig) -> k8s.core.v1.ContainerArgs:
    serving = model_cfg.serving
    port = cfg.kubernetes.serving_port
    java_options = " ".join(
        (
            f"-XX:MaxRAMPercentage={serving.max_ram_percentage}.0",
            f"-Djava.io.tmpdir={TMP_DIR}",
            f"-Dmleap.model.config={LOAD_REQUEST_PATH}",
        )
    )
    env = {
        "MLEAP_HTTP_PORT": str(port),  # read by the stock image's application.yml
        "SERVER_PORT": str(port),  # the same for any Spring Boot image built without it
        "JAVA_TOOL_OPTIONS": java_options,
    }
    meta = k8s.core.v1.HTTPGetActionArgs(path=model_meta_path(model), port=PORT_NAME)
    return k8s.core.v1.ContainerArgs(
        name=SERVER_CONTAINER,
        image=serving.image or cfg.kubernetes.images.serving,
        ports=[k8s.core.v1.ContainerPortArgs(name=PORT_NAME, container_port=port, protocol="TCP")],
        env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()],
        resources=_resources(model_cfg),
        startup_probe=k8s.core.v1.ProbeArgs(
            http_get=meta,
            period_seconds=STARTUP_PROBE_PERIOD_SECONDS,
            timeout_seconds=2,
            failure_threshold=math.ceil(serving.startup_timeout_seconds / STARTUP_PROBE_PERIOD_SECONDS),
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(http_get=meta, period_seconds=10, timeout_seconds=2, failure_threshold=3),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=meta,
            period_seconds=LIVENESS_PERIOD_SECONDS,
            timeout_seconds=LIVENESS_TIMEOUT_SECONDS,
            failure_threshold=LIVENESS_FAILURE_THRESHOLD,
        ),
        security_context=_container_security(),
        volume_mounts=[
            # The server reads the verified bundle; it cannot alter it.
            k8s.core.v1.VolumeMountArgs(name=BUNDLE_VOLUME, mount_path=BUNDLE_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name=TMP_VOLUME, mount_path=TMP_DIR),
        ],
    )


def _resources(model_cfg: ModelConfig) -> k8s.core.v1.ResourceRequirementsArgs:
    res = model_cfg.serving.resources

    def amounts(a: ResourceAmounts) -> dict[str, str]:
        return {k: v for k, v in (("cpu", a.cpu), ("memory", a.memory)) if v}

    return k8s.core.v1.ResourceRequirementsArgs(requests=amounts(res.requests), limits=amounts(res.limits))


def _spread(model: str, track: Track, topology_key: str) -> k8s.core.v1.TopologySpreadConstraintArgs:
    """Spread one track's pods; ``pod-template-hash`` counts only the current ReplicaSet during a rollout."""
    return k8s.core.v1.TopologySpreadConstraintArgs(
        max_skew=1,
        topology_key=topology_key,
        when_unsatisfiable="ScheduleAnyway",
        label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=track_selector(model, track)),
        match_label_keys=["pod-template-hash"],
    )
