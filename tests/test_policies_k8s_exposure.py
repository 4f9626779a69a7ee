"""Exposure rules over the Analyzer protocol: Services and load balancers stay inside the cluster, and no annotation
pastes configuration into the ingress controller."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy_programs import (
    Res,
    pack,  # noqa: F401  (the session's pack fixture)
)

EXPOSURE = "k8s-no-public-exposure"
SNIPPETS = "k8s-ingress-no-snippets"
METADATA = {"name": "days-to-sell", "namespace": "models"}
SERVICE = "kubernetes:core/v1:Service"


def service(spec: dict[str, Any], annotations: dict[str, str] | None = None, token: str = SERVICE) -> Res:
    metadata = {**METADATA, "annotations": annotations or {}}
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
    return Res(token, "svc", {"items": [obj]} if token.endswith("List") else obj)


def ingress(annotations: dict[str, str], token: str = "kubernetes:networking.k8s.io/v1:Ingress") -> Res:
    obj = {
        "metadata": {**METADATA, "annotations": annotations},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "models.example.com"}]},
    }
    return Res(token, "ing", {"items": [obj]} if token.endswith("List") else obj)


PORTS = {"ports": [{"name": "http", "port": 65327, "targetPort": "http"}], "selector": {"app": "x"}}


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({**PORTS, "type": "LoadBalancer"}, "spec.type is LoadBalancer"),
        ({**PORTS, "type": "NodePort"}, "spec.type is NodePort"),
        ({**PORTS, "externalIPs": ["203.0.113.10"]}, "spec.externalIPs ['203.0.113.10']"),
        ({**PORTS, "loadBalancerSourceRanges": ["10.0.0.0/8", "0.0.0.0/0"]}, "admits ['0.0.0.0/0']"),
        ({**PORTS, "loadBalancerSourceRanges": ["::/0"]}, "admits ['::/0']"),
    ],
)
@pytest.mark.parametrize("token", [SERVICE, f"{SERVICE}Patch", f"{SERVICE}List"])
def test_a_service_reachable_from_outside_fails(pack, spec, expected, token):
    found = pack.check([service(spec, token=token)])
    assert len(found.of(EXPOSURE)) == 1 and expected in found.messages(EXPOSURE)[0]


@pytest.mark.parametrize(
    "annotations",
    [
        {"service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8,0.0.0.0/0"},
        {"alb.ingress.kubernetes.io/inbound-cidrs": "0.0.0.0/0, ::/0"},
        {"nginx.ingress.kubernetes.io/whitelist-source-range": "::/0"},
    ],
)
def test_an_annotation_open_to_the_world_fails(pack, annotations):
    found = pack.check([ingress(annotations), service(PORTS, annotations)])
    assert sorted(f.resource for f in found.of(EXPOSURE)) == ["ing", "svc"]
    assert all("the whole internet" in m for m in found.messages(EXPOSURE))


@pytest.mark.parametrize(
    "resources",
    [
        [service(PORTS)],
        [service({**PORTS, "clusterIP": "None"})],
        [ingress({"nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8,192.168.0.0/16"})],
        [ingress({"alb.ingress.kubernetes.io/healthcheck-path": "/models/days-to-sell/meta"})],
    ],
    ids=["cluster-ip", "headless", "private-ranges", "health-check-path"],
)
def test_inside_the_cluster_or_from_named_ranges_passes(pack, resources):
    assert pack.check(resources).of(EXPOSURE) == []


def test_an_environment_may_allow_load_balancers_but_never_the_whole_internet(pack):
    settings = {EXPOSURE: {"allowedServiceTypes": ["ClusterIP", "LoadBalancer"]}}
    assert pack.check([service({**PORTS, "type": "LoadBalancer"})], settings=settings).of(EXPOSURE) == []
    open_lb = service({**PORTS, "type": "LoadBalancer", "loadBalancerSourceRanges": ["0.0.0.0/0"]})
    assert len(pack.check([open_lb], settings=settings).of(EXPOSURE)) == 1


def test_exposure_is_mandatory_in_prod_and_advisory_in_staging(pack):
    program = [service({**PORTS, "type": "NodePort"})]
    assert [f.level for f in pack.check(program, "prod").of(EXPOSURE)] == ["mandatory"]
    assert [f.level for f in pack.check(program, "staging").of(EXPOSURE)] == ["advisory"]


# --------------------------------------------------------------------------- snippets


@pytest.mark.parametrize(
    "key",
    [
        "nginx.ingress.kubernetes.io/configuration-snippet",
        "nginx.ingress.kubernetes.io/server-snippet",
        "nginx.ingress.kubernetes.io/auth-snippet",
        "nginx.ingress.kubernetes.io/modsecurity-snippet",
        "nginx.ingress.kubernetes.io/stream-snippet",
        "nginx.org/server-snippets",
        "nginx.org/location-snippets",
    ],
)
@pytest.mark.parametrize(
    "token",
    [
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:networking.k8s.io/v1beta1:Ingress",
        "kubernetes:extensions/v1beta1:Ingress",
        "kubernetes:networking.k8s.io/v1:IngressPatch",
        "kubernetes:networking.k8s.io/v1:IngressList",
    ],
)
def test_a_snippet_annotation_on_any_ingress_fails(pack, key, token):
    found = pack.check([ingress({key: "location / { return 200; }"}, token=token)])
    where = "items[0]." if token.endswith("List") else ""
    expected = f"{where}annotation {key} injects raw configuration into the ingress controller"
    assert found.messages(SNIPPETS) == [expected]


def test_a_controller_configmap_that_allows_snippets_fails(pack):
    config = {
        "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
        "data": {"allow-snippet-annotations": "true", "http-snippet": "server { listen 8080; }"},
    }
    found = pack.check([Res("kubernetes:core/v1:ConfigMap", "controller", config)])
    assert sorted(found.messages(SNIPPETS)) == [
        "data.allow-snippet-annotations lets every Ingress inject raw configuration",
        "data.http-snippet injects raw configuration into the ingress controller",
    ]


def test_dedicated_annotations_pass(pack):
    annotations = {
        "nginx.ingress.kubernetes.io/rewrite-target": "/models/days-to-sell/transform",
        "alb.ingress.kubernetes.io/healthcheck-path": "/models/days-to-sell/meta",
    }
    assert pack.check([ingress(annotations)]).of(SNIPPETS) == []


def test_snippets_are_mandatory_in_every_environment(pack):
    program = [ingress({"nginx.ingress.kubernetes.io/server-snippet": "x"})]
    for environment in ("dev", "staging", "prod"):
        assert [f.level for f in pack.check(program, environment).of(SNIPPETS)] == ["mandatory"], environment
