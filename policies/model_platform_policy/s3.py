"""S3: every bucket versioned, encrypted, private, TLS-only, expiring old versions; prod buckets protected.

Buckets and their configuration come in many types (s3_buckets): ``Bucket``
and ``BucketV2``, side resources and their ``V2`` aliases, and the deprecated
inline arguments. The rules are stack policies that join each configuration to
its bucket. Each bucket needs a good configuration of each concern, and every
configuration must be good: S3 keeps whichever was applied last, so a second
resource that weakens the first wins as often as not. A weak configuration is
reported on the bucket it weakens, naming the resource that declares it.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from model_platform_policy import stack_config
from model_platform_policy import s3_buckets as b
from model_platform_policy.iam import Statement, statements_of
from model_platform_policy.rules import Config, flag, resource_policy, stack_policy
from model_platform_policy.stack_keys import key_hint
from model_platform_policy.values import get, json_document, known

PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
#: Grantee groups of everyone and of every AWS account.
PUBLIC_GROUP_URIS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
#: The AWS-managed key: anyone in the account with s3 access can use it, so it is no KMS protection.
AWS_MANAGED_S3_KEY = re.compile(r"(^|/)alias/aws/s3$")

#: A concern's judge: the problem of one configuration (or None); and what to say when a bucket has none.
Judge = Callable[[b.Setting, Config], Optional[str]]


def bucket_name(bucket: PolicyResource) -> Optional[str]:
    return b.bucket_name(bucket)


def _rivals(one: b.Setting, other: b.Setting) -> bool:
    """Two configurations of the same concern of the same stack bucket, of which S3 keeps the last applied."""
    return (
        one is not other
        and one.bucket is not None
        and one.bucket is other.bucket
        and type(one.value) is type(other.value)
        and not {one.source.resource_type, other.source.resource_type} & b.OBJECT_TYPES
    )


def _each_setting(
    collect: Callable[[list[PolicyResource]], list[b.Setting]], judge: Judge, missing: Optional[str]
) -> Callable[[StackValidationArgs, ReportViolation, Config], None]:
    """A stack check: every bucket has a configuration (``missing`` says so when not), and each one is good."""

    def check(args: StackValidationArgs, report: ReportViolation, config: Config) -> None:
        found = collect(args.resources)
        for bucket in args.resources:
            if missing and bucket.resource_type in b.BUCKET_TYPES and not b.of_bucket(found, bucket):
                report(f"bucket {b.bucket_label(bucket)!r}: {missing}", bucket.urn)
        for setting in found:
            problem = judge(setting, config)
            if problem:
                others = [o.label for o in found if _rivals(o, setting)]
                undoes = f"; S3 keeps whichever of it and {', '.join(others)} was applied last" if others else ""
                # Reported on the stack's bucket it weakens (or on itself, for a bucket outside the stack).
                on = setting.bucket.urn if setting.bucket is not None else setting.source.urn
                report(f"bucket {setting.bucket_label!r}: {setting.label} {problem}{undoes}", on)

    return check


# --------------------------------------------------------------------------- versioning


def _versioning_settings(resources: list[PolicyResource]) -> list[b.Setting]:
    return b.settings(resources, b.VERSIONING_TYPES, b.versioning_status, b.inline_versioning)


def _versioning_problem(setting: b.Setting, _: Config) -> Optional[str]:
    if setting.value != "Enabled":
        return f"sets versioning status {setting.value!r}, not 'Enabled'"
    return None


bucket_versioned = stack_policy(
    "s3-bucket-versioned",
    "Every S3 bucket (Bucket or BucketV2) is versioned, by every configuration of it, so an overwritten or deleted "
    "MLeap bundle can be recovered. Fix: declare one aws.s3.BucketVersioning for the bucket with "
    "versioning_configuration.status='Enabled' (pulumi-aws v7 side resource; the inline 'versioning' argument is "
    "deprecated), and no second versioning resource or inline argument that suspends it.",
    _each_setting(_versioning_settings, _versioning_problem, "no BucketVersioning configures it"),
)


# --------------------------------------------------------------------------- encryption


def kms_required_by(config: Config) -> Optional[str]:
    """Who requires SSE-KMS here: the environment's policy config, or the stack's own bundleStore.encryption."""
    if config["requireKms"]:
        return "this environment requires"
    if stack_config.stack_object("bundleStore").get("encryption") == "sse-kms":
        return "the stack config asks for (bundleStore.encryption: sse-kms)"
    return None


def _encryption_settings(resources: list[PolicyResource]) -> list[b.Setting]:
    return b.settings(resources, b.ENCRYPTION_TYPES, b.encryption_defaults, b.inline_encryption)


def _encryption_problem(setting: b.Setting, config: Config) -> Optional[str]:
    defaults = setting.value
    algorithms = [get(d, "sseAlgorithm") for d in defaults]
    if not algorithms or not all(a in SSE_ALGORITHMS for a in algorithms):
        return f"sets no default encryption (AES256 or aws:kms): {algorithms}"
    required_by = kms_required_by(config)
    if required_by:
        if not all(a in KMS_ALGORITHMS for a in algorithms):
            fix = key_hint(setting.bucket, "bundleStore.encryption") if setting.bucket is not None else ""
            return f"sets a default encryption that is not SSE-KMS, which {required_by}{fix}"
        # Unknown during preview: the ARN of a key created in the same update, so a customer-managed one.
        keys = [known(lambda d=d: get(d, "kmsMasterKeyId")) for d in defaults]
        if not all(k and not AWS_MANAGED_S3_KEY.search(str(k)) for k in keys):
            return "uses SSE-KMS with the AWS-managed key (no kmsMasterKeyId); name a customer-managed key"
    return None


bucket_encrypted = stack_policy(
    "s3-bucket-encrypted",
    "Every S3 bucket has default server-side encryption, by every configuration of it; where the environment "
    "requires it (requireKms) or the stack config asks for it (bundleStore.encryption: sse-kms), SSE-KMS with a "
    "customer-managed key. Fix: declare one aws.s3.BucketServerSideEncryptionConfiguration for the bucket "
    "(sse_algorithm 'AES256', or 'aws:kms' with kms_master_key_id; for KMS set the stack file's "
    "bundleStore.encryption: sse-kms) and "
    "no second one or inline argument that weakens it.",
    _each_setting(
        _encryption_settings,
        _encryption_problem,
        "no BucketServerSideEncryptionConfiguration sets a default encryption (AES256 or aws:kms)",
    ),
    hints=["bundleStore.encryption"],
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


def _block_flags(block: PolicyResource) -> dict[str, object]:
    return {f: get(block.props, f) for f in PUBLIC_ACCESS_FLAGS}


def _public_settings(resources: list[PolicyResource]) -> list[b.Setting]:
    acls = b.settings(resources, b.ACL_TYPES | b.OBJECT_TYPES, b.side_acl, b.inline_acl)
    blocks = b.settings(resources, b.PUBLIC_ACCESS_BLOCK_TYPES, _block_flags)
    return acls + blocks


def _public_problem(setting: b.Setting, _: Config) -> Optional[str]:
    if isinstance(setting.value, b.Acl):
        if setting.value.canned in PUBLIC_CANNED_ACLS:
            return f"grants public access with the canned ACL {setting.value.canned!r}"
        public = [u for u in setting.value.group_uris if u in PUBLIC_GROUP_URIS]
        if public:
            return f"grants access to {public}"
        return None
    missing = [f for f in PUBLIC_ACCESS_FLAGS if setting.value.get(f) is not True]
    if missing:
        return f"leaves {', '.join(missing)} unset or false"
    return None


def _public_access(args: StackValidationArgs, report: ReportViolation, config: Config) -> None:
    blocks = b.settings(args.resources, b.PUBLIC_ACCESS_BLOCK_TYPES, lambda r: None)
    for bucket in args.resources:
        if bucket.resource_type in b.BUCKET_TYPES and not b.of_bucket(blocks, bucket):
            report(f"bucket {b.bucket_label(bucket)!r}: no BucketPublicAccessBlock configures it", bucket.urn)
    _each_setting(_public_settings, _public_problem, None)(args, report, config)


public_access_blocked = stack_policy(
    "s3-public-access-blocked",
    "Every S3 bucket blocks all public access, and nothing grants it: a public bundle bucket leaks every model. "
    "Fix: declare one aws.s3.BucketPublicAccessBlock for the bucket with block_public_acls, block_public_policy, "
    "ignore_public_acls and restrict_public_buckets all True (and no second one that sets any false), and never give "
    "the bucket (acl, grants, BucketAcl/BucketAclV2) or an object (BucketObject/BucketObjectv2 acl) a public canned "
    "ACL or a grant to AllUsers/AuthenticatedUsers.",
    _public_access,
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


def _policy_settings(resources: list[PolicyResource]) -> list[b.Setting]:
    return b.settings(resources, b.POLICY_TYPES, b.policy_text, b.inline_policy)


def _tls_problem(setting: b.Setting, _: Config) -> Optional[str]:
    name = setting.bucket_label
    statements = statements_of(json_document(setting.value))
    if any(_denies_plain_http(s, name) for s in statements):
        return None
    return (
        "has no Deny of s3:* for Principal '*' when aws:SecureTransport is 'false' on the bucket and its objects"
    )


tls_only = stack_policy(
    "s3-tls-only",
    "Every S3 bucket refuses plain-HTTP requests, in every policy set on it (a second BucketPolicy or the inline "
    "'policy' replaces the first). Fix: give the bucket one aws.s3.BucketPolicy with a statement "
    "{Effect: Deny, Principal: '*', Action: 's3:*', Resource: [<bucket arn>, <bucket arn>/*], "
    "Condition: {Bool: {aws:SecureTransport: 'false'}}}.",
    _each_setting(_policy_settings, _tls_problem, "no BucketPolicy denies plain-HTTP requests"),
)


# --------------------------------------------------------------------------- lifecycle


def _lifecycle_settings(resources: list[PolicyResource]) -> list[b.Setting]:
    return b.settings(resources, b.LIFECYCLE_TYPES, b.lifecycle_rules, b.inline_lifecycle)


def _lifecycle_problem(setting: b.Setting, _: Config) -> Optional[str]:
    if any(rule.enabled and rule.noncurrent_days and rule.whole_bucket for rule in setting.value):
        return None
    return "has no enabled rule expiring noncurrent versions across the whole bucket"


noncurrent_versions_expire = stack_policy(
    "s3-noncurrent-versions-expire",
    "Every versioned S3 bucket expires noncurrent versions, in every lifecycle configuration set on it, or every "
    "retrain keeps paying for the bundles it replaced. Fix: declare one aws.s3.BucketLifecycleConfiguration for the "
    "bucket with an 'Enabled' rule, no narrowing filter, and noncurrent_version_expiration.noncurrent_days "
    "(the stack file's bundleStore.noncurrentVersionDays sets the days).",
    _each_setting(
        _lifecycle_settings,
        _lifecycle_problem,
        "no enabled lifecycle rule expires noncurrent versions across the whole bucket",
    ),
)


# --------------------------------------------------------------------------- protection


def _protection(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    if not args.opts.protect:
        name = get(args.props, "bucket") or args.name
        report(f"bucket {name!r} is not protected{key_hint(args, 'bundleStore.protect')}")


bucket_protected = resource_policy(
    "s3-bucket-protected",
    "The bundle bucket holds the only copy of every model, so `pulumi destroy` or a replacement must never delete "
    "it. Fix: declare the bucket with ResourceOptions(protect=True, retain_on_delete=True) (stack file: "
    "bundleStore.protect, true by default in prod).",
    _protection,
    types=sorted(b.BUCKET_TYPES),
    hints=["bundleStore.protect"],
)

POLICIES = [
    bucket_versioned,
    bucket_encrypted,
    public_access_blocked,
    tls_only,
    noncurrent_versions_expire,
    bucket_protected,
]
