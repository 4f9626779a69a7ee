"""Tags on every AWS resource and labels on every Kubernetes object (and pod template).

Cost reports, ownership and clean-up all start from the platform's own tags
(``infra.contract.naming.aws_tags``): ``project``, ``environment``, ``managed-by``,
and ``model`` on a model's own resources. The pack requires those always,
since every stack gets them; the tags an organisation adds through the
optional ``model-platform:tags`` (team, cost-centre, ...) are required only
when the policy config names them (``aws-tags.requiredTags``), so a stack the
config accepts is never refused for leaving an optional key out.
An AWS resource's tags are its AWS provider's ``default_tags`` overlaid with
its own (``default_tags``), as AWS holds them. Kubernetes objects carry the
recommended ``app.kubernetes.io/*`` labels (``infra.contract.naming.k8s_labels``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.contract.naming import MODEL_TAG, REQUIRED_LABELS, STACK_TAG_KEYS
from model_platform_policy import stack_config
from model_platform_policy import types as t
from model_platform_policy.default_tags import effective_tags
from model_platform_policy.k8s_pods import pod_templates
from model_platform_policy.rules import Config, resource_policy, strings
from model_platform_policy.stack_keys import key_hint
from model_platform_policy.values import get, mapping, show

#: Tags infra.contract.naming.aws_tags puts on every AWS resource of every stack.
PLATFORM_TAGS = STACK_TAG_KEYS

#: AWS types whose API has no tags (configuration attached to a tagged parent).
UNTAGGABLE_AWS = frozenset(
    {
        t.BUCKET_VERSIONING,
        t.BUCKET_VERSIONING_V2,
        t.BUCKET_ENCRYPTION,
        t.BUCKET_ENCRYPTION_V2,
        t.BUCKET_PUBLIC_ACCESS_BLOCK,
        t.BUCKET_POLICY,
        t.BUCKET_LIFECYCLE,
        t.BUCKET_LIFECYCLE_V2,
        t.BUCKET_OWNERSHIP,
        t.BUCKET_ACL,
        t.BUCKET_ACL_V2,
        "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketNotification:BucketNotification",
        t.IAM_ROLE_POLICY,
        t.IAM_ROLE_POLICY_ATTACHMENT,
        t.IAM_USER_POLICY,
        t.IAM_USER_POLICY_ATTACHMENT,
        t.IAM_GROUP_POLICY,
        t.IAM_GROUP_POLICY_ATTACHMENT,
        t.IAM_POLICY_ATTACHMENT,
        t.IAM_ROLE_POLICY_ATTACHMENTS_EXCLUSIVE,
        t.IAM_USER_POLICY_ATTACHMENTS_EXCLUSIVE,
        t.IAM_GROUP_POLICY_ATTACHMENTS_EXCLUSIVE,
        t.KMS_KEY_POLICY,
        "aws:kms/alias:Alias",
        "aws:kms/grant:Grant",
        t.SM_SECRET_VERSION,
        "aws:secretsmanager/secretPolicy:SecretPolicy",
        "aws:secretsmanager/secretRotation:SecretRotation",
    }
)


def missing_keys(found: Any, required: list[str]) -> list[str]:
    present = mapping(found)
    return [k for k in required if not present.get(k)]


def models_named_in(logical_name: str, models: Iterable[str]) -> list[str]:
    """The models whose name is a whole dash-separated run of ``logical_name`` (``variable-days-to-sell-version``).

    Logical names of per-model resources derive from the model name
    (infra.contract.naming), which is how a rule tells them from shared ones.
    """
    padded = f"-{logical_name}-"
    return [m for m in models if f"-{m}-" in padded]


def _tags_hint(args: ResourceValidationArgs, missing: list[str]) -> str:
    """The organisation's tags come from the stack file's model-platform:tags; the platform's are the program's."""
    if any(k in PLATFORM_TAGS or k == MODEL_TAG for k in missing):
        return ""
    return key_hint(args, "tags")


def _aws_tags(args: ResourceValidationArgs, report: ReportViolation, config: Config) -> None:
    found = effective_tags(args.props, args.provider)
    required = [*PLATFORM_TAGS, *(k for k in config["requiredTags"] if k not in PLATFORM_TAGS)]
    missing = missing_keys(found, required)
    if missing:
        report(f"tags {missing} are missing or empty{_tags_hint(args, missing)}")
    owners = models_named_in(args.name, stack_config.stack_object("models"))
    if owners and get(found, MODEL_TAG) not in owners:
        report(
            f"tag {MODEL_TAG!r} is {show(get(found, MODEL_TAG))}, not the model it belongs to ({' or '.join(owners)})"
        )


aws_tagged = resource_policy(
    "aws-tags",
    "Every taggable AWS resource carries the platform's tags (project, environment, managed-by; model on a model's "
    "own resources), plus the keys the policy config's requiredTags names (an organisation's team, cost-centre, "
    "...), which cost reports and ownership rely on. Fix: declare the resource with the stack's AWS provider, whose "
    "default_tags carry the platform's tags (infra.contract.naming.aws_tags), and set the organisation's tags under "
    "model-platform:tags in the stack file.",
    _aws_tags,
    types=lambda resource_type: resource_type.startswith("aws:") and resource_type not in UNTAGGABLE_AWS,
    hints=["tags"],
    settings=[
        strings(
            "requiredTags",
            [],
            "Tag keys every taggable AWS resource must carry (non-empty) besides the platform's project, environment, "
            "managed-by and model: the organisation's own (e.g. team, cost-centre), set in model-platform:tags.",
        )
    ],
)


def _k8s_labels(args: ResourceValidationArgs, report: ReportViolation, config: Config) -> None:
    if not isinstance(args.props, Mapping) or "kind" not in args.props:
        return  # a component (yaml, helm), not an object
    required = list(config["requiredLabels"])
    missing = missing_keys(get(args.props, "metadata", "labels"), required)
    if missing:
        report(f"metadata.labels {missing} are missing or empty")
    for pod in pod_templates(args.resource_type, args.props):
        if pod.partial or pod.where == "spec":
            continue  # a Patch sets only what it changes; a Pod's labels are its metadata's
        missing = missing_keys(get(pod.metadata, "labels"), required)
        if missing:
            report(f"pod template labels {missing} are missing or empty")


k8s_labelled = resource_policy(
    "k8s-labels",
    "Every Kubernetes object, and every pod template, carries the recommended labels (app.kubernetes.io/part-of, "
    "app.kubernetes.io/managed-by, model-platform/environment, ...), which selectors, dashboards and clean-up rely "
    "on. Fix: set metadata.labels (and the pod template's) from infra.contract.naming.k8s_labels.",
    _k8s_labels,
    types=lambda resource_type: resource_type.startswith("kubernetes:"),
    settings=[
        strings(
            "requiredLabels",
            REQUIRED_LABELS,
            "Label keys every Kubernetes object and pod template must carry (non-empty).",
        )
    ],
)

POLICIES = [aws_tagged, k8s_labelled]
