"""One model's serving objects besides its pods, as plain dicts (Kubernetes field names).

How a model server is reached: its Service, who may call it (NetworkPolicy),
the optional Ingress; how it scales (HorizontalPodAutoscaler) and survives a
drain (PodDisruptionBudget); how a Deployment rolls out.

mleap-spring-boot serves its management API on the same port as predictions:
``POST /models`` (load any URI), ``DELETE /models/{name}`` (unload),
``GET /bundleMeta?uri=``. It has no authentication, so the Ingress exposes the
model's transform path alone; the NetworkPolicy decides who may reach the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from infra.documents.kubernetes import PORT_NAME, Track, model_selector, track_selector

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace
REVISION_HISTORY_LIMIT = 5


def service_spec(model: str, port: int) -> dict[str, Any]:
    """ClusterIP on the serving port; selects stable and canary pods alike (traffic by replica share)."""
    return {
        "type": "ClusterIP",
        "selector": model_selector(model),
        "ports": [{"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"}],
    }


def endpoint_url(service_name: str, namespace: str, port: int) -> str:
    """In-cluster URL of a model's Service."""
    return f"http://{service_name}.{namespace}.svc.cluster.local:{port}"


@dataclass(frozen=True, kw_only=True)
class Callers:
    """Who may call a model's server: pods of these namespaces (carrying these labels, when set)."""

    namespaces: Sequence[str]
    pod_labels: Mapping[str, str]
    #: The ingress controller's namespace, when the model has an Ingress.
    ingress_controller_namespace: Optional[str] = None


def network_policy_spec(model: str, port: int, callers: Callers) -> dict[str, Any]:
    """Admit callers only on the serving port: pods of ``callers.namespaces`` (carrying ``callers.pod_labels``
    when set), and the ingress controller when the model has an Ingress. Egress stays open: the init container
    needs S3.

    A NetworkPolicy works on ports, not HTTP paths: every caller it admits can also use
    MLeap's unauthenticated management API (unload the model, load another bundle). Admit
    only trusted workloads; ``allowedPodLabels`` narrows them to labelled pods.
    """
    peer: dict[str, Any] = {"namespaceSelector": _namespaces_named(callers.namespaces)}
    if callers.pod_labels:
        peer["podSelector"] = {"matchLabels": dict(callers.pod_labels)}
    peers = [peer]
    if callers.ingress_controller_namespace:
        peers.append({"namespaceSelector": _namespaces_named([callers.ingress_controller_namespace])})
    return {
        "podSelector": {"matchLabels": model_selector(model)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": peers, "ports": [{"port": port, "protocol": "TCP"}]}],
    }


def _namespaces_named(names: Sequence[str]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(set(names))}]}


def transform_path(model: str) -> str:
    """MLeap's prediction endpoint for ``model`` (``POST`` with a LeapFrame)."""
    return f"/models/{model}/transform"


@dataclass(frozen=True, kw_only=True)
class IngressRoute:
    host: str
    class_name: str
    tls_secret: Optional[str]


def ingress_spec(route: IngressRoute, model: str, service_name: Any) -> dict[str, Any]:
    """Route exactly the model's transform path to its Service; nothing else of the host.

    A ``/`` prefix would publish MLeap's management API with it: one unauthenticated
    ``DELETE /models/<name>`` from the internet would unload the model. ``Exact`` also
    keeps out sub-paths and trailing slashes. The model's ``/meta`` (its schema) stays
    in-cluster: outside callers need the transform only.
    """
    backend = {"service": {"name": service_name, "port": {"name": PORT_NAME}}}
    spec: dict[str, Any] = {
        "ingressClassName": route.class_name,
        "rules": [
            {
                "host": route.host,
                "http": {"paths": [{"path": transform_path(model), "pathType": "Exact", "backend": backend}]},
            }
        ],
    }
    if route.tls_secret:
        spec["tls"] = [{"hosts": [route.host], "secretName": route.tls_secret}]
    return spec


def disruption_budget_spec(model: str) -> dict[str, Any]:
    """One budget over stable and canary pods: drains take at most one serving pod at a time,
    so with two or more replicas (the prod minimum) a drain never takes them all."""
    return {
        "maxUnavailable": 1,
        "selector": {"matchLabels": model_selector(model)},
        # A pod that is not ready serves nothing: evicting it must never block a node drain.
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


@dataclass(frozen=True, kw_only=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int
    scale_down_stabilization_seconds: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"replicas: need 1 <= min ({self.min_replicas}) <= max ({self.max_replicas})")


def autoscaler_spec(deployment_name: Any, scaling: Autoscaling) -> dict[str, Any]:
    """Scale the stable Deployment on CPU between the configured bounds."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name},
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_utilization},
                },
            }
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": scaling.scale_down_stabilization_seconds}},
    }


def deployment_spec(
    model: str,
    track: Track,
    template: Mapping[str, Any],
    *,
    replicas: Optional[int],
    progress_deadline_seconds: int,
    min_ready_seconds: int,
) -> dict[str, Any]:
    """A Deployment of one track.

    ``replicas`` is None for the stable track: the HPA owns its replica count.
    Setting it (even to the HPA minimum) would make every apply of a changed
    Deployment reset the count the HPA chose, scaling a loaded service down in
    the middle of a rollout; unset, Kubernetes starts it at one pod and the HPA
    raises it to its minimum within seconds. The canary has no HPA: its count
    comes from the canary block.
    """
    spec: dict[str, Any] = {
        "selector": {"matchLabels": track_selector(model, track)},
        # Never below the current capacity: a new pod must be ready before an old one goes.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "progressDeadlineSeconds": progress_deadline_seconds,
        "minReadySeconds": min_ready_seconds,
        "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
        "template": dict(template),
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return spec
