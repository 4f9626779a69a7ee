"""aws-tags and k8s-labels, called directly; and the untaggable list checked against the installed AWS SDK."""

from __future__ import annotations

import importlib

import pytest


from model_platform_policy import tags  # noqa: E402
from model_platform_policy import types as t  # noqa: E402
from model_platform_policy.testing import resource, violations  # noqa: E402

TAGS = {
    "project": "model-platform",
    "environment": "prod",
    "managed-by": "pulumi",
    "team": "pricing",
    "cost-centre": "cc-1",
}
LABELS = {
    "app.kubernetes.io/part-of": "model-platform",
    "app.kubernetes.io/managed-by": "pulumi",
    "model-platform/environment": "prod",
}


def test_a_fully_tagged_aws_resource_passes():
    assert violations(tags.aws_tagged, resource(t.BUCKET, {"bucket": "b", "tags": TAGS})) == []


@pytest.mark.parametrize(
    "props", [{}, {"tags": {**TAGS, "team": ""}}, {"tags": {k: v for k, v in TAGS.items() if k != "cost-centre"}}]
)
def test_an_aws_resource_missing_a_tag_fails(props):
    found = violations(tags.aws_tagged, resource(t.IAM_ROLE, props))
    assert len(found) == 1 and "missing or empty" in found[0]


def test_required_tags_come_from_the_policy_config():
    assert (
        violations(tags.aws_tagged, resource(t.IAM_ROLE, {"tags": {"project": "x"}}), {"requiredTags": ["project"]})
        == []
    )


def test_untaggable_types_providers_and_components_are_not_judged():
    for type_ in (t.BUCKET_VERSIONING, "pulumi:providers:aws", "model-platform:storage:BundleStore"):
        assert violations(tags.aws_tagged, resource(type_, {})) == []


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
