"""aws-resource-policy-principals over the Analyzer protocol: every resource policy and trust policy lets in only
principals the stack vouches for, whatever type carries the policy."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from model_platform_policy.principals import PRINCIPAL_FIELDS, RESOURCE_POLICY_DOCUMENTS
from tests.policy_programs import (
    ACCOUNT,
    OIDC_PROVIDER,
    OTHER_ACCOUNT,
    Res,
    allow,
    deny,
    pack,  # noqa: F401  (the session's pack fixture)
    policy_document,
)

RULE = "aws-resource-policy-principals"
#: The installed pulumi_aws, found without importing it (its import takes seconds).
PULUMI_AWS = Path(next(iter(importlib.util.find_spec("pulumi_aws").submodule_search_locations)))
OWN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/model-platform-prod-training"
FOREIGN_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/intruder"


def holder(resource_type: str, document: str) -> Res:
    """A resource of ``resource_type`` carrying ``document`` where that type keeps its policy."""
    path = RESOURCE_POLICY_DOCUMENTS[resource_type][0]
    inputs: dict[str, Any] = {}
    node = inputs
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = document
    return Res(resource_type, "holder", inputs)


PUBLIC = policy_document(allow("s3:GetObject", "arn:aws:s3:::b/*", Principal="*"))


@pytest.mark.parametrize("resource_type", sorted(RESOURCE_POLICY_DOCUMENTS))
def test_every_type_with_a_resource_policy_refuses_everyone(pack, resource_type):
    found = pack.check([holder(resource_type, PUBLIC)])
    assert [(f.level, f.resource) for f in found.of(RULE)] == [("mandatory", "holder")]
    assert "Principal '*' lets in everyone" in found.messages(RULE)[0]


@pytest.mark.parametrize(
    "principal, expected",
    [
        ({"AWS": "*"}, "Principal AWS '*' lets in everyone"),
        ({"AWS": ["arn:aws:iam::*:root"]}, "lets in everyone"),
        ({"Service": "*"}, "Principal Service '*' lets in everyone"),
        ({"AWS": FOREIGN_ROLE}, f"in account {OTHER_ACCOUNT}, which the stack does not name"),
        ({"AWS": OTHER_ACCOUNT}, f"in account {OTHER_ACCOUNT}"),
        ({"AWS": f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/r/s"}, f"in account {OTHER_ACCOUNT}"),
        ({"AWS": "AROAEXAMPLEUNIQUEID"}, "names no account this stack can check"),
        ({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}, "CanonicalUser"),
        ({"Federated": "accounts.google.com"}, "require StringEquals accounts.google.com:aud"),
    ],
)
def test_a_public_or_foreign_principal_is_refused(pack, principal, expected):
    document = policy_document(allow("kms:Decrypt", "*", Principal=principal))
    found = pack.check([holder("aws:kms/key:Key", document)])
    assert len(found.of(RULE)) == 1 and expected in found.messages(RULE)[0]


def test_not_principal_with_allow_is_refused(pack):
    document = policy_document(allow("secretsmanager:GetSecretValue", "*", NotPrincipal={"AWS": OWN_ROLE}))
    found = pack.check([holder("aws:secretsmanager/secretPolicy:SecretPolicy", document)])
    assert found.messages(RULE) == [
        "policy: statement 'Grant' allows NotPrincipal: everyone but the principals it names"
    ]


@pytest.mark.parametrize(
    "statement",
    [
        allow("kms:Decrypt", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("s3:GetObject", "arn:aws:s3:::b/*", Principal={"AWS": [OWN_ROLE, ACCOUNT]}),
        allow("sts:AssumeRole", Principal={"Service": "ec2.amazonaws.com"}),
        # Deny statements only take access away: the project's TLS-only and immutability statements
        deny(
            "s3:*",
            ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            Principal="*",
            Condition={"Bool": {"aws:SecureTransport": "false"}},
        ),
        deny(
            ["s3:DeleteObject*", "s3:PutObjectAcl"],
            "arn:aws:s3:::b/m/*",
            Principal="*",
            Condition={"ArnEquals": {"aws:PrincipalArn": OWN_ROLE}},
        ),
        deny("s3:*", "*", NotPrincipal={"AWS": OWN_ROLE}),
        allow(
            "sts:AssumeRoleWithWebIdentity",
            Principal={"Federated": "accounts.google.com"},
            Condition={"StringEquals": {"accounts.google.com:aud": "client-id"}},
        ),
    ],
    ids=["own-root", "own-role", "service", "tls-deny", "immutability-deny", "deny-not-principal", "google-with-aud"],
)
def test_principals_of_the_stacks_own_account_services_and_denies_pass(pack, statement):
    assert pack.check([holder("aws:s3/bucketPolicy:BucketPolicy", policy_document(statement))]).of(RULE) == []


def test_every_statement_of_a_trust_policy_is_judged_not_only_the_web_identity_one(pack):
    irsa = {
        "Sid": "AssumeFromServiceAccount",
        "Effect": "Allow",
        "Principal": {"Federated": OIDC_PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    backdoor = {"Sid": "Backdoor", "Effect": "Allow", "Principal": {"AWS": FOREIGN_ROLE}, "Action": "sts:AssumeRole"}
    role = Res("aws:iam/role:Role", "reader", {"assumeRolePolicy": policy_document(irsa, backdoor)})
    found = pack.check([role])
    assert found.messages(RULE) == [
        f"assumeRolePolicy: statement 'Backdoor': Principal AWS {FOREIGN_ROLE!r} is in account {OTHER_ACCOUNT}, which "
        "the stack does not name (model-platform:aws.accountId, aws:allowedAccountIds, or the policy's trustedAccounts)"
    ]
    assert found.of(RULE)[0].level == "mandatory"


def test_a_trust_in_another_accounts_oidc_provider_is_refused(pack):
    foreign_provider = OIDC_PROVIDER.replace(ACCOUNT, OTHER_ACCOUNT)
    trust = {"Effect": "Allow", "Principal": {"Federated": foreign_provider}, "Action": "sts:AssumeRoleWithWebIdentity"}
    found = pack.check([Res("aws:iam/role:Role", "reader", {"assumeRolePolicy": policy_document(trust)})])
    assert len(found.of(RULE)) == 1 and f"account {OTHER_ACCOUNT}" in found.messages(RULE)[0]


def test_a_partner_account_is_let_in_once_the_policy_config_trusts_it(pack):
    send = allow("sqs:SendMessage", "*", Principal={"AWS": FOREIGN_ROLE})
    program = [holder("aws:sqs/queuePolicy:QueuePolicy", policy_document(send))]
    assert pack.check(program).of(RULE)
    assert pack.check(program, settings={RULE: {"trustedAccounts": [OTHER_ACCOUNT]}}).of(RULE) == []


@pytest.mark.parametrize(
    "resource_type, inputs, expected",
    [
        ("aws:lambda/permission:Permission", {"action": "lambda:InvokeFunction", "principal": "*"}, "lets in everyone"),
        ("aws:lambda/permission:Permission", {"action": "lambda:Invoke", "principal": OTHER_ACCOUNT}, OTHER_ACCOUNT),
        ("aws:kms/grant:Grant", {"keyId": "k", "granteePrincipal": FOREIGN_ROLE}, OTHER_ACCOUNT),
    ],
)
def test_a_principal_named_in_a_field_is_judged_too(pack, resource_type, inputs, expected):
    found = pack.check([Res(resource_type, "grant", inputs)])
    assert len(found.of(RULE)) == 1 and expected in found.messages(RULE)[0]
    own = {**inputs, **{k: OWN_ROLE for k in ("principal", "granteePrincipal") if k in inputs}}
    assert pack.check([Res(resource_type, "grant", own)]).of(RULE) == []


def test_public_principals_are_mandatory_in_every_environment(pack):
    program = [holder("aws:s3/bucketPolicy:BucketPolicy", PUBLIC)]
    for environment in ("dev", "staging", "prod"):
        assert [f.level for f in pack.check(program, environment).of(RULE)] == ["mandatory"], environment


# --------------------------------------------------------------------------- the table matches the SDK


def _sdk_source(token: str) -> str:
    """The installed pulumi-aws module that declares ``token`` (``aws:s3control/accessPointPolicy:X``)."""
    module, resource = token.split(":")[1].split("/")
    package = "lambda_" if module == "lambda" else module
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", resource).lower()
    return (PULUMI_AWS / package / f"{snake}.py").read_text()


@pytest.mark.parametrize("token", sorted({**RESOURCE_POLICY_DOCUMENTS, **PRINCIPAL_FIELDS}))
def test_each_judged_type_and_property_exists_in_the_installed_pulumi_aws(token):
    source = _sdk_source(token)
    assert f"'{token}'" in source or f'"{token}"' in source
    paths = RESOURCE_POLICY_DOCUMENTS.get(token) or tuple((f,) for f in PRINCIPAL_FIELDS[token])
    for path in paths:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", path[0]).lower()
        assert f'__props__.__dict__["{snake}"]' in source, (token, path)
