"""IAM: no wildcard grants, reader roles only get objects, IRSA roles trust exactly one ServiceAccount."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from model_platform_policy import types as t
from model_platform_policy.rules import (
    Config,
    resource_policy,
    stack_policy,
    strings,
    text,
)
from model_platform_policy.values import get, items, json_document

WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
STS_AUDIENCE = "sts.amazonaws.com"
SERVICE_ACCOUNT_SUBJECT = re.compile(
    r"^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
)
#: AWS-managed policies that are wildcard grants under another name.
BROAD_MANAGED_POLICIES = frozenset({"AdministratorAccess", "PowerUserAccess", "IAMFullAccess", "AmazonS3FullAccess"})
#: Where each type keeps its policy documents (engine property names).
DOCUMENT_PROPERTIES = {
    t.IAM_POLICY: "policy",
    t.IAM_ROLE_POLICY: "policy",
    t.IAM_USER_POLICY: "policy",
    t.IAM_GROUP_POLICY: "policy",
    t.BUCKET_POLICY: "policy",
}


def _strings(value: Any) -> tuple[str, ...]:
    """IAM's "one string or a list of strings"."""
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in items(value))


@dataclass(frozen=True)
class Statement:
    """One IAM statement, with IAM's string-or-list fields normalised to tuples."""

    sid: str
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    principal: Any
    conditions: Mapping[str, Mapping[str, Any]]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Statement":
        return cls(
            sid=str(raw.get("Sid", "")),
            effect=str(raw.get("Effect", "")),
            actions=_strings(raw.get("Action")),
            not_actions=_strings(raw.get("NotAction")),
            resources=_strings(raw.get("Resource")),
            not_resources=_strings(raw.get("NotResource")),
            principal=raw.get("Principal"),
            conditions=raw.get("Condition") or {},
        )

    @property
    def label(self) -> str:
        return f"statement {self.sid!r}" if self.sid else "a statement"

    @property
    def applies_to_everyone(self) -> bool:
        if self.principal == "*":
            return True
        return isinstance(self.principal, Mapping) and "*" in _strings(self.principal.get("AWS"))

    def principals(self, kind: str) -> tuple[str, ...]:
        return _strings(self.principal.get(kind)) if isinstance(self.principal, Mapping) else ()

    def condition_values(self, operator: str, key: str) -> tuple[str, ...]:
        block = self.conditions.get(operator) or {}
        return _strings(block.get(key)) if isinstance(block, Mapping) else ()


def statements_of(document: Any) -> list[Statement]:
    """The statements of a parsed policy document (``Statement`` may be one object or a list)."""
    if not isinstance(document, Mapping):
        return []
    raw = document.get("Statement")
    raw_list = [raw] if isinstance(raw, Mapping) else items(raw)
    return [Statement.parse(s) for s in raw_list if isinstance(s, Mapping)]


def documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(where, policy text)`` of every permission document a resource carries."""
    if resource_type in DOCUMENT_PROPERTIES:
        key = DOCUMENT_PROPERTIES[resource_type]
        yield key, get(props, key)
    if resource_type == t.IAM_ROLE:
        for i, inline in enumerate(items(get(props, "inlinePolicies"))):
            yield f"inlinePolicies[{i}]", get(inline, "policy")


# --------------------------------------------------------------------------- no wildcards


def _wildcard_problems(statement: Statement) -> Iterator[str]:
    if statement.effect != "Allow":
        return
    wild = [a for a in statement.actions if "*" in a or "?" in a]
    if wild:
        yield f"{statement.label} allows wildcard actions {wild}"
    if statement.not_actions:
        yield f"{statement.label} allows everything but {list(statement.not_actions)} (NotAction)"
    if "*" in statement.resources:
        yield f"{statement.label} allows Resource '*'"
    if statement.not_resources:
        yield f"{statement.label} allows every resource but {list(statement.not_resources)} (NotResource)"
    if statement.applies_to_everyone:
        yield f"{statement.label} allows Principal '*'"


def _broad_managed_policies(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    arns = _strings(get(props, "managedPolicyArns")) if resource_type == t.IAM_ROLE else ()
    if resource_type == t.IAM_ROLE_POLICY_ATTACHMENT:
        arns = _strings(get(props, "policyArn"))
    return [a for a in arns if a.startswith("arn:aws") and a.rsplit("/", 1)[-1] in BROAD_MANAGED_POLICIES]


def _no_wildcards(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    for where, text_ in documents(args.resource_type, args.props):
        if text_ is None:
            continue
        document = json_document(text_)
        if document is None:
            report(f"{where} is not a JSON policy document")
            continue
        for statement in statements_of(document):
            for problem in _wildcard_problems(statement):
                report(f"{where}: {problem}")
    if args.resource_type == t.IAM_ROLE:
        for statement in statements_of(json_document(get(args.props, "assumeRolePolicy"))):
            if statement.effect == "Allow" and statement.applies_to_everyone:
                report(f"assumeRolePolicy: {statement.label} lets Principal '*' assume the role")
    for arn in _broad_managed_policies(args.resource_type, args.props):
        report(f"attaches {arn}, a wildcard grant")


no_wildcards = resource_policy(
    "iam-no-wildcards",
    "IAM grants name their actions and resources: no Allow with a wildcard action ('*', 's3:*', 's3:Get*'), "
    "NotAction, Resource '*', NotResource or Principal '*', and no broad AWS-managed policy (AdministratorAccess, "
    "PowerUserAccess, ...). Fix: list the exact actions and the ARNs they apply to (infra/components/iam_documents.py "
    "builds such documents).",
    _no_wildcards,
    types=[*DOCUMENT_PROPERTIES, t.IAM_ROLE, t.IAM_ROLE_POLICY_ATTACHMENT],
)


# --------------------------------------------------------------------------- reader roles


def _links(resource: PolicyResource, prop: str, target: PolicyResource, target_prop: str) -> bool:
    """Whether ``resource.prop`` refers to ``target`` (engine dependency, or equal values)."""
    if any(d.urn == target.urn for d in resource.property_dependencies.get(prop, [])):
        return True
    value = get(resource.props, prop)
    return value is not None and value == get(target.props, target_prop)


def _role_documents(role: PolicyResource, resources: list[PolicyResource]) -> Iterator[tuple[str, Any]]:
    """``(source, document text or None for an unknown managed policy ARN)`` of every grant to ``role``."""
    for where, doc in documents(t.IAM_ROLE, role.props):
        yield f"{role.name}.{where}", doc
    for arn in _strings(get(role.props, "managedPolicyArns")):
        yield f"{role.name}.managedPolicyArns", _managed_document(arn, resources)
    for r in resources:
        if r.resource_type == t.IAM_ROLE_POLICY and _links(r, "role", role, "name"):
            yield f"{r.name}.policy", get(r.props, "policy")
        if r.resource_type == t.IAM_ROLE_POLICY_ATTACHMENT and _links(r, "role", role, "name"):
            yield f"{r.name}.policyArn", _managed_document(get(r.props, "policyArn"), resources, r)


def _managed_document(arn: Any, resources: list[PolicyResource], attachment: Optional[PolicyResource] = None) -> Any:
    for policy in resources:
        if policy.resource_type != t.IAM_POLICY:
            continue
        by_dependency = attachment is not None and any(
            d.urn == policy.urn for d in attachment.property_dependencies.get("policyArn", [])
        )
        if by_dependency or (arn is not None and arn == get(policy.props, "arn")):
            return get(policy.props, "policy")
    return None


def _reader_get_only(args: StackValidationArgs, report: ReportViolation, config: Config) -> None:
    allowed = {a.lower() for a in config["allowedActions"]}
    for role in args.resources:
        if role.resource_type != t.IAM_ROLE or not role.name.endswith(config["readerSuffix"]):
            continue
        for source, text_ in _role_documents(role, args.resources):
            if text_ is None:
                report(f"reader role {role.name!r}: {source} grants permissions this stack does not show", role.urn)
                continue
            for statement in statements_of(json_document(text_)):
                if statement.effect != "Allow":
                    continue
                extra = sorted({a for a in statement.actions if a.lower() not in allowed} | set(statement.not_actions))
                if extra:
                    report(f"reader role {role.name!r}: {source} {statement.label} allows {extra}", role.urn)


reader_get_only = stack_policy(
    "iam-reader-get-only",
    "A model's reader role (the IRSA role of its serving pods, logical name '<model>-reader') may only get "
    "objects (s3:GetObject, s3:GetObjectVersion) and decrypt them (kms:Decrypt). Fix: grant readers nothing else; "
    "writes and listings belong to the training role's writer policy.",
    _reader_get_only,
    settings=[
        strings(
            "allowedActions",
            ["s3:GetObject", "s3:GetObjectVersion", "kms:Decrypt"],
            "Actions a reader role may be allowed.",
        ),
        text("readerSuffix", "-reader", "Logical-name suffix that marks a reader role."),
    ],
)


# --------------------------------------------------------------------------- IRSA trust


def _irsa_problems(statement: Statement) -> Iterator[str]:
    federated = statement.principals("Federated")
    providers = [p for p in federated if ":oidc-provider/" in p]
    if len(providers) != 1 or len(federated) != 1:
        yield f"{statement.label} must name exactly one OIDC provider as Principal.Federated (found {list(federated)})"
        return
    issuer = providers[0].split(":oidc-provider/", 1)[1]
    subjects = statement.condition_values("StringEquals", f"{issuer}:sub")
    if statement.condition_values("StringLike", f"{issuer}:sub"):
        yield f"{statement.label} matches {issuer}:sub with StringLike; use StringEquals on one ServiceAccount"
    if len(subjects) != 1 or not SERVICE_ACCOUNT_SUBJECT.match(subjects[0]):
        yield (
            f"{statement.label} must bind StringEquals {issuer}:sub to exactly one "
            f"'system:serviceaccount:<namespace>:<name>' (found {list(subjects)})"
        )
    if statement.condition_values("StringEquals", f"{issuer}:aud") != (STS_AUDIENCE,):
        yield f"{statement.label} must require StringEquals {issuer}:aud = {STS_AUDIENCE!r}"


def _irsa_trust(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    for statement in statements_of(json_document(get(args.props, "assumeRolePolicy"))):
        if statement.effect == "Allow" and WEB_IDENTITY in statement.actions:
            for problem in _irsa_problems(statement):
                report(f"assumeRolePolicy: {problem}")


irsa_single_service_account = resource_policy(
    "iam-irsa-single-service-account",
    "A role assumed with a Kubernetes ServiceAccount token (IRSA) trusts exactly one ServiceAccount of one cluster: "
    "Principal.Federated is the cluster's OIDC provider, StringEquals '<issuer>:sub' is one "
    "'system:serviceaccount:<namespace>:<name>' and '<issuer>:aud' is 'sts.amazonaws.com'. Fix: build the trust "
    "policy with infra.components.iam_documents.irsa_trust_policy; never StringLike or '*' on the subject.",
    _irsa_trust,
    types=[t.IAM_ROLE],
)

POLICIES = [no_wildcards, reader_get_only, irsa_single_service_account]
