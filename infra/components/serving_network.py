"""How a model server is reached: its Service, who may call it, and the optional Ingress.

mleap-spring-boot serves its management API on the same port as predictions:
``POST /models`` (load any URI), ``DELETE /models/{name}`` (unload),
``GET /bundleMeta?uri=``. It has no authentication, so the Ingress exposes the
model's transform path alone; the NetworkPolicy decides who may reach the rest.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.serving_labels import model_selector
from infra.components.serving_pod import PORT_NAME
from infra.config import IngressConfig, StackConfig

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace


def service_spec(cfg: StackConfig, model: str) -> k8s.core.v1.ServiceSpecArgs:
    """ClusterIP on the serving port; selects stable and canary pods alike (traffic by replica share)."""
    return k8s.core.v1.ServiceSpecArgs(
        type="ClusterIP",
        selector=model_selector(model),
        ports=[
            k8s.core.v1.ServicePortArgs(
                name=PORT_NAME, port=cfg.kubernetes.serving_port, target_port=PORT_NAME, protocol="TCP"
            )
        ],
    )


def endpoint_url(service_name: str, namespace: str, port: int) -> str:
    """In-cluster URL of a model's Service."""
    return f"http://{service_name}.{namespace}.svc.cluster.local:{port}"


def network_policy_spec(cfg: StackConfig, model: str) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Admit callers only on the serving port: pods of the serving namespace and of
    ``allowedNamespaces`` (carrying ``allowedPodLabels`` when set), and the ingress controller
    when the model has an Ingress. Egress stays open: the init container needs S3.

    A NetworkPolicy works on ports, not HTTP paths: every caller it admits can also use
    MLeap's unauthenticated management API (unload the model, load another bundle). Admit
    only trusted workloads; ``allowedPodLabels`` narrows them to labelled pods.
    """
    k = cfg.kubernetes
    callers = k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=_namespaces_named([k.namespace, *k.allowed_namespaces]),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=k.allowed_pod_labels) if k.allowed_pod_labels else None,
    )
    peers = [callers]
    ingress = cfg.models[model].serving.ingress
    if ingress:
        peers.append(k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=_namespaces_named([ingress.controller_namespace])))
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=model_selector(model)),
        policy_types=["Ingress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=peers,
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=k.serving_port, protocol="TCP")],
            )
        ],
    )


def _namespaces_named(names: list[str]) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(
        match_expressions=[
            k8s.meta.v1.LabelSelectorRequirementArgs(key=NAMESPACE_NAME_LABEL, operator="In", values=sorted(set(names)))
        ]
    )


def transform_path(model: str) -> str:
    """MLeap's prediction endpoint for ``model`` (``POST`` with a LeapFrame)."""
    return f"/models/{model}/transform"


def ingress_spec(ingress: IngressConfig, model: str, service_name: pulumi.Input[str]) -> k8s.networking.v1.IngressSpecArgs:
    """Route exactly the model's transform path to its Service; nothing else of the host.

    A ``/`` prefix would publish MLeap's management API with it: one unauthenticated
    ``DELETE /models/<name>`` from the internet would unload the model. ``Exact`` also
    keeps out sub-paths and trailing slashes. The model's ``/meta`` (its schema) stays
    in-cluster: outside callers need the transform only.
    """
    backend = k8s.networking.v1.IngressBackendArgs(
        service=k8s.networking.v1.IngressServiceBackendArgs(
            name=service_name, port=k8s.networking.v1.ServiceBackendPortArgs(name=PORT_NAME)
        )
    )
    return k8s.networking.v1.IngressSpecArgs(
        ingress_class_name=ingress.class_name,
        rules=[
            k8s.networking.v1.IngressRuleArgs(
                host=ingress.host,
                http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                    paths=[
                        k8s.networking.v1.HTTPIngressPathArgs(path=transform_path(model), path_type="Exact", backend=backend)
                    ]
                ),
            )
        ],
        tls=[k8s.networking.v1.IngressTLSArgs(hosts=[ingress.host], secret_name=ingress.tls_secret)]
        if ingress.tls_secret
        else None,
    )
