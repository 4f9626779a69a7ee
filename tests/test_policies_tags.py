"""aws-tags and k8s-labels, called directly; and the untaggable list checked against the installed AWS SDK."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest


from model_platform_policy import stack_config, tags  # noqa: E402
from model_platform_policy import types as t  # noqa: E402
from model_platform_policy.testing import provider, resource, violations  # noqa: E402
from modelctl.check import wire_value
from tests.conftest import stack_doc

#: What infra.naming.aws_tags gives every resource of a stack without model-platform:tags.
TAGS = {"project": "model-platform", "environment": "prod", "managed-by": "pulumi"}
PACK = Path(tags.__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def stack_models(monkeypatch) -> dict[str, Any]:
    """The stack config's ``model-platform:models`` the rule reads to tell per-model resources."""
    values: dict[str, Any] = {"days-to-sell": {}}
    monkeypatch.setattr(stack_config, "stack_object", lambda key: values if key == "models" else {})
    return values


LABELS = {
    "app.kubernetes.io/part-of": "model-platform",
    "app.kubernetes.io/managed-by": "pulumi",
    "model-platform/environment": "prod",
}


def test_a_fully_tagged_aws_resource_passes():
    assert violations(tags.aws_tagged, resource(t.BUCKET, {"bucket": "b", "tags": TAGS})) == []


@pytest.mark.parametrize(
    "props", [{}, {"tags": {**TAGS, "environment": ""}}, {"tags": {k: v for k, v in TAGS.items() if k != "managed-by"}}]
)
def test_an_aws_resource_missing_a_platform_tag_fails(props):
    found = violations(tags.aws_tagged, resource(t.IAM_ROLE, props))
    assert len(found) == 1 and "missing or empty" in found[0]


def test_a_stack_without_organisation_tags_passes_the_shipped_configs():
    """model-platform:tags is optional in config, so the pack does not demand team or cost-centre by default."""
    for environment in ("staging", "prod"):
        shipped = json.loads((PACK / f"{environment}.json").read_text())["aws-tags"]
        assert violations(tags.aws_tagged, resource(t.IAM_ROLE, {"tags": TAGS}), shipped) == []
    assert violations(tags.aws_tagged, resource(t.IAM_ROLE, {"tags": TAGS})) == []


def test_an_organisations_required_tags_come_from_the_policy_config():
    config = {"requiredTags": ["team", "cost-centre"]}
    found = violations(tags.aws_tagged, resource(t.IAM_ROLE, {"tags": {**TAGS, "team": "pricing"}}), config)
    assert found == ["tags ['cost-centre'] are missing or empty (stack file: model-platform:tags)"]
    assert (
        violations(tags.aws_tagged, resource(t.IAM_ROLE, {"tags": {**TAGS, "team": "p", "cost-centre": "c"}}), config)
        == []
    )


def test_the_policy_config_cannot_drop_the_platform_tags():
    found = violations(tags.aws_tagged, resource(t.IAM_ROLE, {"tags": {"project": "x"}}), {"requiredTags": ["project"]})
    assert found == ["tags ['environment', 'managed-by'] are missing or empty"]


@pytest.mark.parametrize("name", ["days-to-sell-reader", "variable-days-to-sell-version"])
def test_a_models_own_resources_carry_its_model_tag(name):
    assert (
        violations(tags.aws_tagged, resource(t.IAM_ROLE, {"tags": {**TAGS, "model": "days-to-sell"}}, name=name)) == []
    )
    assert violations(tags.aws_tagged, resource(t.IAM_ROLE, {"tags": TAGS}, name=name)) == [
        "tag 'model' is unset, not the model it belongs to (days-to-sell)"
    ]
    wrong = resource(t.IAM_ROLE, {"tags": {**TAGS, "model": "price"}}, name=name)
    assert violations(tags.aws_tagged, wrong) == ["tag 'model' is 'price', not the model it belongs to (days-to-sell)"]


def test_shared_resources_need_no_model_tag():
    for name in ("bundle-store-bucket", "secrets-reader", "training-instance-profile-role"):
        assert violations(tags.aws_tagged, resource(t.IAM_ROLE, {"tags": TAGS}, name=name)) == []


def _aws_provider(default_tags: Any):
    """An AWS provider with ``default_tags`` as the engine hands its inputs over: structured values as JSON text."""
    return provider("aws", {"region": "eu-west-2", "defaultTags": json.dumps({"tags": default_tags})})


def test_the_providers_default_tags_count_and_the_resources_own_win():
    aws = _aws_provider(TAGS)
    assert violations(tags.aws_tagged, resource(t.IAM_ROLE, {}, provider=aws)) == []
    no_defaults = provider("aws", {"region": "eu-west-2"})
    assert violations(tags.aws_tagged, resource(t.IAM_ROLE, {}, provider=no_defaults)) == [
        "tags ['project', 'environment', 'managed-by'] are missing or empty"
    ]
    emptied = resource(t.IAM_ROLE, {"tags": {"project": ""}}, provider=aws)
    assert violations(tags.aws_tagged, emptied) == ["tags ['project'] are missing or empty"]


def test_a_non_aws_providers_tags_do_not_count():
    other = provider("databricks", {"defaultTags": json.dumps({"tags": TAGS})})
    assert violations(tags.aws_tagged, resource(t.IAM_ROLE, {}, provider=other)) == [
        "tags ['project', 'environment', 'managed-by'] are missing or empty"
    ]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_committed_stacks_aws_resources_pass(real_plan, stack, stack_models):
    stack_models.update(stack_doc(stack)["config"]["model-platform:models"])
    plan = real_plan(stack)
    providers = {
        r.urn: provider(r.type.rsplit(":", 1)[1], wire_value(r.inputs), name=r.name)
        for r in plan.resources
        if r.type.startswith("pulumi:providers:")
    }
    (aws,) = [p for p in providers.values() if p.resource_type == "pulumi:providers:aws"]
    checked = [r for r in plan.resources if r.type.startswith("aws:")]
    assert any(r.inputs.get("tags", {}).get("model") for r in checked)
    for r in checked:
        subject = resource(r.type, wire_value(r.inputs), name=r.name, provider=aws)
        assert violations(tags.aws_tagged, subject) == [], r.name


def _sdk_class(token: str):
    """The pulumi-aws resource class of a type token such as ``aws:s3/bucketPolicy:BucketPolicy``."""
    module = token.split(":")[1].split("/")[0]
    return getattr(importlib.import_module(f"pulumi_aws.{module}"), token.rsplit(":", 1)[1])


@pytest.mark.parametrize("token", sorted(tags.UNTAGGABLE_AWS))
def test_every_type_called_untaggable_has_no_tags_in_the_sdk(token):
    assert not hasattr(_sdk_class(token), "tags")


def test_every_other_aws_type_the_stacks_declare_is_taggable(real_plan):
    declared = {
        r.type for stack in ("staging", "prod") for r in real_plan(stack).resources if r.type.startswith("aws:")
    }
    for token in declared - tags.UNTAGGABLE_AWS:
        assert hasattr(_sdk_class(token), "tags"), f"{token} has no tags: add it to UNTAGGABLE_AWS"


def deployment(metadata_labels: dict, template_labels: dict):
    props = {
        "kind": "Deployment",
        "metadata": {"name": "m", "labels": metadata_labels},
        "spec": {"template": {"metadata": {"labels": template_labels}}},
    }
    return resource(t.K8S_DEPLOYMENT, props)


def test_a_labelled_object_and_pod_template_pass():
    assert violations(tags.k8s_labelled, deployment(LABELS, LABELS)) == []


def test_an_unlabelled_object_or_pod_template_fails():
    unlabelled = {k: v for k, v in LABELS.items() if k != "model-platform/environment"}
    assert violations(tags.k8s_labelled, deployment(unlabelled, LABELS)) == [
        "metadata.labels ['model-platform/environment'] are missing or empty"
    ]
    assert violations(tags.k8s_labelled, deployment(LABELS, {})) == [
        f"pod template labels {list(LABELS)} are missing or empty"
    ]


def test_kubernetes_components_without_a_kind_are_not_objects():
    assert violations(tags.k8s_labelled, resource("kubernetes:yaml:ConfigGroup", {"files": ["x.yaml"]})) == []
