"""iam-no-admin-reach over the Analyzer protocol: no role, user or group gets admin power by any path IAM offers."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from model_platform_policy.iam_reach import ATTACHMENTS, INLINE_GRANTS
from tests.policy_programs import (
    ACCOUNT,
    OTHER_ACCOUNT,
    Res,
    allow,
    pack,  # noqa: F401  (the session's pack fixture)
    policy_document,
)

RULE = "iam-no-admin-reach"
PULUMI_AWS = Path(next(iter(importlib.util.find_spec("pulumi_aws").submodule_search_locations)))
ROLE = Res("aws:iam/role:Role", "training-role", {"name": "training"})
ADMIN = policy_document(allow("*", "*"))
NARROW = policy_document(allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::bundles/days-to-sell/*"))
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
ROLE_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def policy(document: str, name: str = "extra") -> Res:
    return Res("aws:iam/policy:Policy", name, {"name": name, "policy": document})


def attachment_inputs(resource_type: str, arn: str) -> dict[str, Any]:
    """The inputs of an attachment of ``arn`` to the identity ``training`` (a list where the type takes several)."""
    prop, identities = ATTACHMENTS[resource_type]
    _kind, identity = identities[0]
    several = resource_type == "aws:iam/policyAttachment:PolicyAttachment"
    return {identity: ["training"] if several else "training", prop: [arn] if prop.endswith("Arns") else arn}


# --------------------------------------------------------------------------- every path


@pytest.mark.parametrize("resource_type", sorted(INLINE_GRANTS))
def test_an_inline_admin_document_is_refused_on_every_identity(pack, resource_type):
    document_prop, _kind, identity = INLINE_GRANTS[resource_type]
    grant = Res(resource_type, "grant", {identity: "training", document_prop: ADMIN})
    found = pack.check([grant])
    assert [f.resource for f in found.of(RULE)] == ["grant"]
    assert "allows every action on '*'" in found.messages(RULE)[0]


def test_an_admin_document_inline_on_a_role_is_refused(pack):
    role = Res("aws:iam/role:Role", "r", {"name": "training", "inlinePolicies": [{"name": "x", "policy": ADMIN}]})
    assert pack.check([role]).messages(RULE) == [
        "role 'training': inlinePolicies[0] statement 'Grant' allows every action on '*'"
    ]


@pytest.mark.parametrize("resource_type", sorted(ATTACHMENTS))
def test_an_aws_managed_admin_policy_is_refused_on_every_attachment_type(pack, resource_type):
    found = pack.check([Res(resource_type, "attach", attachment_inputs(resource_type, ADMINISTRATOR_ACCESS))])
    assert [f.resource for f in found.of(RULE)] == ["attach"]
    assert "AWS-managed AdministratorAccess" in found.messages(RULE)[0]


@pytest.mark.parametrize(
    "name",
    [
        "AdministratorAccess",
        "PowerUserAccess",
        "IAMFullAccess",
        "AmazonS3FullAccess",
        "job-function/SystemAdministrator",
    ],
)
def test_each_admin_or_full_access_managed_policy_is_refused_on_a_role(pack, name):
    role = Res("aws:iam/role:Role", "r", {"name": "training", "managedPolicyArns": [f"arn:aws:iam::aws:policy/{name}"]})
    found = pack.check([role])
    assert len(found.of(RULE)) == 1 and name.rsplit("/", 1)[-1] in found.messages(RULE)[0]


def test_a_narrow_aws_managed_policy_passes(pack):
    narrow = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    role = Res("aws:iam/role:Role", "r", {"name": "t", "managedPolicyArns": [narrow]})
    assert pack.check([role]).of(RULE) == []


def test_an_attached_stack_policy_is_judged_by_its_document(pack):
    arn = f"arn:aws:iam::{ACCOUNT}:policy/extra"
    attach = Res(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "attach",
        {"role": "training", "policyArn": arn},
        deps={"policyArn": ["extra"], "role": ["training-role"]},
    )
    found = pack.check([ROLE, policy(ADMIN), attach])
    assert found.messages(RULE) == [
        "role 'training': policyArn attaches Policy 'extra', whose statement 'Grant' allows every action on '*'"
    ]
    assert pack.check([ROLE, policy(NARROW), attach]).of(RULE) == []


def test_a_stack_policy_is_found_by_name_when_the_engine_gives_no_dependency(pack):
    attach = Res(
        "aws:iam/policyAttachment:PolicyAttachment",
        "attach",
        {"roles": ["training"], "users": ["ci"], "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/path/extra"},
    )
    found = pack.check([policy(ADMIN), attach])
    assert found.messages(RULE) == [
        "role 'training', user 'ci': policyArn attaches Policy 'extra', whose statement 'Grant' allows every action "
        "on '*'"
    ]


def test_a_policy_the_stack_does_not_declare_cannot_be_reviewed_unless_allowed(pack):
    outside = f"arn:aws:iam::{ACCOUNT}:policy/SomebodysAdmin"
    attach = Res(ROLE_ATTACHMENT, "attach", {"role": "training", "policyArn": outside})
    found = pack.check([attach])
    assert len(found.of(RULE)) == 1 and "a policy this stack does not declare" in found.messages(RULE)[0]
    assert pack.check([attach], settings={RULE: {"allowedPolicyArns": [outside]}}).of(RULE) == []


def test_a_same_named_policy_in_another_account_is_not_the_stacks(pack):
    attach = Res(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "attach",
        {"role": "training", "policyArn": f"arn:aws:iam::{OTHER_ACCOUNT}:policy/extra"},
    )
    found = pack.check([policy(NARROW), attach])
    assert len(found.of(RULE)) == 1 and "does not declare" in found.messages(RULE)[0]


@pytest.mark.parametrize(
    "statement, expected",
    [
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "every action but ['iam:*'] on '*'"),
        (allow("*:*", "*"), "every action on '*'"),
        (allow("iam:*", "*"), "'iam:PutRolePolicy'"),
        (allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/*"), "'iam:PassRole'"),
        (allow("sts:AssumeRole", "*"), "'sts:AssumeRole'"),
        (allow("iam:Put*Policy", "*"), "with which it can grant itself anything"),
        ({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::b"}, "every resource but"),
    ],
)
def test_every_shape_of_admin_power_is_refused(pack, statement, expected):
    grant = Res("aws:iam/rolePolicy:RolePolicy", "grant", {"role": "training", "policy": policy_document(statement)})
    found = pack.check([grant])
    assert len(found.of(RULE)) == 1 and expected in found.messages(RULE)[0]


@pytest.mark.parametrize(
    "statement",
    [
        allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::bundles/days-to-sell/*"),
        # conditions on an Allow narrow it: the project's conditional-write writer policy
        allow("s3:PutObject", "arn:aws:s3:::bundles/days-to-sell/*", Condition={"Null": {"s3:if-none-match": "false"}}),
        allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/model-platform-prod-training"),
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    ],
    ids=["named", "conditional-write", "pass-one-role", "deny"],
)
def test_named_grants_pass(pack, statement):
    grant = Res("aws:iam/rolePolicy:RolePolicy", "grant", {"role": "training", "policy": policy_document(statement)})
    assert pack.check([grant]).of(RULE) == []


def test_admin_power_is_mandatory_in_every_environment(pack):
    attach = {"group": "g", "policyArn": ADMINISTRATOR_ACCESS}
    program = [Res("aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "a", attach)]
    for environment in ("dev", "staging", "prod"):
        assert [f.level for f in pack.check(program, environment).of(RULE)] == ["mandatory"], environment


# --------------------------------------------------------------------------- the tables match the SDK


def _sdk_source(token: str) -> str:
    module, resource = token.split(":")[1].split("/")
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", resource).lower()
    return (PULUMI_AWS / module / f"{snake}.py").read_text()


@pytest.mark.parametrize("token", sorted({**INLINE_GRANTS, **ATTACHMENTS}))
def test_each_path_and_its_properties_exist_in_the_installed_pulumi_aws(token):
    source = _sdk_source(token)
    assert f"'{token}'" in source or f'"{token}"' in source
    if token in INLINE_GRANTS:
        document, _kind, identity = INLINE_GRANTS[token]
        props = [document, identity]
    else:
        arn_prop, identities = ATTACHMENTS[token]
        props = [arn_prop, *(p for _kind, p in identities)]
    for prop in props:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", prop).lower()
        assert f'__props__.__dict__["{snake}"]' in source, (token, prop)
