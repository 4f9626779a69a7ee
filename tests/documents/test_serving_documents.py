"""One model's Service, NetworkPolicy, Ingress, HPA, PDB and Deployment specs (infra/documents/serving.py), directly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.documents.kubernetes import Track, model_selector, track_selector
from infra.documents.serving import (
    Autoscaling,
    Callers,
    IngressRoute,
    autoscaler_spec,
    deployment_spec,
    disruption_budget_spec,
    ingress_spec,
    network_policy_spec,
    service_spec,
)
from tests.document_reading import ingress_routes

MODEL = "days-to-sell"
ROUTE = IngressRoute(host="days-to-sell.ml.example.com", class_name="alb", tls_secret="ml-tls")


def test_ingress_exposes_predictions_only_never_the_management_api():
    """MLeap's management API is unauthenticated: from the internet, one ``DELETE /models/<name>``
    would unload the model and ``POST /models`` load any bundle."""
    spec = ingress_spec(ROUTE, MODEL, "days-to-sell")
    assert ingress_routes(spec, ROUTE.host, f"/models/{MODEL}/transform")
    for path in ("/", "/models", f"/models/{MODEL}", "/bundleMeta", f"/models/{MODEL}/transform/", "/actuator/health"):
        assert not ingress_routes(spec, ROUTE.host, path), path


def test_ingress_terminates_tls_only_when_a_secret_is_named():
    assert ingress_spec(ROUTE, MODEL, "s")["tls"] == [{"hosts": [ROUTE.host], "secretName": "ml-tls"}]
    plain = IngressRoute(host=ROUTE.host, class_name="nginx", tls_secret=None)
    assert "tls" not in ingress_spec(plain, MODEL, "s")


@pytest.mark.parametrize(
    "callers,peers",
    [
        (Callers(namespaces=["models", "pricing-api"], pod_labels={}), [{"models", "pricing-api"}]),
        (Callers(namespaces=["models", "models"], pod_labels={}), [{"models"}]),
        (
            Callers(namespaces=["models"], pod_labels={}, ingress_controller_namespace="kube-system"),
            [{"models"}, {"kube-system"}],
        ),
    ],
)
def test_network_policy_admits_the_named_namespaces_on_the_serving_port_only(callers, peers):
    spec = network_policy_spec(MODEL, 65327, callers)
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["podSelector"] == {"matchLabels": model_selector(MODEL)}
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": 65327, "protocol": "TCP"}]
    found = []
    for peer in rule["from"]:
        (expr,) = peer["namespaceSelector"]["matchExpressions"]
        assert (expr["key"], expr["operator"]) == ("kubernetes.io/metadata.name", "In")
        found.append(set(expr["values"]))
        assert "podSelector" not in peer
    assert found == peers


def test_network_policy_can_also_require_caller_labels():
    spec = network_policy_spec(MODEL, 65327, Callers(namespaces=["models"], pod_labels={"model-client": "true"}))
    (peer,) = spec["ingress"][0]["from"]
    assert peer["podSelector"]["matchLabels"] == {"model-client": "true"}
    assert peer["namespaceSelector"], "labels narrow the namespaces, they do not replace them"


def test_service_is_cluster_internal_and_selects_both_tracks():
    spec = service_spec(MODEL, 65327)
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"name": "http", "port": 65327, "targetPort": "http", "protocol": "TCP"}]
    for track in Track:
        assert all(track_selector(MODEL, track)[k] == v for k, v in spec["selector"].items())


@settings(max_examples=50, deadline=None)
@given(low=st.integers(1, 100), extra=st.integers(0, 100), cpu=st.integers(10, 100), window=st.integers(0, 3600))
def test_autoscaler_follows_its_settings(low, extra, cpu, window):
    spec = autoscaler_spec(MODEL, Autoscaling(min_replicas=low, max_replicas=low + extra, target_cpu_utilization=cpu, scale_down_stabilization_seconds=window))
    assert (spec["minReplicas"], spec["maxReplicas"]) == (low, low + extra)
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": MODEL}
    (metric,) = spec["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == window


def test_autoscaling_bounds_out_of_order_are_refused():
    with pytest.raises(ValueError):
        Autoscaling(min_replicas=3, max_replicas=2, target_cpu_utilization=70, scale_down_stabilization_seconds=300)


def test_disruption_budget_takes_one_pod_at_a_time_and_never_blocks_on_unready_ones():
    assert disruption_budget_spec(MODEL) == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": model_selector(MODEL)},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


@pytest.mark.parametrize("track,replicas", [(Track.stable, None), (Track.canary, 2)])
def test_rolling_update_never_drops_capacity_and_the_hpa_owns_the_stable_count(track, replicas):
    spec = deployment_spec(MODEL, track, {"metadata": {}}, replicas=replicas, progress_deadline_seconds=600, min_ready_seconds=10)
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert spec["selector"] == {"matchLabels": track_selector(MODEL, track)}
    assert (spec["progressDeadlineSeconds"], spec["minReadySeconds"]) == (600, 10)
    assert spec.get("replicas") == replicas
