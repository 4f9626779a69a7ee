"""S3: every way pulumi-aws v7 lets a program configure a bucket, read as one list per concern.

A bucket is a ``Bucket`` or its deprecated alias ``BucketV2``. Its versioning,
default encryption, ACL, policy and lifecycle are set by a side resource
(``BucketVersioning``, ``BucketServerSideEncryptionConfiguration``,
``BucketAcl``, ``BucketPolicy``, ``BucketLifecycleConfiguration``, and their
``V2`` aliases) or by the bucket's deprecated inline arguments, whose shapes
differ between ``Bucket`` and ``BucketV2``. S3 keeps one configuration per
concern and bucket, whichever was applied last, so each configuration is
judged on its own: a second resource that weakens the first is a violation,
even when the first is fine.

A side resource configures a bucket of the stack by the engine's property
dependency on ``bucket`` (the CLI) or by the bucket name it names (known in
preview for named buckets); one naming no bucket of the stack is judged too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from pulumi_policy import PolicyResource

from model_platform_policy import types as t
from model_platform_policy.values import get, items, mapping

BUCKET_TYPES = frozenset({t.BUCKET, t.BUCKET_V2})
VERSIONING_TYPES = frozenset({t.BUCKET_VERSIONING, t.BUCKET_VERSIONING_V2})
ENCRYPTION_TYPES = frozenset({t.BUCKET_ENCRYPTION, t.BUCKET_ENCRYPTION_V2})
LIFECYCLE_TYPES = frozenset({t.BUCKET_LIFECYCLE, t.BUCKET_LIFECYCLE_V2})
ACL_TYPES = frozenset({t.BUCKET_ACL, t.BUCKET_ACL_V2})
OBJECT_TYPES = frozenset({t.BUCKET_OBJECT, t.BUCKET_OBJECT_V2})
POLICY_TYPES = frozenset({t.BUCKET_POLICY})
PUBLIC_ACCESS_BLOCK_TYPES = frozenset({t.BUCKET_PUBLIC_ACCESS_BLOCK})


@dataclass(frozen=True)
class Setting:
    """One configuration of one concern of a bucket: a side resource, or the bucket's inline argument."""

    source: PolicyResource
    #: How messages name it: ``BucketVersioningV2 'v'`` or ``inline versioning``.
    label: str
    #: The stack's bucket it configures, or None (a bucket outside the stack).
    bucket: Optional[PolicyResource]
    #: The bucket's name as messages show it.
    bucket_label: str
    value: Any


def bucket_name(bucket: PolicyResource) -> Optional[str]:
    return get(bucket.props, "bucket")


def bucket_label(bucket: PolicyResource) -> str:
    return str(bucket_name(bucket) or bucket.name)


def _configures(side: PolicyResource, bucket: PolicyResource) -> bool:
    if any(d.urn == bucket.urn for d in side.property_dependencies.get("bucket", [])):
        return True
    name = bucket_name(bucket)
    return name is not None and get(side.props, "bucket") == name


def _side_label(side: PolicyResource) -> str:
    return f"{side.resource_type.rsplit(':', 1)[-1]} {side.name!r}"


def settings(
    resources: list[PolicyResource],
    side_types: frozenset[str],
    side_value: Callable[[PolicyResource], Any],
    inline: Optional[Callable[[PolicyResource], Iterator[tuple[str, Any]]]] = None,
) -> list[Setting]:
    """Every configuration of one concern: each side resource of ``side_types``, and each inline argument."""
    buckets = [r for r in resources if r.resource_type in BUCKET_TYPES]
    found = []
    for r in resources:
        if r.resource_type in side_types:
            bucket = next((b for b in buckets if _configures(r, b)), None)
            label = bucket_label(bucket) if bucket else str(get(r.props, "bucket", default=r.name))
            found.append(Setting(r, _side_label(r), bucket, label, side_value(r)))
        elif r.resource_type in BUCKET_TYPES and inline is not None:
            for where, value in inline(r):
                found.append(Setting(r, f"inline {where}", r, bucket_label(r), value))
    return found


def of_bucket(found: list[Setting], bucket: PolicyResource) -> list[Setting]:
    return [s for s in found if s.bucket is bucket]


# --------------------------------------------------------------------------- each concern, normalised


def versioning_status(side: PolicyResource) -> Any:
    return get(side.props, "versioningConfiguration", "status")


def _enabled_status(enabled: Any) -> str:
    return "Enabled" if enabled is True else "Suspended"


def inline_versioning(bucket: PolicyResource) -> Iterator[tuple[str, Any]]:
    """``versioning {enabled}`` on a Bucket; ``versionings[] {enabled}`` on a BucketV2."""
    if get(bucket.props, "versioning") is not None:
        yield "versioning", _enabled_status(get(bucket.props, "versioning", "enabled"))
    for i, v in enumerate(items(get(bucket.props, "versionings"))):
        yield f"versionings[{i}]", _enabled_status(get(v, "enabled"))


def encryption_defaults(side: PolicyResource) -> list[Mapping[str, Any]]:
    return [mapping(get(rule, "applyServerSideEncryptionByDefault")) for rule in items(get(side.props, "rules"))]


def inline_encryption(bucket: PolicyResource) -> Iterator[tuple[str, Any]]:
    """``serverSideEncryptionConfiguration.rule`` on a Bucket; ``...Configurations[].rules[]...Defaults[]`` on V2."""
    single = get(bucket.props, "serverSideEncryptionConfiguration")
    if single is not None:
        yield "serverSideEncryptionConfiguration", [mapping(get(single, "rule", "applyServerSideEncryptionByDefault"))]
    for i, config in enumerate(items(get(bucket.props, "serverSideEncryptionConfigurations"))):
        defaults = [
            mapping(d)
            for rule in items(get(config, "rules"))
            for d in items(get(rule, "applyServerSideEncryptionByDefaults"))
        ]
        yield f"serverSideEncryptionConfigurations[{i}]", defaults


@dataclass(frozen=True)
class Acl:
    """A canned ACL and the grantee group URIs of explicit grants."""

    canned: Optional[str]
    group_uris: tuple[str, ...]


def side_acl(side: PolicyResource) -> Acl:
    grants = items(get(side.props, "accessControlPolicy", "grants"))
    uris = tuple(str(get(g, "grantee", "uri")) for g in grants if get(g, "grantee", "uri"))
    return Acl(get(side.props, "acl"), uris)


def inline_acl(bucket: PolicyResource) -> Iterator[tuple[str, Any]]:
    uris = tuple(str(get(g, "uri")) for g in items(get(bucket.props, "grants")) if get(g, "uri"))
    if get(bucket.props, "acl") is not None or uris:
        yield "acl", Acl(get(bucket.props, "acl"), uris)


def policy_text(side: PolicyResource) -> Any:
    return get(side.props, "policy")


def inline_policy(bucket: PolicyResource) -> Iterator[tuple[str, Any]]:
    if get(bucket.props, "policy") is not None:
        yield "policy", get(bucket.props, "policy")


@dataclass(frozen=True)
class LifecycleRule:
    enabled: bool
    noncurrent_days: Any
    whole_bucket: bool


def _whole_bucket(rule: Mapping[str, Any]) -> bool:
    """A lifecycle rule without a filter narrower than the whole bucket."""
    filters = mapping(get(rule, "filter"))
    return (
        not get(rule, "prefix")
        and not get(rule, "tags")
        and all(not v for k, v in filters.items() if k != "prefix")
        and not get(filters, "prefix")
    )


def lifecycle_rules(side: PolicyResource) -> list[LifecycleRule]:
    return [
        LifecycleRule(
            enabled=get(rule, "status") == "Enabled",
            noncurrent_days=get(rule, "noncurrentVersionExpiration", "noncurrentDays"),
            whole_bucket=_whole_bucket(rule),
        )
        for rule in items(get(side.props, "rules"))
    ]


def _inline_noncurrent_days(rule: Any) -> Any:
    """``noncurrentVersionExpiration.days`` (Bucket) or the first ``noncurrentVersionExpirations[].days`` (BucketV2)."""
    days = [get(e, "days") for e in items(get(rule, "noncurrentVersionExpirations"))]
    return get(rule, "noncurrentVersionExpiration", "days") or next(filter(None, days), None)


def inline_lifecycle(bucket: PolicyResource) -> Iterator[tuple[str, Any]]:
    """``lifecycleRules[]`` of a Bucket or a BucketV2."""
    rules = items(get(bucket.props, "lifecycleRules"))
    if rules:
        yield "lifecycleRules", [
            LifecycleRule(
                enabled=get(rule, "enabled") is True,
                noncurrent_days=_inline_noncurrent_days(rule),
                whole_bucket=_whole_bucket(rule),
            )
            for rule in rules
        ]
