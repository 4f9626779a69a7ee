"""S3: every bucket versioned, encrypted, private, TLS-only, expiring old versions; prod buckets protected.

pulumi-aws v7 declares these as side resources (``BucketVersioning``,
``BucketServerSideEncryptionConfiguration``, ...) next to the bucket, so the
rules are stack policies that join each side resource to its bucket: by the
engine's property dependency on ``bucket`` when it is known (the CLI), else by
the bucket name the side resource names (known in preview for named buckets).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Callable, Optional

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from model_platform_policy import stack_config
from model_platform_policy import types as t
from model_platform_policy.iam import Statement, statements_of
from model_platform_policy.rules import Config, flag, resource_policy, stack_policy
from model_platform_policy.values import get, items, json_document, mapping

PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
#: The AWS-managed key: anyone in the account with s3 access can use it, so it is no KMS protection.
AWS_MANAGED_S3_KEY = re.compile(r"(^|/)alias/aws/s3$")


def bucket_name(bucket: PolicyResource) -> Optional[str]:
    return get(bucket.props, "bucket")


def attached(resources: list[PolicyResource], bucket: PolicyResource, side_type: str) -> list[PolicyResource]:
    """The side resources of ``side_type`` that configure ``bucket``."""
    name = bucket_name(bucket)
    found = []
    for r in resources:
        if r.resource_type != side_type:
            continue
        depends = any(d.urn == bucket.urn for d in r.property_dependencies.get("bucket", []))
        if depends or (name is not None and get(r.props, "bucket") == name):
            found.append(r)
    return found


def _each_bucket(
    judge: Callable[[PolicyResource, list[PolicyResource], Config], Optional[str]],
) -> Callable[[StackValidationArgs, ReportViolation, Config], None]:
    """A stack check reporting ``judge(bucket, resources, config)`` (a problem, or None) against each bucket."""

    def check(args: StackValidationArgs, report: ReportViolation, config: Config) -> None:
        for bucket in args.resources:
            if bucket.resource_type == t.BUCKET:
                problem = judge(bucket, args.resources, config)
                if problem:
                    report(f"bucket {bucket_name(bucket) or bucket.name!r}: {problem}", bucket.urn)

    return check


# --------------------------------------------------------------------------- versioning


def _versioning_problem(bucket: PolicyResource, resources: list[PolicyResource], _: Config) -> Optional[str]:
    side = attached(resources, bucket, t.BUCKET_VERSIONING)
    if not side:
        return "no BucketVersioning configures it"
    statuses = [get(r.props, "versioningConfiguration", "status") for r in side]
    if "Enabled" not in statuses:
        return f"versioning status is {statuses[0]!r}, not 'Enabled'"
    return None


bucket_versioned = stack_policy(
    "s3-bucket-versioned",
    "Every S3 bucket is versioned, so an overwritten or deleted MLeap bundle can be recovered. Fix: declare an "
    "aws.s3.BucketVersioning for the bucket with versioning_configuration.status='Enabled' (pulumi-aws v7 side "
    "resource; the bucket's inline 'versioning' argument is deprecated).",
    _each_bucket(_versioning_problem),
)


# --------------------------------------------------------------------------- encryption


def kms_required_by(config: Config) -> Optional[str]:
    """Who requires SSE-KMS here: the environment's policy config, or the stack's own bundleStore.encryption."""
    if config["requireKms"]:
        return "this environment requires"
    if stack_config.stack_object("bundleStore").get("encryption") == "sse-kms":
        return "the stack config asks for (bundleStore.encryption: sse-kms)"
    return None


def _encryption_problem(bucket: PolicyResource, resources: list[PolicyResource], config: Config) -> Optional[str]:
    side = attached(resources, bucket, t.BUCKET_ENCRYPTION)
    defaults = [
        mapping(get(rule, "applyServerSideEncryptionByDefault")) for r in side for rule in items(get(r.props, "rules"))
    ]
    algorithms = {get(d, "sseAlgorithm") for d in defaults}
    if not algorithms & SSE_ALGORITHMS:
        return "no BucketServerSideEncryptionConfiguration sets a default encryption (AES256 or aws:kms)"
    required_by = kms_required_by(config)
    if required_by:
        keys = [get(d, "kmsMasterKeyId") for d in defaults if get(d, "sseAlgorithm") in KMS_ALGORITHMS]
        if not keys:
            return f"default encryption is not SSE-KMS, which {required_by}"
        if not any(k and not AWS_MANAGED_S3_KEY.search(str(k)) for k in keys):
            return "SSE-KMS uses the AWS-managed key (no kmsMasterKeyId); name a customer-managed key"
    return None


bucket_encrypted = stack_policy(
    "s3-bucket-encrypted",
    "Every S3 bucket has default server-side encryption; where the environment requires it (requireKms) or the "
    "stack config asks for it (bundleStore.encryption: sse-kms), SSE-KMS with a customer-managed key. Fix: declare "
    "an aws.s3.BucketServerSideEncryptionConfiguration for the bucket (sse_algorithm 'AES256', or 'aws:kms' with "
    "kms_master_key_id); for KMS set bundleStore.encryption: sse-kms.",
    _each_bucket(_encryption_problem),
    settings=[
        flag(
            "requireKms",
            True,
            "Require SSE-KMS with a customer-managed key (not SSE-S3); a stack whose bundleStore.encryption is "
            "sse-kms is held to it either way.",
        )
    ],
)


# --------------------------------------------------------------------------- public access


def _public_access_problem(bucket: PolicyResource, resources: list[PolicyResource], _: Config) -> Optional[str]:
    acls = [get(bucket.props, "acl")] + [get(r.props, "acl") for r in attached(resources, bucket, t.BUCKET_ACL)]
    public = sorted({a for a in acls if a in PUBLIC_CANNED_ACLS})
    if public:
        return f"canned ACL {public[0]!r} grants public access"
    blocks = attached(resources, bucket, t.BUCKET_PUBLIC_ACCESS_BLOCK)
    if not blocks:
        return "no BucketPublicAccessBlock configures it"
    missing = [f for f in PUBLIC_ACCESS_FLAGS if not all(get(b.props, f) is True for b in blocks)]
    if missing:
        return f"the public access block leaves {', '.join(missing)} unset or false"
    return None


public_access_blocked = stack_policy(
    "s3-public-access-blocked",
    "Every S3 bucket blocks all public access: a public bundle bucket leaks every model. Fix: declare an "
    "aws.s3.BucketPublicAccessBlock for the bucket with block_public_acls, block_public_policy, ignore_public_acls "
    "and restrict_public_buckets all True, and never give it a public canned ACL.",
    _each_bucket(_public_access_problem),
)


# --------------------------------------------------------------------------- TLS only


def _covers(resources: list[str], name: str) -> bool:
    """Whether ``resources`` name both the bucket and every object in it."""
    arn = re.compile(rf"^arn:aws[a-z-]*:s3:::{re.escape(name)}(/\*)?$")
    found = {
        "*" if r == "*" else ("objects" if r.endswith("/*") else "bucket")
        for r in resources
        if r == "*" or arn.match(r)
    }
    return "*" in found or found >= {"bucket", "objects"}


def _denies_plain_http(statement: Statement, name: str) -> bool:
    if statement.effect != "Deny" or not statement.applies_to_everyone:
        return False
    if not set(statement.actions) & {"s3:*", "*"}:
        return False
    secure = statement.condition_values("Bool", "aws:SecureTransport")
    return any(v.lower() == "false" for v in secure) and _covers(list(statement.resources), name)


def _tls_problem(bucket: PolicyResource, resources: list[PolicyResource], _: Config) -> Optional[str]:
    name = bucket_name(bucket)
    policies = attached(resources, bucket, t.BUCKET_POLICY)
    if not policies:
        return "no BucketPolicy denies plain-HTTP requests"
    for policy in policies:
        statements = statements_of(json_document(get(policy.props, "policy")))
        if name and any(_denies_plain_http(s, name) for s in statements):
            return None
    return (
        "its bucket policy has no Deny of s3:* for Principal '*' when aws:SecureTransport is 'false' "
        "on the bucket and its objects"
    )


tls_only = stack_policy(
    "s3-tls-only",
    "Every S3 bucket refuses plain-HTTP requests. Fix: give the bucket an aws.s3.BucketPolicy with a statement "
    "{Effect: Deny, Principal: '*', Action: 's3:*', Resource: [<bucket arn>, <bucket arn>/*], "
    "Condition: {Bool: {aws:SecureTransport: 'false'}}}.",
    _each_bucket(_tls_problem),
)


# --------------------------------------------------------------------------- lifecycle


def _whole_bucket(rule: Mapping[str, Any]) -> bool:
    """A lifecycle rule without a filter narrower than the whole bucket."""
    filters = mapping(get(rule, "filter"))
    return (
        not get(rule, "prefix")
        and all(not v for k, v in filters.items() if k != "prefix")
        and not get(filters, "prefix")
    )


def _lifecycle_problem(bucket: PolicyResource, resources: list[PolicyResource], _: Config) -> Optional[str]:
    rules = [rule for r in attached(resources, bucket, t.BUCKET_LIFECYCLE) for rule in items(get(r.props, "rules"))]
    for rule in rules:
        days = get(rule, "noncurrentVersionExpiration", "noncurrentDays")
        if get(rule, "status") == "Enabled" and days and _whole_bucket(rule):
            return None
    return "no enabled lifecycle rule expires noncurrent versions across the whole bucket"


noncurrent_versions_expire = stack_policy(
    "s3-noncurrent-versions-expire",
    "Every versioned S3 bucket expires noncurrent versions, or every retrain keeps paying for the bundles it "
    "replaced. Fix: declare an aws.s3.BucketLifecycleConfiguration for the bucket with an 'Enabled' rule, no "
    "narrowing filter, and noncurrent_version_expiration.noncurrent_days (bundleStore.noncurrentVersionDays).",
    _each_bucket(_lifecycle_problem),
)


# --------------------------------------------------------------------------- protection


def _protection(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    if not args.opts.protect:
        report(f"bucket {get(args.props, 'bucket') or args.name!r} is not protected")


bucket_protected = resource_policy(
    "s3-bucket-protected",
    "The bundle bucket holds the only copy of every model, so `pulumi destroy` or a replacement must never delete "
    "it. Fix: declare the bucket with ResourceOptions(protect=True, retain_on_delete=True) (bundleStore.protect, "
    "true by default in prod).",
    _protection,
    types=[t.BUCKET],
)

POLICIES = [
    bucket_versioned,
    bucket_encrypted,
    public_access_blocked,
    tls_only,
    noncurrent_versions_expire,
    bucket_protected,
]
