"""The pod template of a model server, as a plain dict (Kubernetes field names): fetch and verify the bundle, then serve.

An init container (AWS CLI, authenticated by IRSA) copies
``<model>/<version>/bundle.zip`` into an emptyDir and checks its sha256
against the stack config. A mismatch fails the init container, so the pod
never starts, never becomes ready, and the rollout stalls while the old
ReplicaSet keeps serving. It then writes the MLeap load request that the
server reads at start-up (``mleap.model.config``), so the model is loaded
before the server reports ready.

Everything that identifies the version (env, annotations, version label)
lives in this template: bumping the version rolls the pods and changes
nothing else. Every container runs as non-root, without privilege escalation
or capabilities, on a read-only root filesystem (the "restricted" Pod Security
Standard the serving namespace enforces).

Labels and selectors follow two rules that keep rollouts safe and small: the
version appears only on pods, never on the Deployment, Service, HPA or PDB;
selectors never contain the version (selectors are immutable), and the
Service selects on the model name only, so a canary's pods join the same
Service while each Deployment selects only its own track.

Values known only at deploy time (the bundle URI, the ServiceAccount's name)
are placed into the document untouched.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping, Optional

from infra.contract.layout import BUNDLE_FILE
from infra.contract.naming import CANARY_TRACK, LABEL_PREFIX, NAME_LABEL, STABLE_TRACK, TRACK_LABEL

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
#: The fetch container's own requests and limit: the AWS CLI copying one file.
FETCH_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}

#: Pod annotations carrying the exact version and digest (a label value cannot hold a sha256).
VERSION_ANNOTATION = f"{LABEL_PREFIX}model-version"
DIGEST_ANNOTATION = f"{LABEL_PREFIX}bundle-sha256"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

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


class Track(str, Enum):
    """Which Deployment a pod belongs to: the served version or the candidate."""

    stable = STABLE_TRACK
    canary = CANARY_TRACK


def model_selector(model: str) -> dict[str, str]:
    """Every serving pod of ``model``, stable and canary (Service, PDB, NetworkPolicy)."""
    return {NAME_LABEL: model}


def track_selector(model: str, track: Track) -> dict[str, str]:
    """The pods of one Deployment; disjoint between tracks so the two never fight over pods."""
    return {**model_selector(model), TRACK_LABEL: track.value}


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """The model server's own settings (a model's ``serving`` block, resolved against the stack's defaults)."""

    image: str
    port: int
    max_ram_percentage: int
    startup_timeout_seconds: int
    #: ``{"requests": {...}, "limits": {...}}`` with ``cpu`` and ``memory`` quantities (empty ones left out).
    resources: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, kw_only=True)
class PodTemplate:
    """Everything one track's pod template depends on."""

    model: str
    track: Track
    version: str
    bundle_sha256: str
    #: ``s3://<bucket>/<model>/<version>/bundle.zip``: text, or a deploy-time value passed through.
    bundle_uri: Any
    #: The pods' labels (the recommended ones with the version); the track label is added here.
    labels: Mapping[str, str]
    service_account_name: Any
    fetch_image: str
    region: str
    run_as_user: int
    server: ServerSettings


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
    """Answers only while the model is loaded (``/actuator/health`` can be UP without it): the path of every probe."""
    return f"/models/{model}/meta"


def pod_template(t: PodTemplate) -> dict[str, Any]:
    """The Deployment's ``spec.template``."""
    return {
        "metadata": {
            "labels": {**t.labels, TRACK_LABEL: t.track.value},
            "annotations": {
                VERSION_ANNOTATION: t.version,
                DIGEST_ANNOTATION: t.bundle_sha256,
                DEFAULT_CONTAINER_ANNOTATION: SERVER_CONTAINER,
            },
        },
        "spec": {
            "serviceAccountName": t.service_account_name,
            # IRSA mounts its own projected token; the Kubernetes API token is not needed.
            "automountServiceAccountToken": False,
            # One Service per model: with many models, service links would flood every pod's env.
            "enableServiceLinks": False,
            "securityContext": pod_security_context(t.run_as_user),
            "initContainers": [fetch_container(t)],
            "containers": [server_container(t.model, t.server)],
            "volumes": [{"name": BUNDLE_VOLUME, "emptyDir": {}}, {"name": TMP_VOLUME, "emptyDir": {}}],
            "topologySpreadConstraints": [
                spread_constraint(t.model, t.track, "topology.kubernetes.io/zone"),
                spread_constraint(t.model, t.track, "kubernetes.io/hostname"),
            ],
        },
    }


def pod_security_context(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Non-root, no privilege escalation, no capabilities, read-only root filesystem: every container."""
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _env(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def fetch_container(t: PodTemplate) -> dict[str, Any]:
    """The init container: copy the version's bundle, refuse another digest, write the load request."""
    env = {
        "BUNDLE_URI": t.bundle_uri,
        "BUNDLE_SHA256": t.bundle_sha256,
        "BUNDLE_PATH": BUNDLE_PATH,
        "MLEAP_LOAD_REQUEST": mleap_load_request(t.model),
        "LOAD_REQUEST_PATH": LOAD_REQUEST_PATH,
        "AWS_REGION": t.region,
        "HOME": TMP_DIR,  # the AWS CLI writes its cache under $HOME; the root filesystem is read-only
    }
    return {
        "name": FETCH_CONTAINER,
        "image": t.fetch_image,
        "command": ["/bin/sh", "-c", FETCH_SCRIPT],
        "env": _env(env),
        "resources": {k: dict(v) for k, v in FETCH_RESOURCES.items()},
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": BUNDLE_VOLUME, "mountPath": BUNDLE_DIR},
            {"name": TMP_VOLUME, "mountPath": TMP_DIR},
        ],
    }


def http_probe(model: str, *, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": model_meta_path(model), "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def server_container(model: str, server: ServerSettings) -> dict[str, Any]:
    """The MLeap server: loads the verified bundle at start-up, probed on the model's own path."""
    java_options = " ".join(
        (
            f"-XX:MaxRAMPercentage={server.max_ram_percentage}.0",
            f"-Djava.io.tmpdir={TMP_DIR}",
            f"-Dmleap.model.config={LOAD_REQUEST_PATH}",
        )
    )
    env = {
        "MLEAP_HTTP_PORT": str(server.port),  # read by the stock image's application.yml
        "SERVER_PORT": str(server.port),  # the same for any Spring Boot image built without it
        "JAVA_TOOL_OPTIONS": java_options,
    }
    startup_failures = math.ceil(server.startup_timeout_seconds / STARTUP_PROBE_PERIOD_SECONDS)
    return {
        "name": SERVER_CONTAINER,
        "image": server.image,
        "ports": [{"name": PORT_NAME, "containerPort": server.port, "protocol": "TCP"}],
        "env": _env(env),
        "resources": {k: dict(v) for k, v in server.resources.items()},
        "startupProbe": http_probe(model, period=STARTUP_PROBE_PERIOD_SECONDS, timeout=2, failures=startup_failures),
        "readinessProbe": http_probe(model, period=10, timeout=2, failures=3),
        "livenessProbe": http_probe(
            model, period=LIVENESS_PERIOD_SECONDS, timeout=LIVENESS_TIMEOUT_SECONDS, failures=LIVENESS_FAILURE_THRESHOLD
        ),
        "securityContext": container_security_context(),
        "volumeMounts": [
            # The server reads the verified bundle; it cannot alter it.
            {"name": BUNDLE_VOLUME, "mountPath": BUNDLE_DIR, "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": TMP_DIR},
        ],
    }


def resource_amounts(cpu: Optional[str], memory: Optional[str]) -> dict[str, str]:
    """``{"cpu": ..., "memory": ...}`` without the amounts left unset."""
    return {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}


def spread_constraint(model: str, track: Track, topology_key: str) -> dict[str, Any]:
    """Spread one track's pods; ``pod-template-hash`` counts only the current ReplicaSet during a rollout."""
    return {
        "maxSkew": 1,
        "topologyKey": topology_key,
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": track_selector(model, track)},
        "matchLabelKeys": ["pod-template-hash"],
    }
