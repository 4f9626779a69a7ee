"""Providers: a stack deploys to its own cluster, whatever kube context happens to be current."""

from __future__ import annotations

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
def test_kubeconfig_targets_the_configured_eks_cluster_with_short_lived_tokens(stack, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    config = stack_doc(stack)["config"]
    name, region = config[K8S]["clusterName"], config["model-platform:aws"]["region"]
    plan = plan_doc(stack_doc(stack), stack)
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


def test_a_named_context_overrides_the_generated_kubeconfig(monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    plan = plan_doc(set_path(stack_doc("staging"), f"{K8S}.context", "kind-models"), "staging")
    inputs = kube_provider(plan)
    assert inputs["context"] == "kind-models"
    assert "kubeconfig" not in inputs


@pytest.mark.parametrize("context", [None, "kind-models"])
def test_provider_is_identified_by_the_cluster_name(context):
    """A changed kubeconfig (rotated CA, context switched on or off) updates the provider; it never
    replaces it, which would recreate every Kubernetes object of the stack."""
    doc = stack_doc("staging")
    if context:
        set_path(doc, f"{K8S}.context", context)
    plan = plan_doc(doc, "staging")
    assert kube_provider(plan)["clusterIdentifier"] == doc["config"][K8S]["clusterName"]


def test_kubernetes_objects_use_the_explicit_provider(real_plan):
    plan = real_plan("staging")
    provider = plan.get(K8S_PROVIDER, "kubernetes").urn
    objects = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")]
    assert objects and all(r.options.get("provider") == provider for r in objects)
