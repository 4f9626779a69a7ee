"""The S3 rules over the Analyzer protocol, on every bucket type of pulumi-aws v7 and every way to configure one:
deprecated aliases, inline arguments, and a second configuration that weakens the first."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Optional

import pytest

from model_platform_policy import s3_buckets
from tests.policy_programs import (
    ACCOUNT,
    Res,
    pack,  # noqa: F401  (the session's pack fixture)
)

PULUMI_AWS_S3 = Path(next(iter(importlib.util.find_spec("pulumi_aws").submodule_search_locations))) / "s3"
NAME = f"model-platform-prod-bundles-{ACCOUNT}"
ARN = f"arn:aws:s3:::{NAME}"
KEY = f"arn:aws:kms:eu-west-2:{ACCOUNT}:key/k"
S3_RULES = (
    "s3-bucket-versioned",
    "s3-bucket-encrypted",
    "s3-public-access-blocked",
    "s3-tls-only",
    "s3-noncurrent-versions-expire",
)
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [ARN, f"{ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def encryption(algorithm: str, key: Optional[str] = None) -> dict[str, Any]:
    by_default = {"sseAlgorithm": algorithm, **({"kmsMasterKeyId": key} if key else {})}
    return {"rules": [{"applyServerSideEncryptionByDefault": by_default}]}


GOOD = {
    "versioning": {"versioningConfiguration": {"status": "Enabled"}},
    "encryption": encryption("aws:kms", KEY),
    "public": {flag: True for flag in FLAGS},
    "policy": {"policy": json.dumps({"Version": "2012-10-17", "Statement": [TLS_DENY]})},
    "lifecycle": {
        "rules": [{"id": "x", "status": "Enabled", "filter": {}, "noncurrentVersionExpiration": {"noncurrentDays": 30}}]
    },
}
V1_SIDES = {
    "versioning": "aws:s3/bucketVersioning:BucketVersioning",
    "encryption": "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "public": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "policy": "aws:s3/bucketPolicy:BucketPolicy",
    "lifecycle": "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
}
V2_SIDES = {
    **V1_SIDES,
    "versioning": "aws:s3/bucketVersioningV2:BucketVersioningV2",
    "encryption": "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    "lifecycle": "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
}
BUCKET_TYPES = ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"]
OBJECT_V2 = "aws:s3/bucketObjectv2:BucketObjectv2"


def hardened(
    bucket_type: str = "aws:s3/bucket:Bucket", sides: dict[str, str] = V1_SIDES, bucket: Optional[dict[str, Any]] = None
) -> list[Res]:
    """A protected bucket with every side resource, each joined to it by the engine's dependency."""
    program = [Res(bucket_type, "bucket", {"bucket": NAME, **(bucket or {})}, protect=True)]
    for concern, side_type in sides.items():
        program.append(Res(side_type, concern, {"bucket": NAME, **GOOD[concern]}, deps={"bucket": ["bucket"]}))
    return program


def s3_findings(found) -> list[tuple[str, Optional[str], str]]:
    return [(f.policy, f.resource, f.message) for f in found.items if f.policy.startswith("s3-")]


@pytest.mark.parametrize("bucket_type", BUCKET_TYPES)
@pytest.mark.parametrize("sides", [V1_SIDES, V2_SIDES], ids=["side-resources", "v2-aliases"])
def test_a_hardened_bucket_of_any_type_with_any_alias_of_its_side_resources_passes(pack, bucket_type, sides):
    assert s3_findings(pack.check(hardened(bucket_type, sides))) == []


def test_a_bucketv2_alone_fails_every_s3_rule(pack):
    found = pack.check([Res("aws:s3/bucketV2:BucketV2", "bucket", {"bucket": NAME})])
    assert {f.policy for f in found.items if f.resource == "bucket"} >= {*S3_RULES, "s3-bucket-protected"}


WEAKER_SECOND = [
    (
        "versioning2",
        V2_SIDES["versioning"],
        {"versioningConfiguration": {"status": "Suspended"}},
        "s3-bucket-versioned",
        "sets versioning status 'Suspended'",
    ),
    (
        "encryption2",
        V1_SIDES["encryption"],
        encryption("AES256"),
        "s3-bucket-encrypted",
        "sets a default encryption that is not SSE-KMS",
    ),
    (
        "public2",
        V1_SIDES["public"],
        {**GOOD["public"], "blockPublicPolicy": False},
        "s3-public-access-blocked",
        "leaves blockPublicPolicy unset or false",
    ),
    (
        "policy2",
        V1_SIDES["policy"],
        {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "s3:*"}]})},
        "s3-tls-only",
        "has no Deny of s3:*",
    ),
    (
        "lifecycle2",
        V2_SIDES["lifecycle"],
        {"rules": [{"status": "Enabled", "filter": {}, "expiration": {"days": 1}}]},
        "s3-noncurrent-versions-expire",
        "has no enabled rule",
    ),
]


@pytest.mark.parametrize("concern, side_type, weaker, rule, expected", WEAKER_SECOND, ids=[w[0] for w in WEAKER_SECOND])
def test_a_second_configuration_that_weakens_the_first_fails_on_the_bucket_naming_it(
    pack, concern, side_type, weaker, rule, expected
):
    program = [*hardened(), Res(side_type, concern, {"bucket": NAME, **weaker}, deps={"bucket": ["bucket"]})]
    found = pack.check(program).of(rule)
    assert [(f.resource, f.level) for f in found] == [("bucket", "mandatory")]
    assert found[0].message.startswith(f"bucket {NAME!r}: {side_type.rsplit(':', 1)[-1]} {concern!r} {expected}")
    assert "S3 keeps whichever of it and" in found[0].message


BUCKET, BUCKET_V2 = BUCKET_TYPES
INLINE = [
    (BUCKET, {"versioning": {"enabled": False}}, "s3-bucket-versioned", "inline versioning sets versioning status"),
    (BUCKET_V2, {"versionings": [{"enabled": False}]}, "s3-bucket-versioned", "inline versionings[0] sets"),
    (
        BUCKET,
        {"serverSideEncryptionConfiguration": {"rule": encryption("AES256")["rules"][0]}},
        "s3-bucket-encrypted",
        "inline serverSideEncryptionConfiguration sets a default encryption that is not SSE-KMS",
    ),
    (
        BUCKET_V2,
        {
            "serverSideEncryptionConfigurations": [
                {"rules": [{"applyServerSideEncryptionByDefaults": [{"sseAlgorithm": "aws:kms"}]}]}
            ]
        },
        "s3-bucket-encrypted",
        "AWS-managed key",
    ),
    (BUCKET, {"acl": "public-read"}, "s3-public-access-blocked", "canned ACL 'public-read'"),
    (
        BUCKET_V2,
        {"grants": [{"type": "Group", "uri": ALL_USERS, "permissions": ["READ"]}]},
        "s3-public-access-blocked",
        "AllUsers",
    ),
    (BUCKET, {"policy": json.dumps({"Statement": []})}, "s3-tls-only", "inline policy has no Deny"),
    (
        BUCKET,
        {"lifecycleRules": [{"enabled": True, "expiration": {"days": 3}}]},
        "s3-noncurrent-versions-expire",
        "inline lifecycleRules has no enabled rule",
    ),
]


@pytest.mark.parametrize("bucket_type, inline, rule, expected", INLINE)
def test_a_deprecated_inline_argument_is_a_configuration_too(pack, bucket_type, inline, rule, expected):
    found = pack.check(hardened(bucket_type, bucket=inline)).of(rule)
    assert len(found) == 1 and found[0].resource == "bucket" and expected in found[0].message


def test_good_inline_arguments_configure_a_bucketv2(pack):
    inline = {
        "versionings": [{"enabled": True}],
        "serverSideEncryptionConfigurations": [
            {"rules": [{"applyServerSideEncryptionByDefaults": [{"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}]}]}
        ],
        "lifecycleRules": [{"enabled": True, "noncurrentVersionExpirations": [{"days": 30}]}],
        "policy": GOOD["policy"]["policy"],
    }
    program = [Res("aws:s3/bucketV2:BucketV2", "bucket", {"bucket": NAME, **inline}, protect=True)]
    program.append(Res(V1_SIDES["public"], "public", {"bucket": NAME, **GOOD["public"]}, deps={"bucket": ["bucket"]}))
    assert s3_findings(pack.check(program)) == []


@pytest.mark.parametrize(
    "resource_type, inputs",
    [
        ("aws:s3/bucketAclV2:BucketAclV2", {"acl": "public-read-write"}),
        (
            "aws:s3/bucketAcl:BucketAcl",
            {
                "accessControlPolicy": {
                    "grants": [{"grantee": {"type": "Group", "uri": AUTHENTICATED_USERS}, "permission": "READ"}],
                    "owner": {"id": "o"},
                }
            },
        ),
        ("aws:s3/bucketObjectv2:BucketObjectv2", {"key": "days-to-sell/1.5.0/bundle.zip", "acl": "public-read"}),
        ("aws:s3/bucketObject:BucketObject", {"key": "x", "acl": "authenticated-read"}),
    ],
)
def test_acls_and_objects_that_grant_public_access_fail(pack, resource_type, inputs):
    program = [*hardened(), Res(resource_type, "grant", {"bucket": NAME, **inputs}, deps={"bucket": ["bucket"]})]
    found = pack.check(program).of("s3-public-access-blocked")
    assert [f.resource for f in found] == ["bucket"]
    assert f"{resource_type.rsplit(':', 1)[-1]} 'grant'" in found[0].message


def test_a_private_object_passes(pack):
    released = {"bucket": NAME, "key": "m/released.json", "content": "{}"}
    program = [*hardened(), Res(OBJECT_V2, "released", released, deps={"bucket": ["bucket"]})]
    assert s3_findings(pack.check(program)) == []


def test_a_configuration_of_a_bucket_outside_the_stack_is_judged_too(pack):
    suspended = {"bucket": "someone-elses", "versioningConfiguration": {"status": "Suspended"}}
    found = pack.check([Res(V2_SIDES["versioning"], "suspend", suspended)]).of("s3-bucket-versioned")
    assert [(f.resource, f.message) for f in found] == [
        (
            "suspend",
            "bucket 'someone-elses': BucketVersioningV2 'suspend' sets versioning status 'Suspended', not 'Enabled'",
        )
    ]


# --------------------------------------------------------------------------- the tables match the SDK


def _token(path: Path) -> set[str]:
    return set(re.findall(r"['\"](aws:s3/[A-Za-z0-9]+:[A-Za-z0-9]+)['\"]", path.read_text()))


def test_every_bucket_and_configuration_type_of_the_sdk_is_judged():
    """Each pulumi-aws s3 module of a bucket or of one of the judged concerns, and its aliases, is in a type set."""
    judged = (
        s3_buckets.BUCKET_TYPES
        | s3_buckets.VERSIONING_TYPES
        | s3_buckets.ENCRYPTION_TYPES
        | s3_buckets.LIFECYCLE_TYPES
        | s3_buckets.ACL_TYPES
        | s3_buckets.OBJECT_TYPES
        | s3_buckets.POLICY_TYPES
        | s3_buckets.PUBLIC_ACCESS_BLOCK_TYPES
    )
    modules = [
        "bucket",
        "bucket_v2",
        "bucket_versioning",
        "bucket_versioning_v2",
        "bucket_server_side_encryption_configuration",
        "bucket_server_side_encryption_configuration_v2",
        "bucket_lifecycle_configuration",
        "bucket_lifecycle_configuration_v2",
        "bucket_acl",
        "bucket_acl_v2",
        "bucket_objectv2",
        "bucket_object",
        "bucket_policy",
        "bucket_public_access_block",
    ]
    declared = set().union(*(_token(PULUMI_AWS_S3 / f"{m}.py") for m in modules))
    resources = {tok for tok in declared if not tok.rsplit(":", 1)[-1].startswith("get")}
    # aws:s3/BucketObject:BucketObject is an alias kept for old URNs: no program declares that type.
    assert resources - judged <= {"aws:s3/BucketObject:BucketObject"}
    assert judged <= resources
