"""S3 policies, called directly on synthetic stacks: a hardened bucket passes, each weakening fails its rule."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest


from model_platform_policy import s3, stack_config  # noqa: E402
from model_platform_policy import types as t  # noqa: E402
from model_platform_policy.testing import resource, violations  # noqa: E402

NAME = "model-platform-test-bundles"
ARN = f"arn:aws:s3:::{NAME}"
TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [ARN, f"{ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


@pytest.fixture(autouse=True)
def stack_bundle_store(monkeypatch) -> dict[str, Any]:
    """The stack config's ``model-platform:bundleStore`` the encryption rule reads."""
    values: dict[str, Any] = {}
    monkeypatch.setattr(stack_config, "stack_object", lambda key: values if key == "bundleStore" else {})
    return values


def side_props(**changes: Optional[dict[str, Any]]) -> dict[str, Optional[dict[str, Any]]]:
    """Inputs of each side resource of a hardened bucket; a change of None drops that resource."""
    props: dict[str, Optional[dict[str, Any]]] = {
        t.BUCKET_VERSIONING: {"versioningConfiguration": {"status": "Enabled"}},
        t.BUCKET_ENCRYPTION: {
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": "arn:aws:kms:eu-west-2:1:key/k",
                    },
                    "bucketKeyEnabled": True,
                }
            ]
        },
        t.BUCKET_PUBLIC_ACCESS_BLOCK: {flag: True for flag in s3.PUBLIC_ACCESS_FLAGS},
        t.BUCKET_POLICY: {"policy": json.dumps({"Version": "2012-10-17", "Statement": [TLS_DENY]})},
        t.BUCKET_LIFECYCLE: {
            "rules": [
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrentVersionExpiration": {"noncurrentDays": 30},
                }
            ]
        },
    }
    props.update(changes)
    return props


def stack(bucket: Optional[dict[str, Any]] = None, protect: bool = True, **changes: Optional[dict[str, Any]]) -> list:
    b = resource(t.BUCKET, {"bucket": NAME, **(bucket or {})}, name="bundle-store-bucket", protect=protect)
    sides = [
        resource(type_, {"bucket": NAME, **props}, name=type_.rsplit(":", 1)[1])
        for type_, props in side_props(**changes).items()
        if props is not None
    ]
    return [b, *sides]


KEY = {
    "versioning": t.BUCKET_VERSIONING,
    "encryption": t.BUCKET_ENCRYPTION,
    "public": t.BUCKET_PUBLIC_ACCESS_BLOCK,
    "policy": t.BUCKET_POLICY,
    "lifecycle": t.BUCKET_LIFECYCLE,
}


def broken(part: str, props: Optional[dict[str, Any]]) -> list:
    return stack(**{KEY[part]: props})


@pytest.mark.parametrize("policy", s3.POLICIES, ids=lambda p: p.name)
def test_a_hardened_protected_bucket_passes_every_s3_policy(policy):
    assert violations(policy, stack()) == []


@pytest.mark.parametrize(
    "policy, resources, expected",
    [
        (s3.bucket_versioned, broken("versioning", None), "no BucketVersioning"),
        (
            s3.bucket_versioned,
            broken("versioning", {"versioningConfiguration": {"status": "Suspended"}}),
            "'Suspended'",
        ),
        (s3.bucket_encrypted, broken("encryption", None), "no BucketServerSideEncryptionConfiguration"),
        (
            s3.bucket_encrypted,
            broken("encryption", {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}),
            "not SSE-KMS",
        ),
        (
            s3.bucket_encrypted,
            broken("encryption", {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}),
            "AWS-managed key",
        ),
        (s3.public_access_blocked, broken("public", None), "no BucketPublicAccessBlock"),
        (
            s3.public_access_blocked,
            broken("public", {**{f: True for f in s3.PUBLIC_ACCESS_FLAGS}, "restrictPublicBuckets": False}),
            "restrictPublicBuckets",
        ),
        (s3.public_access_blocked, stack(bucket={"acl": "public-read"}), "public-read"),
        (s3.tls_only, broken("policy", None), "no BucketPolicy"),
        (
            s3.tls_only,
            broken("policy", {"policy": json.dumps({"Statement": [{**TLS_DENY, "Resource": f"{ARN}/*"}]})}),
            "SecureTransport",
        ),
        (
            s3.tls_only,
            broken("policy", {"policy": json.dumps({"Statement": {**TLS_DENY, "Condition": {}}})}),
            "SecureTransport",
        ),
        (s3.noncurrent_versions_expire, broken("lifecycle", None), "noncurrent"),
        (
            s3.noncurrent_versions_expire,
            broken(
                "lifecycle",
                {
                    "rules": [
                        {
                            "status": "Enabled",
                            "filter": {"prefix": "old/"},
                            "noncurrentVersionExpiration": {"noncurrentDays": 30},
                        }
                    ]
                },
            ),
            "whole bucket",
        ),
        (
            s3.noncurrent_versions_expire,
            broken(
                "lifecycle", {"rules": [{"status": "Disabled", "noncurrentVersionExpiration": {"noncurrentDays": 30}}]}
            ),
            "noncurrent",
        ),
        (s3.bucket_protected, stack(protect=False), "not protected"),
    ],
    ids=lambda v: v.name if hasattr(v, "name") else None,
)
def test_each_weakening_fails_its_policy_naming_the_bucket(policy, resources, expected):
    found = violations(policy, resources)
    assert len(found) == 1 and expected in found[0]
    if policy is not s3.bucket_protected:
        assert NAME in found[0]


def test_sse_s3_is_enough_where_kms_is_not_required():
    aes = stack(
        **{t.BUCKET_ENCRYPTION: {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}}
    )
    assert violations(s3.bucket_encrypted, aes, {"requireKms": False}) == []
    assert violations(s3.bucket_encrypted, aes, {"requireKms": True})


def test_a_stack_that_asks_for_sse_kms_is_held_to_it_whatever_the_environment(stack_bundle_store):
    aes = stack(
        **{t.BUCKET_ENCRYPTION: {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}}
    )
    stack_bundle_store["encryption"] = "sse-kms"
    assert violations(s3.bucket_encrypted, aes, {"requireKms": False}) == [
        f"bucket {NAME!r}: BucketServerSideEncryptionConfiguration 'BucketServerSideEncryptionConfiguration' sets a "
        "default encryption that is not SSE-KMS, which the stack config asks for (bundleStore.encryption: sse-kms)"
    ]
    assert violations(s3.bucket_encrypted, stack(), {"requireKms": False}) == []
    stack_bundle_store["encryption"] = "sse-s3"
    assert violations(s3.bucket_encrypted, aes, {"requireKms": False}) == []


def test_side_resources_of_another_bucket_do_not_count():
    resources = stack()
    other = resource(t.BUCKET, {"bucket": "someone-elses-bucket"}, name="other", protect=True)
    found = violations(s3.bucket_versioned, [*resources, other])
    assert found == ["bucket 'someone-elses-bucket': no BucketVersioning configures it"]


def test_a_side_resource_joins_its_bucket_by_engine_dependency_when_the_name_is_not_known():
    bucket = resource(t.BUCKET, {}, name="autonamed", protect=True)
    versioning = resource(
        t.BUCKET_VERSIONING,
        {"versioningConfiguration": {"status": "Enabled"}},
        name="v",
        dependencies={"bucket": [bucket]},
    )
    assert violations(s3.bucket_versioned, [bucket, versioning]) == []
    assert violations(s3.bucket_versioned, [bucket])
