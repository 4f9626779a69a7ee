"""Serving on Kubernetes: what a platform engineer relies on when a model version ships.

Every test plans the real program offline (mock runtime) and reads the
Kubernetes objects it declares.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.config import ConfigError, ImagesConfig
from infra.contract.layout import bundle_keys
from infra.naming import service_account_name
from modelctl.diff import diff_plans
from modelctl.engine import Plan, PlannedResource
from modelctl.render import render_manifests
from tests.conftest import RELEASED_VERSION, plan_fixture, plan_with, release_edits, stack_doc
from tests.dags.declared import TWO_MODELS

MODEL = "days-to-sell"
M = f"model-platform:models.{MODEL}"
K8S = "model-platform:kubernetes"
CANDIDATE = {"version": "1.5.0", "bundleSha256": "a" * 64, "replicas": 2}
#: A release of the model: a training run's version and its digest (the same edit as test_training's).
RELEASED = release_edits(MODEL)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NAMESPACE = "kubernetes:core/v1:Namespace"


# --------------------------------------------------------------------------- helpers


def model_cfg(stack: str, model: str = MODEL) -> dict[str, Any]:
    return stack_doc(stack)["config"]["model-platform:models"][model]


def k8s_cfg(stack: str) -> dict[str, Any]:
    return stack_doc(stack)["config"][K8S]


def kube(plan: Plan) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type.startswith("kubernetes:")]


def obj(plan: Plan, type_: str, name: str = MODEL) -> dict[str, Any]:
    return plan.get(type_, name).inputs


def pod_spec(plan: Plan, deployment: str = MODEL) -> dict[str, Any]:
    return obj(plan, DEPLOYMENT, deployment)["spec"]["template"]["spec"]


def container(plan: Plan, name: str, deployment: str = MODEL) -> dict[str, Any]:
    spec = pod_spec(plan, deployment)
    (found,) = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == name]
    return found


def env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def k8s_changes(base: Plan, head: Plan):
    """The Kubernetes part of a plan diff: (added, removed, {resource name: changed paths})."""
    d = diff_plans(base, head)
    is_k8s = lambda t: t.startswith("kubernetes:")  # noqa: E731
    changed = {(c.type, c.name): [p.path for p in c.properties] for c in d.changed if is_k8s(c.type)}
    return [r for r in d.added if is_k8s(r.type)], [r for r in d.removed if is_k8s(r.type)], changed


INGRESS_CFG = {
    "host": "days-to-sell.ml.example.com",
    "className": "alb",
    "tlsSecret": "ml-tls",
    "controllerNamespace": "kube-system",
}
INGRESS_ANNOTATIONS = {"alb.ingress.kubernetes.io/healthcheck-path": "/models/days-to-sell/meta"}
#: Every staging edit a test reads back from the model's objects, in one stack planned once (``plan_fixture``; the
#: ingress adds a peer to the NetworkPolicy, next to the namespaces' one that allowedPodLabels narrows).
EDITED = {
    f"{K8S}.createNamespace": False,
    f"{K8S}.namespace": "ml-serving",
    f"{K8S}.allowedPodLabels": {"model-client": "true"},
    f"{M}.serving.image": "registry.example.com/ml/custom-mleap:0.23.0",
    f"{M}.serving.startupTimeoutSeconds": 900,
    f"{M}.serving.progressDeadlineSeconds": 1200,
    f"{M}.serving.scaleDownStabilizationSeconds": 900,
    f"{M}.serving.ingress": {**INGRESS_CFG, "annotations": INGRESS_ANNOTATIONS},
}


edited = plan_fixture("staging", EDITED)
#: Staging with a canary of ``CANDIDATE``: the base of the canary rollout tests.
with_canary = plan_fixture("staging", {f"{M}.canary": dict(CANDIDATE)})


# --------------------------------------------------------------------------- objects per model


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_each_model_has_its_serving_objects_in_the_serving_namespace(stack, real_plan):
    plan = real_plan(stack)
    namespace = k8s_cfg(stack).get("namespace", "models")
    for type_ in (DEPLOYMENT, SERVICE, HPA, PDB, NETWORK_POLICY):
        meta = obj(plan, type_)["metadata"]
        assert meta["namespace"] == namespace, type_
    account = obj(plan, SERVICE_ACCOUNT, service_account_name(MODEL))["metadata"]
    assert (account["namespace"], account["name"]) == (namespace, service_account_name(MODEL))
    assert plan.get(NAMESPACE, namespace).inputs["metadata"]["name"] == namespace


def test_service_account_carries_the_models_reader_role_for_irsa(real_plan):
    plan = real_plan("prod")
    account = obj(plan, SERVICE_ACCOUNT, service_account_name(MODEL))
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role == plan.outputs["readerRoleArns"][MODEL]
    assert pod_spec(plan)["serviceAccountName"] == account["metadata"]["name"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_kubernetes_object_has_one_name_in_plan_and_render(stack, real_plan):
    """`modelctl plan` shows a resource's Pulumi name, `modelctl render` its Kubernetes name: they are one."""
    plan = real_plan(stack)
    for manifest in render_manifests(plan):
        resource = next(r for r in plan.resources if r.urn == manifest.urn)
        assert resource.name == manifest.name, f"{manifest.kind}: plan says {resource.name}, render {manifest.name}"
        assert manifest.filename == f"{manifest.kind.lower()}-{manifest.name}.yaml"


def test_the_service_account_keeps_its_old_pulumi_name_as_an_alias(real_plan):
    """Stacks created when the ServiceAccount was named after the model move it, never replace it: a diff against
    a plan under the old name shows no change to it (as `pulumi preview` matches the alias)."""
    plan = real_plan("prod")
    account = plan.get(SERVICE_ACCOUNT, service_account_name(MODEL))
    old_urn = account.urn.rsplit("::", 1)[0] + f"::{MODEL}"
    assert account.aliases == [old_urn]
    before = copy.deepcopy(plan)
    renamed = next(r for r in before.resources if r.urn == account.urn)
    renamed.urn, renamed.name, renamed.aliases = old_urn, MODEL, []
    d = diff_plans(before, plan)
    assert (d.added, d.removed, d.changed) == ([], [], [])


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_serving_namespace_is_never_deleted_by_the_stack(stack, real_plan):
    """Deleting a Namespace deletes every Deployment in it: turning createNamespace off (or
    destroying the stack) must leave it in the cluster, and prod refuses to let go of it at all."""
    namespace = real_plan(stack).get(NAMESPACE, k8s_cfg(stack).get("namespace", "models"))
    assert namespace.options.get("retainOnDelete") is True
    assert namespace.options.get("protect", False) is (stack == "prod")


def test_existing_namespace_is_used_not_created(edited):
    plan = edited
    assert not plan.by_type(NAMESPACE)
    assert obj(plan, DEPLOYMENT)["metadata"]["namespace"] == "ml-serving"
    assert plan.outputs["servingEndpoints"][MODEL] == f"http://{MODEL}.ml-serving.svc.cluster.local:65327"


# --------------------------------------------------------------------------- the pod: fetch, verify, serve


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_init_container_fetches_this_versions_bundle_from_the_store(stack, real_plan):
    plan = real_plan(stack)
    fetch = container(plan, "fetch-bundle")
    values = env(fetch)
    cfg = model_cfg(stack)
    key = bundle_keys(MODEL, cfg["version"]).bundle
    assert values["BUNDLE_URI"] == f"s3://{plan.outputs['bucketName']}/{key}"
    assert values["BUNDLE_SHA256"] == cfg["bundleSha256"]
    images = k8s_cfg(stack).get("images", {})
    assert fetch["image"] == images.get("init", ImagesConfig().init)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_server_container_image_port_heap_and_resources(stack, real_plan):
    plan = real_plan(stack)
    server = container(plan, "mleap")
    images = k8s_cfg(stack).get("images", {})
    assert server["image"] == (model_cfg(stack)["serving"].get("image") or images.get("serving", ImagesConfig().serving))
    port = k8s_cfg(stack).get("servingPort", 65327)
    assert [p["containerPort"] for p in server["ports"]] == [port]
    assert any(o.startswith("-XX:MaxRAMPercentage=") for o in env(server)["JAVA_TOOL_OPTIONS"].split())
    wanted = model_cfg(stack)["serving"]["resources"]
    assert server["resources"]["requests"] == wanted["requests"]
    assert server["resources"]["limits"] == wanted["limits"]


def test_prod_serving_image_is_pinned_by_digest(real_plan):
    for c in pod_spec(real_plan("prod"))["initContainers"] + pod_spec(real_plan("prod"))["containers"]:
        assert "@sha256:" in c["image"], c["name"]


def test_model_specific_serving_image_overrides_the_default(edited):
    assert container(edited, "mleap")["image"] == EDITED[f"{M}.serving.image"]


def test_startup_timeout_is_configurable(edited):
    plan = edited
    startup = container(plan, "mleap")["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 900
    assert obj(plan, DEPLOYMENT)["spec"]["progressDeadlineSeconds"] == 1200


def test_rollout_deadline_shorter_than_startup_is_refused():
    with pytest.raises(ConfigError) as err:
        plan_with("staging", {f"{M}.serving.startupTimeoutSeconds": 600})
    assert f"{M}.serving.progressDeadlineSeconds" in str(err.value)


# --------------------------------------------------------------------------- rollouts


def test_replica_count_is_left_to_the_autoscaler(real_plan):
    plan = real_plan("prod")
    assert "replicas" not in obj(plan, DEPLOYMENT)["spec"]
    assert obj(plan, HPA)["spec"]["minReplicas"] == model_cfg("prod")["serving"]["replicas"]["min"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_pods_carry_recommended_labels_version_and_digest(stack, real_plan):
    plan = real_plan(stack)
    template = obj(plan, DEPLOYMENT)["spec"]["template"]["metadata"]
    cfg = model_cfg(stack)
    labels = template["labels"]
    assert labels["app.kubernetes.io/name"] == MODEL
    assert labels["app.kubernetes.io/version"] == cfg["version"]
    assert labels["app.kubernetes.io/part-of"] == "model-platform"
    assert labels["app.kubernetes.io/managed-by"] == "pulumi"
    assert cfg["bundleSha256"] in template["annotations"].values()
    assert cfg["version"] in template["annotations"].values()
    assert matches(obj(plan, DEPLOYMENT)["spec"]["selector"]["matchLabels"], labels)


def test_a_training_runs_version_is_the_pods_version_label_as_is():
    plan = plan_with("staging", RELEASED)
    template = obj(plan, DEPLOYMENT)["spec"]["template"]["metadata"]
    assert template["labels"]["app.kubernetes.io/version"] == RELEASED_VERSION
    assert RELEASED_VERSION in template["annotations"].values()


def test_a_version_that_is_no_label_value_never_reaches_the_cluster():
    with pytest.raises(ConfigError) as err:
        plan_with("staging", {f"{M}.version": "1.5.0+build.7"})
    assert f"{M}.version: '1.5.0+build.7' is not a model version" in str(err.value)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_version_bump_changes_only_the_pod_template(stack, real_plan):
    added, removed, changed = k8s_changes(real_plan(stack), plan_with(stack, RELEASED))
    assert not added and not removed
    assert list(changed) == [(DEPLOYMENT, MODEL)]
    paths = changed[(DEPLOYMENT, MODEL)]
    assert paths and all(p.startswith("spec.template.") for p in paths), paths


def test_version_bump_with_a_canary_leaves_the_canary_alone(with_canary):
    head = plan_with("staging", {f"{M}.canary": dict(CANDIDATE), f"{M}.version": "1.4.1", f"{M}.bundleSha256": "b" * 64})
    added, removed, changed = k8s_changes(with_canary, head)
    assert not added and not removed
    assert list(changed) == [(DEPLOYMENT, MODEL)]
    assert all(p.startswith("spec.template.") for p in changed[(DEPLOYMENT, MODEL)])


def test_new_candidate_changes_only_the_canary_pod_template(with_canary):
    head = plan_with("staging", {f"{M}.canary": {**CANDIDATE, "version": "1.6.0", "bundleSha256": "c" * 64}})
    added, removed, changed = k8s_changes(with_canary, head)
    assert not added and not removed
    assert list(changed) == [(DEPLOYMENT, f"{MODEL}-canary")]
    assert all(p.startswith("spec.template.") for p in changed[(DEPLOYMENT, f"{MODEL}-canary")])


# --------------------------------------------------------------------------- traffic, scaling, disruption


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_service_is_cluster_internal_and_reaches_the_pods(stack, real_plan):
    plan = real_plan(stack)
    spec = obj(plan, SERVICE)["spec"]
    port = k8s_cfg(stack).get("servingPort", 65327)
    assert spec["type"] == "ClusterIP"
    assert [p["port"] for p in spec["ports"]] == [port]
    assert matches(spec["selector"], obj(plan, DEPLOYMENT)["spec"]["template"]["metadata"]["labels"])
    namespace = k8s_cfg(stack).get("namespace", "models")
    assert plan.outputs["servingEndpoints"] == {MODEL: f"http://{MODEL}.{namespace}.svc.cluster.local:{port}"}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_autoscaler_follows_the_config(stack, real_plan):
    plan = real_plan(stack)
    spec = obj(plan, HPA)["spec"]
    serving = model_cfg(stack)["serving"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (serving["replicas"]["min"], serving["replicas"]["max"])
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": MODEL}
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": serving.get("targetCpuUtilization", 70)}
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == serving.get("scaleDownStabilizationSeconds", 300)


def test_disruption_budget_never_lets_a_drain_take_all_prod_pods(real_plan):
    plan = real_plan("prod")
    spec = obj(plan, PDB)["spec"]
    assert matches(spec["selector"]["matchLabels"], obj(plan, DEPLOYMENT)["spec"]["template"]["metadata"]["labels"])
    assert spec["maxUnavailable"] < model_cfg("prod")["serving"]["replicas"]["min"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_network_policy_admits_only_the_configured_namespaces_on_the_serving_port(stack, real_plan):
    plan = real_plan(stack)
    spec = obj(plan, NETWORK_POLICY)["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert matches(spec["podSelector"]["matchLabels"], obj(plan, DEPLOYMENT)["spec"]["template"]["metadata"]["labels"])
    (rule,) = spec["ingress"]
    assert [p["port"] for p in rule["ports"]] == [k8s_cfg(stack).get("servingPort", 65327)]
    (peer,) = rule["from"]
    (expr,) = peer["namespaceSelector"]["matchExpressions"]
    assert expr["key"] == "kubernetes.io/metadata.name" and expr["operator"] == "In"
    wanted = {k8s_cfg(stack).get("namespace", "models"), *k8s_cfg(stack).get("allowedNamespaces", [])}
    assert set(expr["values"]) == wanted
    assert "podSelector" not in peer


def test_each_object_attaches_its_document_built_from_the_models_config(edited):
    """The specs' rules are tested on the documents (tests/documents/); here, that the config reaches them."""
    plan = edited
    (peer, controller) = obj(plan, NETWORK_POLICY)["spec"]["ingress"][0]["from"]
    assert peer["podSelector"]["matchLabels"] == {"model-client": "true"}
    assert controller["namespaceSelector"]["matchExpressions"][0]["values"] == [INGRESS_CFG["controllerNamespace"]]
    assert obj(plan, HPA)["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 900
    (path,) = obj(plan, INGRESS)["spec"]["rules"][0]["http"]["paths"]
    assert (path["path"], path["pathType"]) == (f"/models/{MODEL}/transform", "Exact")
    spec = pod_spec(plan)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert all(c["securityContext"]["readOnlyRootFilesystem"] for c in spec["initContainers"] + spec["containers"])


def test_invalid_allowed_namespace_is_refused():
    with pytest.raises(ConfigError) as err:
        plan_with("staging", {f"{K8S}.allowedNamespaces": ["Pricing_API"]})
    assert f"{K8S}.allowedNamespaces" in str(err.value)


def test_no_ingress_unless_configured(real_plan):
    assert not real_plan("staging").by_type(INGRESS)
    assert not real_plan("prod").by_type(INGRESS)


def test_ingress_routes_its_host_to_the_service_and_the_controller_may_call_it(edited):
    ingress_cfg, plan = INGRESS_CFG, edited
    spec = obj(plan, INGRESS)["spec"]
    assert spec["ingressClassName"] == "alb"
    (rule,) = spec["rules"]
    assert rule["host"] == ingress_cfg["host"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == obj(plan, SERVICE)["metadata"]["name"]
    assert backend["port"] == {"name": obj(plan, SERVICE)["spec"]["ports"][0]["name"]}
    assert spec["tls"] == [{"hosts": [ingress_cfg["host"]], "secretName": "ml-tls"}]
    peers = obj(plan, NETWORK_POLICY)["spec"]["ingress"][0]["from"]
    admitted = {v for p in peers for e in p["namespaceSelector"]["matchExpressions"] for v in e["values"]}
    assert "kube-system" in admitted


def test_ingress_carries_the_controllers_annotations(edited):
    assert obj(edited, INGRESS)["metadata"]["annotations"] == INGRESS_ANNOTATIONS
    bad = {f"{M}.serving.ingress": {**INGRESS_CFG, "annotations": {"bad key!": "x"}}}
    with pytest.raises(ConfigError) as info:
        plan_with("staging", bad)
    assert any(p.startswith(f"{M}.serving.ingress.annotations: ") for p in info.value.problems), info.value.problems


# --------------------------------------------------------------------------- canary


def test_canary_is_a_second_deployment_behind_the_same_service(with_canary):
    plan = with_canary
    canary = obj(plan, DEPLOYMENT, f"{MODEL}-canary")
    stable = obj(plan, DEPLOYMENT)
    assert canary["spec"]["replicas"] == CANDIDATE["replicas"] == 2, "the configured count, not a default of 1"
    canary_pods = canary["spec"]["template"]["metadata"]["labels"]
    stable_pods = stable["spec"]["template"]["metadata"]["labels"]
    assert canary_pods["app.kubernetes.io/version"] == CANDIDATE["version"]
    assert env(container(plan, "fetch-bundle", f"{MODEL}-canary"))["BUNDLE_SHA256"] == CANDIDATE["bundleSha256"]
    assert CANDIDATE["version"] in env(container(plan, "fetch-bundle", f"{MODEL}-canary"))["BUNDLE_URI"]
    service_selector = obj(plan, SERVICE)["spec"]["selector"]
    assert matches(service_selector, canary_pods) and matches(service_selector, stable_pods)
    # Each Deployment owns only its own pods.
    assert not matches(stable["spec"]["selector"]["matchLabels"], canary_pods)
    assert not matches(canary["spec"]["selector"]["matchLabels"], stable_pods)
    # The autoscaler drives the stable Deployment only; the budget covers both.
    assert obj(plan, HPA)["spec"]["scaleTargetRef"]["name"] == MODEL
    assert matches(obj(plan, PDB)["spec"]["selector"]["matchLabels"], canary_pods)


def test_abandoning_a_canary_removes_only_its_deployment(with_canary, real_plan):
    added, removed, changed = k8s_changes(with_canary, real_plan("staging"))
    assert not added and not changed
    assert [(r.type, r.name) for r in removed] == [(DEPLOYMENT, f"{MODEL}-canary")]


def test_promoting_a_canary_rolls_the_stable_pods_to_the_candidate(with_canary):
    head = plan_with("staging", {f"{M}.version": CANDIDATE["version"], f"{M}.bundleSha256": CANDIDATE["bundleSha256"]})
    added, removed, changed = k8s_changes(with_canary, head)
    assert not added
    assert [(r.type, r.name) for r in removed] == [(DEPLOYMENT, f"{MODEL}-canary")]
    assert list(changed) == [(DEPLOYMENT, MODEL)]
    assert env(container(head, "fetch-bundle"))["BUNDLE_SHA256"] == CANDIDATE["bundleSha256"]


def test_canary_of_the_served_version_is_refused():
    with pytest.raises(ConfigError) as err:
        plan_with("staging", {f"{M}.canary": {**CANDIDATE, "version": model_cfg("staging")["version"]}})
    assert f"{M}.canary.version" in str(err.value)


# --------------------------------------------------------------------------- several models


def test_two_models_get_two_isolated_sets_of_objects():
    plan = plan_with("staging", models=TWO_MODELS)
    names = {}
    for model in ("days-to-sell", "price-band"):
        owned = [r for r in kube(plan) if r.inputs["metadata"].get("labels", {}).get("app.kubernetes.io/name") == model]
        names[model] = {(r.type, r.inputs["metadata"]["name"]) for r in owned}
        assert {t for t, _ in names[model]} == {DEPLOYMENT, SERVICE, SERVICE_ACCOUNT, HPA, PDB, NETWORK_POLICY}
    assert not names["days-to-sell"] & names["price-band"]
    pods_b = obj(plan, DEPLOYMENT, "price-band")["spec"]["template"]["metadata"]["labels"]
    selectors = {
        SERVICE: obj(plan, SERVICE, "days-to-sell")["spec"]["selector"],
        PDB: obj(plan, PDB, "days-to-sell")["spec"]["selector"]["matchLabels"],
        NETWORK_POLICY: obj(plan, NETWORK_POLICY, "days-to-sell")["spec"]["podSelector"]["matchLabels"],
    }
    for type_, selector in selectors.items():
        assert not matches(selector, pods_b), f"{type_} of days-to-sell selects price-band's pods"
    assert pod_spec(plan, "price-band")["serviceAccountName"] == service_account_name("price-band")
    assert set(plan.outputs["servingEndpoints"]) == {"days-to-sell", "price-band"}


def test_adding_a_model_leaves_the_other_models_objects_untouched(real_plan):
    assert list(stack_doc("staging")["config"]["model-platform:models"]) == ["days-to-sell"]
    base = real_plan("staging")
    head = plan_with("staging", models=TWO_MODELS)
    added, removed, changed = k8s_changes(base, head)
    assert not removed and not changed
    assert {r.inputs["metadata"]["labels"]["app.kubernetes.io/name"] for r in added} == {"price-band"}

