"""IAM: no role, user or group gets admin power, by any of the paths IAM offers.

Permissions reach an identity in many ways: a role's ``inlinePolicies`` and
``managedPolicyArns``, a RolePolicy/UserPolicy/GroupPolicy, a
Role/User/GroupPolicyAttachment, a PolicyAttachment (to roles, users and
groups at once), the ``*PolicyAttachmentsExclusive`` resources, an SSO
permission set's ManagedPolicyAttachment. Each grant is judged where it is
made:

* a policy document gives admin power when an Allow lets every action
  (``*``, ``*:*``, NotAction) or an action that grants more (``iam:Put*Policy``,
  ``iam:Attach*Policy``, ``iam:PassRole``, ``sts:AssumeRole``, ``iam:*``, ...)
  on every resource (``*``, NotResource, or an ARN whose name is a wildcard);
* an AWS-managed policy gives it when it is AdministratorAccess*,
  PowerUserAccess, IAMFullAccess or any ``*FullAccess``;
* a customer-managed policy ARN is judged by the stack's own Policy it names
  (joined by the engine's dependency, or by name in one of the stack's
  accounts); one the stack does not declare cannot be reviewed here and is
  refused unless the policy config lists it in ``allowedPolicyArns``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from model_platform_policy import types as t
from model_platform_policy.iam import Statement, action_matches, one_or_many, resource_wildcard, statements_of
from model_platform_policy.principals import named_accounts
from model_platform_policy.rules import Config, stack_policy, strings
from model_platform_policy.values import UNKNOWN, get, items, json_document, known

#: Actions with which an identity grants itself (or a resource it controls) more than it has.
ESCALATION_ACTIONS = (
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:AddUserToGroup",
    "iam:PassRole",
    "sts:AssumeRole",
)
ADMIN_MANAGED_POLICIES = frozenset({"PowerUserAccess", "IAMFullAccess", "SystemAdministrator"})
MANAGED_POLICY_ARN = re.compile(r"^arn:[^:]+:iam::aws:policy/(?:.*/)?([^/]+)$")
CUSTOMER_POLICY_ARN = re.compile(r"^arn:[^:]+:iam::(\d{12}):policy/(?:.*/)?([^/]+)$")
SSO_MANAGED_POLICY_ATTACHMENT = "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment"

#: Documents granted in place: type -> (document property, identity kind, identity property).
INLINE_GRANTS: dict[str, tuple[str, str, str]] = {
    t.IAM_ROLE_POLICY: ("policy", "role", "role"),
    t.IAM_USER_POLICY: ("policy", "user", "user"),
    t.IAM_GROUP_POLICY: ("policy", "group", "group"),
}
#: Policies attached by ARN: type -> (ARN property, [(identity kind, identity property)]).
ATTACHMENTS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    t.IAM_ROLE_POLICY_ATTACHMENT: ("policyArn", (("role", "role"),)),
    t.IAM_USER_POLICY_ATTACHMENT: ("policyArn", (("user", "user"),)),
    t.IAM_GROUP_POLICY_ATTACHMENT: ("policyArn", (("group", "group"),)),
    t.IAM_POLICY_ATTACHMENT: ("policyArn", (("role", "roles"), ("user", "users"), ("group", "groups"))),
    t.IAM_ROLE_POLICY_ATTACHMENTS_EXCLUSIVE: ("policyArns", (("role", "roleName"),)),
    t.IAM_USER_POLICY_ATTACHMENTS_EXCLUSIVE: ("policyArns", (("user", "userName"),)),
    t.IAM_GROUP_POLICY_ATTACHMENTS_EXCLUSIVE: ("policyArns", (("group", "groupName"),)),
    SSO_MANAGED_POLICY_ATTACHMENT: ("managedPolicyArn", (("permission set", "permissionSetArn"),)),
}


@dataclass(frozen=True)
class Grant:
    """One path by which permissions reach an identity: a document in place, or a policy ARN."""

    source: PolicyResource
    where: str
    grantee: str
    document: Any = None
    arn: Any = None
    #: The property whose engine dependencies may name the stack's Policy behind ``arn``.
    arn_property: str = ""


def _text(value: Any) -> str:
    return "an unknown value" if value is UNKNOWN else repr(value)


def _grantees(resource: PolicyResource, identities: tuple[tuple[str, str], ...]) -> str:
    names = []
    for kind, prop in identities:
        for value in items(known(lambda: get(resource.props, prop))) or [known(lambda: get(resource.props, prop))]:
            if value is not None:
                names.append(f"{kind} {_text(value)}")
    return ", ".join(names) or resource.name


def grants(resources: list[PolicyResource]) -> Iterator[Grant]:
    """Every grant of every identity the stack declares or attaches to."""
    for r in resources:
        if r.resource_type == t.IAM_ROLE:
            role = f"role {_text(known(lambda: get(r.props, 'name', default=r.name)))}"
            inline = known(lambda: items(get(r.props, "inlinePolicies")))
            for i, policy in enumerate(inline if inline is not UNKNOWN else []):
                yield Grant(r, f"inlinePolicies[{i}]", role, document=known(lambda: get(policy, "policy")))
            arns = known(lambda: one_or_many(get(r.props, "managedPolicyArns")))
            for i, arn in enumerate([UNKNOWN] if arns is UNKNOWN else arns):
                yield Grant(r, f"managedPolicyArns[{i}]", role, arn=arn, arn_property="managedPolicyArns")
        elif r.resource_type in INLINE_GRANTS:
            prop, kind, identity = INLINE_GRANTS[r.resource_type]
            yield Grant(r, prop, _grantees(r, ((kind, identity),)), document=known(lambda: get(r.props, prop)))
        elif r.resource_type in ATTACHMENTS:
            prop, identities = ATTACHMENTS[r.resource_type]
            value = known(lambda: get(r.props, prop))
            arns = [value] if value is UNKNOWN or isinstance(value, str) else list(one_or_many(value))
            for i, arn in enumerate(arns):
                where = prop if isinstance(value, str) or value is UNKNOWN else f"{prop}[{i}]"
                yield Grant(r, where, _grantees(r, identities), arn=arn, arn_property=prop)


# --------------------------------------------------------------------------- judging documents


def _every_resource(statement: Statement) -> Optional[str]:
    if statement.not_resources:
        return f"every resource but {list(statement.not_resources)}"
    for resource in statement.resources:
        if resource == "*" or resource_wildcard(resource):
            return repr(resource)
    return None


def admin_problems(document: Any) -> Iterator[str]:
    """How a policy document gives admin power: every action, or an escalating one, on every resource."""
    for statement in statements_of(json_document(document)):
        if statement.effect != "Allow":
            continue
        scope = _every_resource(statement)
        if scope is None:
            continue
        if statement.not_actions:
            yield f"{statement.label} allows every action but {list(statement.not_actions)} on {scope}"
        elif any(a in ("*", "*:*") for a in statement.actions):
            yield f"{statement.label} allows every action on {scope}"
        else:
            escalating = [e for e in ESCALATION_ACTIONS if any(action_matches(a, e) for a in statement.actions)]
            if escalating:
                yield f"{statement.label} allows {escalating} on {scope}, with which it can grant itself anything"


def managed_admin(arn: str) -> Optional[str]:
    """The name of an AWS-managed policy that gives admin or full-service power, or None."""
    found = MANAGED_POLICY_ARN.match(arn)
    if not found:
        return None
    name = found[1]
    if name in ADMIN_MANAGED_POLICIES or name.startswith("AdministratorAccess") or name.endswith("FullAccess"):
        return name
    return None


def _stack_policies(grant: Grant, policies: list[PolicyResource], accounts: frozenset[str]) -> list[PolicyResource]:
    """The stack's Policies ``grant.arn`` names: by engine dependency, by ARN, or by name in a named account."""
    depended = {d.urn for d in grant.source.property_dependencies.get(grant.arn_property, [])}
    candidates = [p for p in policies if p.urn in depended]
    arn = grant.arn
    if arn is UNKNOWN:
        return candidates
    found = CUSTOMER_POLICY_ARN.match(str(arn))
    by_arn = []
    for p in policies:
        name = known(lambda: get(p.props, "name"))
        if arn == known(lambda: get(p.props, "arn")):
            by_arn.append(p)
        elif found and name == found[2] and (found[1] in accounts or p in candidates):
            by_arn.append(p)
    if by_arn:
        return by_arn
    return candidates if len(candidates) == 1 else []


def grant_problems(grant: Grant, policies: list[PolicyResource], config: Config) -> Iterator[str]:
    if grant.arn is None:
        if grant.document is UNKNOWN:
            return
        yield from admin_problems(grant.document)
        return
    if isinstance(grant.arn, str):
        admin = managed_admin(grant.arn)
        if admin:
            yield f"attaches the AWS-managed {admin}, which gives admin power over its services"
            return
        if MANAGED_POLICY_ARN.match(grant.arn) or grant.arn in config["allowedPolicyArns"]:
            return
    declared = _stack_policies(grant, policies, named_accounts())
    if not declared:
        yield (
            f"attaches {_text(grant.arn)}, a policy this stack does not declare: its power cannot be reviewed "
            "(declare it, or list it in the policy's allowedPolicyArns)"
        )
    for policy in declared:
        document = known(lambda: get(policy.props, "policy"))
        if document is not UNKNOWN:
            for problem in admin_problems(document):
                yield f"attaches Policy {policy.name!r}, whose {problem}"


def _admin_reach(args: StackValidationArgs, report: ReportViolation, config: Config) -> None:
    policies = [r for r in args.resources if r.resource_type == t.IAM_POLICY]
    for grant in grants(args.resources):
        for problem in grant_problems(grant, policies, config):
            report(f"{grant.grantee}: {grant.where} {problem}", grant.source.urn)


no_admin_reach = stack_policy(
    "iam-no-admin-reach",
    "No role, user, group or SSO permission set gets admin power by any path (inline policies, RolePolicy/"
    "UserPolicy/GroupPolicy, managedPolicyArns, Role/User/GroupPolicyAttachment, PolicyAttachment, "
    "*PolicyAttachmentsExclusive, ssoadmin ManagedPolicyAttachment): no Allow of every action (or NotAction), or of "
    "an action that grants more (iam:Put*Policy, iam:Attach*Policy, iam:PassRole, sts:AssumeRole, iam:*), on every "
    "resource; no AdministratorAccess, PowerUserAccess, IAMFullAccess or *FullAccess; no policy ARN the stack does "
    "not declare unless allowedPolicyArns lists it. Fix: grant the exact actions on the exact ARNs "
    "(infra/documents/iam.py) in a Policy the stack declares.",
    _admin_reach,
    settings=[
        strings(
            "allowedPolicyArns",
            [],
            "Customer-managed policy ARNs outside the stack that were reviewed and may be attached.",
        )
    ],
)

POLICIES = [no_admin_reach]
