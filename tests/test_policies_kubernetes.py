"""Kubernetes policies, called directly: a hardened serving Deployment passes; each weakening fails its rule."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest


from model_platform_policy import kubernetes as k  # noqa: E402
from model_platform_policy import types as t  # noqa: E402
from model_platform_policy.testing import resource, violations  # noqa: E402

DIGEST = "@sha256:" + "a" * 64
LABELS = {
    "app.kubernetes.io/name": "days-to-sell",
    "app.kubernetes.io/component": "serving",
    "app.kubernetes.io/part-of": "model-platform",
}
SECURE = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
PROBE = {"httpGet": {"path": "/models/days-to-sell/meta", "port": "http"}}


def container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
        "securityContext": dict(SECURE),
        **extra,
    }


def deployment_props() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "days-to-sell", "namespace": "models"},
        "spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {**LABELS, "app.kubernetes.io/version": "1.4.0"}},
                "spec": {
                    "securityContext": {"runAsUser": 10001, "runAsNonRoot": True},
                    "initContainers": [container("fetch-bundle", "aws-cli:2.22.35" + DIGEST)],
                    "containers": [
                        container("mleap", "mleap-serving:0.23.0" + DIGEST, startupProbe=PROBE, readinessProbe=PROBE)
                    ],
                },
            },
        },
    }


def edited(edit: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    props = copy.deepcopy(deployment_props())
    edit(props)
    return props


def pod(props: dict[str, Any]) -> dict[str, Any]:
    return props["spec"]["template"]["spec"]


def server(props: dict[str, Any]) -> dict[str, Any]:
    return pod(props)["containers"][0]


def fetcher(props: dict[str, Any]) -> dict[str, Any]:
    return pod(props)["initContainers"][0]


def deployment(props: dict[str, Any]):
    return resource(t.K8S_DEPLOYMENT, props, name="days-to-sell")


WORKLOAD_POLICIES = [
    k.image_no_latest,
    k.image_digest,
    k.resources_set,
    k.probes_set,
    k.security_context,
    k.rolling_update,
]


@pytest.mark.parametrize("policy", WORKLOAD_POLICIES, ids=lambda p: p.name)
def test_a_hardened_deployment_passes(policy):
    assert violations(policy, deployment(deployment_props())) == []


@pytest.mark.parametrize(
    "policy, edit, expected",
    [
        (k.image_no_latest, lambda p: server(p).update(image="mleap-serving:latest"), ":latest"),
        (k.image_no_latest, lambda p: fetcher(p).update(image="registry:5000/aws-cli"), "no tag"),
        (k.image_digest, lambda p: server(p).update(image="mleap-serving:0.23.0"), "not pinned by digest"),
        (k.resources_set, lambda p: server(p)["resources"]["requests"].pop("cpu"), "requests.cpu"),
        (k.resources_set, lambda p: fetcher(p)["resources"].pop("limits"), "limits.memory"),
        (k.probes_set, lambda p: server(p).pop("startupProbe"), "startupProbe"),
        (k.probes_set, lambda p: server(p).pop("readinessProbe"), "readinessProbe"),
        (k.security_context, lambda p: server(p)["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
        (
            k.security_context,
            lambda p: [pod(p).pop("securityContext"), fetcher(p)["securityContext"].pop("runAsNonRoot")],
            "runAsNonRoot",
        ),
        (k.security_context, lambda p: server(p)["securityContext"].update(runAsUser=0), "runAsUser is 0"),
        (
            k.security_context,
            lambda p: fetcher(p)["securityContext"].pop("allowPrivilegeEscalation"),
            "allowPrivilegeEscalation",
        ),
        (
            k.security_context,
            lambda p: server(p)["securityContext"].update(readOnlyRootFilesystem=False),
            "readOnlyRootFilesystem",
        ),
        (k.security_context, lambda p: server(p)["securityContext"].pop("capabilities"), "drop does not include ALL"),
        (
            k.rolling_update,
            lambda p: p["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable="25%"),
            "maxUnavailable is '25%'",
        ),
        (k.rolling_update, lambda p: p["spec"].pop("strategy"), "unset (25%)"),
        (k.rolling_update, lambda p: p["spec"].update(strategy={"type": "Recreate"}), "Recreate"),
        (k.rolling_update, lambda p: p["spec"]["strategy"]["rollingUpdate"].update(maxSurge=0), "maxSurge is 0"),
    ],
)
def test_each_weakening_fails_its_policy(policy, edit, expected):
    found = violations(policy, deployment(edited(edit)))
    assert len(found) == 1 and expected in found[0]


def test_image_tags_are_read_past_registry_ports_and_digests():
    assert k.image_tag("registry:5000/ml/mleap:0.23.0@sha256:" + "b" * 64) == "0.23.0"
    assert k.image_tag("registry:5000/ml/mleap") is None


def test_init_containers_need_no_probes():
    props = edited(lambda p: None)
    assert "startupProbe" not in fetcher(props)
    assert violations(k.probes_set, deployment(props)) == []


# --------------------------------------------------------------------------- PDB and HPA


def pdb(match_labels: dict[str, str], namespace: str = "models", **spec: Any):
    props = {
        "metadata": {"name": "days-to-sell", "namespace": namespace},
        "spec": {"selector": {"matchLabels": match_labels}, **spec},
    }
    return resource(t.K8S_PDB, props, name="pdb")


def hpa(min_replicas: int = 2, max_replicas: int = 4, target: str = "days-to-sell"):
    spec = {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
    }
    return resource(t.K8S_HPA, {"metadata": {"name": "days-to-sell", "namespace": "models"}, "spec": spec}, name="hpa")


def test_a_serving_deployment_with_a_pdb_and_an_hpa_passes():
    resources = [
        deployment(deployment_props()),
        pdb({"app.kubernetes.io/name": "days-to-sell"}, maxUnavailable=1),
        hpa(),
    ]
    assert violations(k.serving_pdb, resources) == []
    assert violations(k.serving_hpa, resources) == []


@pytest.mark.parametrize(
    "budget, expected",
    [
        (None, "no PodDisruptionBudget"),
        (pdb({"app.kubernetes.io/name": "another-model"}, maxUnavailable=1), "no PodDisruptionBudget"),
        (
            pdb({"app.kubernetes.io/name": "days-to-sell"}, namespace="default", maxUnavailable=1),
            "no PodDisruptionBudget",
        ),
        (pdb({}, maxUnavailable=1), "no PodDisruptionBudget"),
        (pdb({"app.kubernetes.io/name": "days-to-sell"}, maxUnavailable=0), "allows no disruption"),
        (pdb({"app.kubernetes.io/name": "days-to-sell"}, minAvailable="100%"), "allows no disruption"),
    ],
)
def test_a_serving_deployment_without_a_usable_pdb_fails(budget, expected):
    found = violations(k.serving_pdb, [deployment(deployment_props()), *([budget] if budget else [])])
    assert len(found) == 1 and expected in found[0]


def test_pdb_selectors_understand_match_expressions():
    selector = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["days-to-sell"]}]}
    assert k.selects(selector, LABELS)
    assert not k.selects(
        {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["days-to-sell"]}]},
        LABELS,
    )


@pytest.mark.parametrize(
    "autoscaler, config, expected",
    [
        (None, {}, "no HorizontalPodAutoscaler"),
        (hpa(target="another-model"), {}, "no HorizontalPodAutoscaler"),
        (hpa(min_replicas=5, max_replicas=3), {}, "minReplicas 5 is not <= maxReplicas 3"),
        (hpa(min_replicas=1, max_replicas=3), {"minReplicas": 2}, "below 2"),
    ],
)
def test_a_serving_deployment_without_a_sound_hpa_fails(autoscaler, config, expected):
    found = violations(k.serving_hpa, [deployment(deployment_props()), *([autoscaler] if autoscaler else [])], config)
    assert len(found) == 1 and expected in found[0]


def test_one_replica_is_enough_where_the_environment_allows_it():
    resources = [deployment(deployment_props()), hpa(min_replicas=1)]
    assert violations(k.serving_hpa, resources, {"minReplicas": 1}) == []


def _foreign(props: dict[str, Any]) -> None:
    """Make the Deployment someone else's: not part of model-platform, no IRSA ServiceAccount."""
    props["spec"]["template"]["metadata"]["labels"] = {"app.kubernetes.io/name": "ingress"}


def test_deployments_outside_the_platform_need_no_hpa_or_pdb():
    props = edited(_foreign)
    assert violations(k.serving_hpa, [deployment(props)]) == []
    assert violations(k.serving_pdb, [deployment(props)]) == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p["spec"]["template"]["metadata"]["labels"].pop("app.kubernetes.io/component"),
        lambda p: p["spec"]["template"]["metadata"]["labels"].update({"app.kubernetes.io/component": "api"}),
        lambda p: [_foreign(p), p["metadata"].update(labels={"app.kubernetes.io/part-of": "model-platform"})],
    ],
    ids=["no-component-label", "other-component", "part-of-on-the-deployment-only"],
)
def test_a_platform_deployment_needs_an_hpa_and_a_pdb_whatever_its_component_label(edit):
    props = edited(edit)
    assert violations(k.serving_hpa, [deployment(props)]) == [
        "Deployment 'days-to-sell' has no HorizontalPodAutoscaler"
    ]
    assert violations(k.serving_pdb, [deployment(props)]) == [
        "Deployment 'days-to-sell' has no PodDisruptionBudget selecting its pods"
    ]


def service_account(name: str, namespace: str = "models", role_arn: str | None = None):
    annotations = {"eks.amazonaws.com/role-arn": role_arn} if role_arn else {}
    props = {"kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace, "annotations": annotations}}
    return resource(t.K8S_SERVICE_ACCOUNT, props, name=name)


def test_a_deployment_running_as_an_irsa_service_account_serves_even_without_platform_labels():
    props = edited(lambda p: [_foreign(p), pod(p).update(serviceAccountName="days-to-sell-serving")])
    reader = service_account("days-to-sell-serving", role_arn="arn:aws:iam::111122223333:role/reader")
    assert violations(k.serving_hpa, [deployment(props), reader]) == [
        "Deployment 'days-to-sell' has no HorizontalPodAutoscaler"
    ]
    assert len(violations(k.serving_pdb, [deployment(props), reader])) == 1
    plain = service_account("days-to-sell-serving")
    elsewhere = service_account("days-to-sell-serving", namespace="other", role_arn="arn:aws:iam::1:role/reader")
    assert violations(k.serving_hpa, [deployment(props), plain, elsewhere]) == []


def test_a_canary_keeps_fixed_replicas_but_stays_under_the_models_pdb():
    canary_props = edited(
        lambda p: p["spec"]["template"]["metadata"]["labels"].update({"model-platform/track": "canary"})
    )
    canary_props["metadata"]["name"] = "days-to-sell-canary"
    canary = resource(t.K8S_DEPLOYMENT, canary_props, name="days-to-sell-canary")
    assert violations(k.serving_hpa, [canary]) == []
    assert violations(k.serving_hpa, [canary], {"fixedReplicaTracks": []}) == [
        "Deployment 'days-to-sell-canary' has no HorizontalPodAutoscaler"
    ]
    assert violations(k.serving_pdb, [canary, pdb({"app.kubernetes.io/name": "days-to-sell"}, maxUnavailable=1)]) == []
