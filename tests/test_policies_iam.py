"""IAM policies, called directly: least-privilege documents pass; wildcards, broad readers and loose IRSA trust fail."""

from __future__ import annotations

import json
from typing import Any

import pytest


from model_platform_policy import iam, stack_config  # noqa: E402
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


GOOD_CONDITIONS = {"StringEquals": {f"{ISSUER}:sub": SUBJECT, f"{ISSUER}:aud": "sts.amazonaws.com"}}
GOOD_TRUST = trust(GOOD_CONDITIONS)


@pytest.fixture(autouse=True)
def stack_kubernetes(monkeypatch) -> dict[str, Any]:
    """The stack config's ``model-platform:kubernetes`` the IRSA rule reads (the cluster of OIDC above)."""
    values: dict[str, Any] = {"oidcProviderArn": OIDC}
    monkeypatch.setattr(stack_config, "stack_object", lambda key: values if key == "kubernetes" else {})
    return values


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
        (t.IAM_ROLE, {"inlinePolicies": [{"name": "x", "policy": doc(allow("*"))}]}, "inlinePolicies[0]"),
        (t.IAM_POLICY, {"policy": "not json"}, "not a JSON policy document"),
    ],
)
def test_wildcard_grants_fail(resource_type, props, expected):
    found = violations(iam.no_wildcards, resource(resource_type, props))
    assert found and expected in found[0]


def test_principals_and_attached_policies_are_left_to_their_own_rules():
    """aws-resource-policy-principals judges Principal '*' (test_policies_principals.py), iam-no-admin-reach the
    managed policies a role attaches (test_policies_iam_reach.py): one finding per problem, not two."""
    public = resource(t.BUCKET_POLICY, {"policy": doc(allow("s3:GetObject", Principal="*"))})
    admin = resource(t.IAM_ROLE, {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]})
    assert violations(iam.no_wildcards, [public, admin]) == []


@pytest.mark.parametrize(
    "arn, opening",
    [
        ("arn:aws:s3:::*", "every bucket"),
        ("arn:aws:s3:::*/days-to-sell/*", "every bucket"),
        ("arn:aws:iam::*:role/reader", "any account"),
        ("arn:aws:iam::111122223333:role/*", "every role"),
        ("arn:aws:kms:*:*:key/*", "any region and account"),
        ("arn:aws:kms:eu-west-2:111122223333:key/*", "every key"),
        ("arn:aws:secretsmanager:eu-west-2:111122223333:secret:*", "every secret"),
        ("arn:*:s3:::bundles/*", "any partition"),
        ("arn:aws:s3?:::bundles/*", "any service"),
        ("arn:aws:iam::111122223333:*/reader", "any resource type"),
        ("arn:aws:sns:eu-west-2:111122223333:*", "every resource"),
        ("s3:*", "a wildcard that is not an ARN"),
    ],
)
def test_a_resource_arn_that_is_a_wildcard_where_a_name_belongs_fails(arn, opening):
    found = violations(iam.no_wildcards, resource(t.IAM_POLICY, {"policy": doc(allow("s3:GetObject", [BUCKET, arn]))}))
    assert found == [f"policy: statement 'S' allows Resource {arn!r}, which matches {opening}"]


@pytest.mark.parametrize(
    "arn",
    [
        f"{BUCKET}/days-to-sell/*",  # the writer and reader policies
        "arn:aws:s3:::pricing-artifacts/days-to-sell/days_to_sell-*-py3-none-any.whl",  # training packages
        "arn:aws:secretsmanager:eu-west-2:111122223333:secret:airflow/connections/*",  # the secrets reader
        "arn:aws:iam::111122223333:role/service-role/*",
        "arn:aws:logs:eu-west-2:111122223333:log-group:/aws/databricks/*",
    ],
)
def test_a_wildcard_under_a_named_bucket_or_prefix_passes(arn):
    assert violations(iam.no_wildcards, resource(t.IAM_POLICY, {"policy": doc(allow("s3:GetObject", arn))})) == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_committed_stacks_grants_pass(real_plan, stack):
    """Every wildcard the stacks' own documents use is under a named bucket or prefix."""
    granting = [r for r in real_plan(stack).resources if r.type in iam.DOCUMENT_PROPERTIES or r.type == t.IAM_ROLE]
    assert granting
    for r in granting:
        assert violations(iam.no_wildcards, resource(r.type, r.inputs, name=r.name)) == [], r.name


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


def test_a_role_assumed_with_a_service_account_token_is_a_reader_whatever_its_name():
    role = resource(t.IAM_ROLE, {"name": "serving", "assumeRolePolicy": GOOD_TRUST}, name="days-to-sell-serving")
    grant = resource(
        t.IAM_ROLE_POLICY, {"role": "serving", "policy": doc(allow("s3:PutObject"))}, name="days-to-sell-serving-put"
    )
    found = violations(iam.reader_get_only, [role, grant])
    assert found == [
        "IRSA role 'days-to-sell-serving': days-to-sell-serving-put.policy statement 'S' allows ['s3:PutObject']"
    ]


@pytest.mark.parametrize("action", ["sts:AssumeRoleWith*", "sts:*", "*"])
def test_a_trust_that_allows_web_identity_by_a_wildcard_makes_a_reader_too(action):
    trust_policy = doc({"Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": action})
    role = resource(
        t.IAM_ROLE,
        {
            "name": "r",
            "assumeRolePolicy": trust_policy,
            "inlinePolicies": [{"name": "w", "policy": doc(allow("s3:PutObject"))}],
        },
        name="anything",
    )
    assert "s3:PutObject" in violations(iam.reader_get_only, role)[0]


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
        {"name": "r", "assumeRolePolicy": GOOD_TRUST, "managedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
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


@pytest.mark.parametrize("action", ["sts:AssumeRoleWith*", "sts:*", "*", ["sts:AssumeRoleWithWebIdentity", "sts:Tag*"]])
def test_a_trust_allowing_web_identity_through_a_wildcard_action_is_judged(action):
    """With no condition, any ServiceAccount of the cluster could assume such a role."""
    loose = doc({"Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": action})
    found = violations(iam.irsa_single_service_account, resource(t.IAM_ROLE, {"assumeRolePolicy": loose}))
    assert any("name the action 'sts:AssumeRoleWithWebIdentity'" in f for f in found)
    assert any("exactly one 'system:serviceaccount" in f for f in found)


def test_a_not_action_that_spares_web_identity_is_judged():
    loose = doc(
        {"Effect": "Allow", "Principal": {"Federated": OIDC}, "NotAction": "iam:*", "Condition": GOOD_CONDITIONS}
    )
    found = violations(iam.irsa_single_service_account, resource(t.IAM_ROLE, {"assumeRolePolicy": loose}))
    assert found and "everything but ['iam:*']" in found[0]


def test_a_trust_for_everyone_is_judged():
    loose = doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRoleWithWebIdentity"})
    found = violations(iam.irsa_single_service_account, resource(t.IAM_ROLE, {"assumeRolePolicy": loose}))
    assert found and "exactly one OIDC provider" in found[0]


def test_two_statements_trusting_two_service_accounts_fail_together():
    other = {
        "StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:default:anything",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    }
    statements = [
        {"Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": c}
        for c in (GOOD_CONDITIONS, other)
    ]
    found = violations(iam.irsa_single_service_account, resource(t.IAM_ROLE, {"assumeRolePolicy": doc(*statements)}))
    assert len(found) == 1 and "2 statements trust 2 ServiceAccounts" in found[0]
    assert SUBJECT in found[0] and "system:serviceaccount:default:anything" in found[0]


def test_a_trust_in_another_clusters_provider_fails(stack_kubernetes):
    stack_kubernetes["oidcProviderArn"] = (
        "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-2.amazonaws.com/id/OTHER"
    )
    found = violations(iam.irsa_single_service_account, resource(t.IAM_ROLE, {"assumeRolePolicy": GOOD_TRUST}))
    assert found == [
        f"assumeRolePolicy: a statement trusts OIDC provider {OIDC!r}, not the stack's cluster "
        f"(kubernetes.oidcProviderArn {stack_kubernetes['oidcProviderArn']!r})"
    ]


def test_the_provider_is_read_from_the_stack_config_the_cli_passes(monkeypatch):
    monkeypatch.undo()  # the real stack_config, fed like the CLI feeds it
    monkeypatch.setenv(
        "PULUMI_CONFIG", json.dumps({"model-platform:kubernetes": json.dumps({"oidcProviderArn": OIDC})})
    )
    assert iam.stack_oidc_provider() == OIDC
