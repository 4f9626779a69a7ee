"""IAM policies, called directly: least-privilege documents pass; wildcards, broad readers and loose IRSA trust fail."""

from __future__ import annotations

import json
from typing import Any

import pytest


from model_platform_policy import iam  # noqa: E402
from model_platform_policy import types as t  # noqa: E402
from model_platform_policy.testing import resource, violations  # noqa: E402

BUCKET = "arn:aws:s3:::bundles"
ISSUER = "oidc.eks.eu-west-2.amazonaws.com/id/ABC"
OIDC = f"arn:aws:iam::111122223333:oidc-provider/{ISSUER}"
SUBJECT = "system:serviceaccount:models:days-to-sell-serving"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: Any, resources: Any = f"{BUCKET}/days-to-sell/*", **extra: Any) -> dict[str, Any]:
    return {"Sid": "S", "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def trust(conditions: dict[str, Any], federated: Any = OIDC) -> str:
    return doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": federated},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": conditions,
        }
    )


GOOD_TRUST = trust({"StringEquals": {f"{ISSUER}:sub": SUBJECT, f"{ISSUER}:aud": "sts.amazonaws.com"}})


# --------------------------------------------------------------------------- iam-no-wildcards


def test_named_actions_on_named_resources_pass():
    policy = resource(t.IAM_POLICY, {"policy": doc(allow(["s3:GetObject", "s3:PutObject"]))})
    role = resource(
        t.IAM_ROLE,
        {"assumeRolePolicy": GOOD_TRUST, "inlinePolicies": [{"name": "x", "policy": doc(allow("s3:GetObject"))}]},
    )
    assert violations(iam.no_wildcards, [policy, role]) == []


def test_a_deny_may_use_wildcards():
    bucket_policy = resource(
        t.BUCKET_POLICY,
        {"policy": doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"})},
    )
    assert violations(iam.no_wildcards, bucket_policy) == []


@pytest.mark.parametrize(
    "resource_type, props, expected",
    [
        (t.IAM_POLICY, {"policy": doc(allow("s3:*"))}, "wildcard actions ['s3:*']"),
        (t.IAM_ROLE_POLICY, {"policy": doc(allow("s3:Get*"))}, "wildcard actions"),
        (t.IAM_POLICY, {"policy": doc(allow("s3:GetObject", "*"))}, "Resource '*'"),
        (t.IAM_POLICY, {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": BUCKET})}, "NotAction"),
        (t.BUCKET_POLICY, {"policy": doc(allow("s3:GetObject", Principal="*"))}, "Principal '*'"),
        (t.IAM_ROLE, {"inlinePolicies": [{"name": "x", "policy": doc(allow("*"))}]}, "inlinePolicies[0]"),
        (
            t.IAM_ROLE,
            {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})},
            "assume",
        ),
        (t.IAM_ROLE, {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}, "AdministratorAccess"),
        (
            t.IAM_ROLE_POLICY_ATTACHMENT,
            {"policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"},
            "AmazonS3FullAccess",
        ),
        (t.IAM_POLICY, {"policy": "not json"}, "not a JSON policy document"),
    ],
)
def test_wildcard_grants_fail(resource_type, props, expected):
    found = violations(iam.no_wildcards, resource(resource_type, props))
    assert found and expected in found[0]


# --------------------------------------------------------------------------- iam-reader-get-only


def reader_stack(*statements: dict[str, Any]) -> list:
    role = resource(
        t.IAM_ROLE,
        {"name": "model-platform-test-days-to-sell-reader", "assumeRolePolicy": GOOD_TRUST},
        name="days-to-sell-reader",
    )
    grant = resource(
        t.IAM_ROLE_POLICY,
        {"role": "model-platform-test-days-to-sell-reader", "name": "read-bundles", "policy": doc(*statements)},
        name="days-to-sell-reader-get",
    )
    return [role, grant]


def test_a_reader_that_only_gets_and_decrypts_passes():
    resources = reader_stack(allow("s3:GetObject"), allow("kms:Decrypt", "arn:aws:kms:eu-west-2:1:key/k"))
    assert violations(iam.reader_get_only, resources) == []


def test_a_reader_that_can_write_or_list_fails():
    found = violations(
        iam.reader_get_only, reader_stack(allow(["s3:GetObject", "s3:PutObject"]), allow("s3:ListBucket", BUCKET))
    )
    assert len(found) == 2
    assert "['s3:PutObject']" in found[0] and "['s3:ListBucket']" in found[1]


def test_writers_are_not_readers():
    writer = resource(
        t.IAM_ROLE,
        {"name": "training", "inlinePolicies": [{"name": "w", "policy": doc(allow("s3:PutObject"))}]},
        name="training-role",
    )
    assert violations(iam.reader_get_only, writer) == []


def test_a_reader_with_an_attached_policy_is_judged_on_that_policy():
    role, _ = reader_stack(allow("s3:GetObject"))
    policy = resource(t.IAM_POLICY, {"policy": doc(allow("s3:DeleteObject"))}, name="extra")
    attachment = resource(
        t.IAM_ROLE_POLICY_ATTACHMENT,
        {"role": "model-platform-test-days-to-sell-reader", "policyArn": "arn:aws:iam::1:policy/extra"},
        name="attach",
        dependencies={"policyArn": [policy]},
    )
    found = violations(iam.reader_get_only, [role, policy, attachment])
    assert len(found) == 1 and "s3:DeleteObject" in found[0]


def test_a_reader_with_a_policy_the_stack_does_not_show_fails():
    role = resource(
        t.IAM_ROLE,
        {"name": "r", "managedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
        name="days-to-sell-reader",
    )
    found = violations(iam.reader_get_only, role)
    assert found and "does not show" in found[0]


# --------------------------------------------------------------------------- iam-irsa-single-service-account


def test_trust_bound_to_one_service_account_passes():
    assert violations(iam.irsa_single_service_account, resource(t.IAM_ROLE, {"assumeRolePolicy": GOOD_TRUST})) == []


def test_roles_not_assumed_with_web_identity_are_not_judged():
    service_trust = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    assert violations(iam.irsa_single_service_account, resource(t.IAM_ROLE, {"assumeRolePolicy": service_trust})) == []


@pytest.mark.parametrize(
    "policy, expected",
    [
        (trust({"StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"}}), "exactly one 'system:serviceaccount"),
        (
            trust(
                {
                    "StringLike": {f"{ISSUER}:sub": "system:serviceaccount:models:*"},
                    "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"},
                }
            ),
            "StringLike",
        ),
        (
            trust(
                {
                    "StringEquals": {
                        f"{ISSUER}:sub": [SUBJECT, "system:serviceaccount:models:other"],
                        f"{ISSUER}:aud": "sts.amazonaws.com",
                    }
                }
            ),
            "exactly one",
        ),
        (trust({"StringEquals": {f"{ISSUER}:sub": SUBJECT}}), "aud"),
        (trust({"StringEquals": {"sub": SUBJECT}}, federated=[OIDC, OIDC + "2"]), "exactly one OIDC provider"),
    ],
)
def test_loose_irsa_trust_fails(policy, expected):
    found = violations(iam.irsa_single_service_account, resource(t.IAM_ROLE, {"assumeRolePolicy": policy}))
    assert any(expected in f for f in found)
