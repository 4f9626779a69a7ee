"""Providers: a stack deploys to its own cluster, whatever kube context happens to be current."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

import infra.providers
from infra.program import build, load_config
from infra.stack_source import StackFile
from modelctl.engine import Plan, plan_stack_file
from tests.conftest import plan_doc, set_path, stack_doc

K8S_PROVIDER = "pulumi:providers:kubernetes"
K8S = "model-platform:kubernetes"


def kube_provider(plan: Plan) -> dict[str, Any]:
    return plan.get(K8S_PROVIDER, "kubernetes").inputs


def kubeconfig(plan: Plan) -> dict[str, Any]:
    return json.loads(kube_provider(plan)["kubeconfig"])


def active(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster and user the kubeconfig's current context selects, as a client resolves them."""
    (context,) = [c["context"] for c in config["contexts"] if c["name"] == config["current-context"]]
    (cluster,) = [c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"]]
    (user,) = [u["user"] for u in config["users"] if u["name"] == context["user"]]
    return cluster, user


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_kubeconfig_targets_the_configured_eks_cluster_with_short_lived_tokens(stack, real_plan):
    config = stack_doc(stack)["config"]
    name, region = config[K8S]["clusterName"], config["model-platform:aws"]["region"]
    plan = real_plan(stack)
    assert "context" not in kube_provider(plan), "the ambient current context must not decide the cluster"
    cluster, user = active(kubeconfig(plan))
    assert cluster["server"].startswith("https://") and f".{region}.eks.amazonaws.com" in cluster["server"]
    assert cluster["certificate-authority-data"]
    assert set(user) == {"exec"}, "no static token, password or client key in the state"
    exec_ = user["exec"]
    assert exec_["command"] == "aws" and exec_["args"][:2] == ["eks", "get-token"]
    assert option(exec_["args"], "--cluster-name") == name
    assert option(exec_["args"], "--region") == region
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"


def test_cluster_is_looked_up_through_the_stacks_aws_provider(monkeypatch):
    """So the lookup honours the stack's region and allowed account, not ambient AWS settings."""
    lookups: list[tuple[Any, Any]] = []
    real = infra.providers.aws.eks.get_cluster_output

    def spy(**kwargs: Any):
        lookups.append((kwargs["name"], kwargs["opts"].provider))
        return real(**kwargs)

    monkeypatch.setattr(infra.providers.aws.eks, "get_cluster_output", spy)
    made: list[infra.providers.Providers] = []

    def keep(cfg: Any) -> infra.providers.Providers:
        made.append(infra.providers.make_providers(cfg))
        return made[-1]

    monkeypatch.setattr("infra.program.make_providers", keep)
    stack_file = StackFile.from_document(stack_doc("prod"), "stacks/Pulumi.prod.yaml")
    plan_stack_file(stack_file, "prod", program=lambda: build(load_config()))
    (providers,) = made
    assert lookups == [(stack_doc("prod")["config"][K8S]["clusterName"], providers.aws)]


def test_a_named_context_overrides_the_generated_kubeconfig(renamed):
    """``renamed`` names a context (and renames objects, which the provider does not read)."""
    inputs = kube_provider(renamed)
    assert inputs["context"] == "kind-models"
    assert "kubeconfig" not in inputs


@pytest.mark.parametrize("context", [None, "kind-models"])
def test_provider_is_identified_by_the_cluster_name(context, real_plan, renamed):
    """A changed kubeconfig (rotated CA, context switched on or off) updates the provider; it never
    replaces it, which would recreate every Kubernetes object of the stack."""
    plan = renamed if context else real_plan("staging")
    assert kube_provider(plan).get("context") == context
    assert kube_provider(plan)["clusterIdentifier"] == stack_doc("staging")["config"][K8S]["clusterName"]


def test_kubernetes_objects_use_the_explicit_provider(real_plan):
    plan = real_plan("staging")
    provider = plan.get(K8S_PROVIDER, "kubernetes").urn
    objects = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")]
    assert objects and all(r.options.get("provider") == provider for r in objects)


# --------------------------------------------------------------------------- explicit providers, default tags

PACKAGES = ("aws", "kubernetes", "databricks")


def every_feature(stack: str) -> dict[str, Any]:
    """A stack document that declares every optional resource kind: the Kubernetes backend (Secret and ConfigMap),
    a canary, an Ingress, a KMS-encrypted store, the discovery cluster and a cross-account pass-role grant."""
    doc = stack_doc(stack)
    set_path(doc, "model-platform:airflow.backend", "kubernetes-secret")
    doc["config"]["model-platform:airflow"]["dags"].pop("bucket", None)
    set_path(doc, "model-platform:bundleStore.encryption", "sse-kms")
    set_path(doc, "model-platform:databricks.discoveryCluster.enabled", True)
    set_path(doc, "model-platform:databricks.crossAccountRoleName", "databricks-cross-account")
    model = "model-platform:models.days-to-sell"
    set_path(doc, f"{model}.serving.ingress", {"host": "days-to-sell.example.com"})
    set_path(doc, f"{model}.canary", {"version": "9.9.9", "bundleSha256": "a" * 64})
    return doc


@functools.lru_cache(maxsize=None)
def every_feature_plan(stack: str) -> Plan:
    return plan_doc(every_feature(stack), stack)


@pytest.mark.parametrize("stack", ["staging", "prod"])
@pytest.mark.parametrize("variant", ["committed", "every-feature"])
def test_every_resource_names_its_explicit_provider(stack, variant, real_plan):
    """With ``pulumi:disable-default-providers``, a resource without an explicit provider fails to deploy; none has one
    missing, in any variant of the stack, and each names the stack's provider of its own package.

    The committed stack files disable the default providers themselves (so their plan is the defaults-disabled one)."""
    assert stack_doc(stack)["config"]["pulumi:disable-default-providers"] == ["*"]
    plan = real_plan(stack) if variant == "committed" else every_feature_plan(stack)
    providers = {p.type.split(":")[2]: p.urn for p in plan.resources if p.type.startswith("pulumi:providers:")}
    assert set(providers) == set(PACKAGES)
    resources = [r for r in plan.to_json(full=True)["resources"] if r["custom"] and not r["type"].startswith("pulumi:")]
    assert {r["type"].split(":")[0] for r in resources} == set(PACKAGES)
    for r in resources:
        assert r["options"].get("provider") == providers[r["type"].split(":")[0]], r["urn"]


def provider_tags(plan: Plan) -> dict[str, str]:
    raw = plan.get("pulumi:providers:aws", "aws").inputs["defaultTags"]
    return (json.loads(raw) if isinstance(raw, str) else raw)["tags"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_stacks_aws_tags_come_from_the_providers_default_tags(stack, real_plan):
    """Every taggable AWS resource gets the platform's and the organisation's tags once, from the provider;
    a resource's own tags only add its model."""
    plan = real_plan(stack)
    tags = provider_tags(plan)
    organisation = stack_doc(stack)["config"].get("model-platform:tags", {})
    assert tags == {**organisation, "project": "model-platform", "environment": stack, "managed-by": "pulumi"}
    own = {r.name: r.inputs["tags"] for r in plan.resources if r.type.startswith("aws:") and r.inputs.get("tags")}
    assert own and all(set(t) == {"model"} for t in own.values()), own
    assert all(t["model"] in r for r, t in own.items()), "a model's tag names the model its resource is named after"


# --------------------------------------------------------------------------- logical names never follow config

RENAMES = [
    ("serving namespace", "kubernetes:core/v1:Namespace", "models", f"{K8S}.namespace", "serving"),
    ("Airflow Secret", "kubernetes:core/v1:Secret", "airflow-connections", "model-platform:airflow.secretName", "airflow-env"),
    ("DAG ConfigMap", "kubernetes:core/v1:ConfigMap", "model-platform-dags", "model-platform:airflow.dags.configMap", "dags"),
]


@pytest.fixture(scope="module")
def renamed() -> Plan:
    """Staging's ``every_feature`` with every object of ``RENAMES`` renamed and a named kube context, planned once:
    each edit is to its own key and object (the provider's context names no object)."""
    doc = every_feature("staging")
    for *_, key, value in RENAMES:
        set_path(doc, key, value)
    set_path(doc, f"{K8S}.context", "kind-models")
    return plan_doc(doc, "staging")


@pytest.mark.parametrize("what,type_,logical,key,value", RENAMES, ids=[r[0] for r in RENAMES])
def test_renaming_an_object_in_config_moves_nothing(what, type_, logical, key, value, renamed):
    """The logical name is fixed: a renamed object keeps its URN (the provider decides what the new name needs),
    and a stack created when the logical name followed the config value sees a move (an alias), not a replacement."""
    before = every_feature_plan("staging").get(type_, logical)
    after = renamed.get(type_, logical)
    assert after.urn == before.urn and before.aliases == []
    assert after.inputs["metadata"]["name"] == value
    assert after.aliases == [before.urn.rsplit("::", 1)[0] + f"::{value}"]
