"""IAM: no wildcard grants, IRSA roles only get objects and trust exactly one ServiceAccount of the stack's cluster.

An IRSA role is recognised by what it is, not by its name: any role whose
trust policy lets a web identity (a Kubernetes ServiceAccount token) assume it.
"""

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

from model_platform_policy import stack_config
from model_platform_policy import types as t
from model_platform_policy.rules import (
    Config,
    resource_policy,
    stack_policy,
    strings,
)
from model_platform_policy.values import get, items, json_document

WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
STS_AUDIENCE = "sts.amazonaws.com"
WILDCARD = re.compile(r"[*?]")
ONLY_WILDCARDS = re.compile(r"^[*?]+$")
#: The parts of an ARN before its resource, in order (``arn:partition:service:region:account:resource``).
ARN_PARTS = ("partition", "service", "region", "account")
SERVICE_ACCOUNT_SUBJECT = re.compile(
    r"^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
)
#: Where each type keeps its policy documents (engine property names).
DOCUMENT_PROPERTIES = {
    t.IAM_POLICY: "policy",
    t.IAM_ROLE_POLICY: "policy",
    t.IAM_USER_POLICY: "policy",
    t.IAM_GROUP_POLICY: "policy",
    t.BUCKET_POLICY: "policy",
}


def one_or_many(value: Any) -> tuple[str, ...]:
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
    not_principal: Any
    conditions: Mapping[str, Mapping[str, Any]]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Statement":
        return cls(
            sid=str(raw.get("Sid", "")),
            effect=str(raw.get("Effect", "")),
            actions=one_or_many(raw.get("Action")),
            not_actions=one_or_many(raw.get("NotAction")),
            resources=one_or_many(raw.get("Resource")),
            not_resources=one_or_many(raw.get("NotResource")),
            principal=raw.get("Principal"),
            not_principal=raw.get("NotPrincipal"),
            conditions=raw.get("Condition") or {},
        )

    @property
    def label(self) -> str:
        return f"statement {self.sid!r}" if self.sid else "a statement"

    @property
    def applies_to_everyone(self) -> bool:
        if self.principal == "*":
            return True
        return isinstance(self.principal, Mapping) and "*" in one_or_many(self.principal.get("AWS"))

    def principals(self, kind: str) -> tuple[str, ...]:
        return one_or_many(self.principal.get(kind)) if isinstance(self.principal, Mapping) else ()

    def condition_values(self, operator: str, key: str) -> tuple[str, ...]:
        block = self.conditions.get(operator) or {}
        return one_or_many(block.get(key)) if isinstance(block, Mapping) else ()


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


def action_matches(pattern: str, action: str) -> bool:
    """Whether an IAM action pattern (``sts:AssumeRoleWith*``, case-insensitive) covers ``action``."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, action, re.IGNORECASE) is not None


def _resource_segments(service: str, region: str, account: str, resource: str) -> tuple[Optional[str], str]:
    """``(resource type or None, first name segment)`` of an ARN's resource part.

    S3 bucket ARNs (no region, no account) have no type: the bucket is the
    name. Elsewhere ``type/name...`` or ``type:name...``; a single segment
    is a bare name (an SNS topic, an SQS queue).
    """
    segments = [s for s in re.split(r"[/:]", resource) if s]
    if not segments:
        return None, ""
    if (service == "s3" and not region and not account) or len(segments) == 1:
        return None, segments[0]
    return segments[0], segments[1]


def resource_wildcard(resource: str) -> Optional[str]:
    """What a Resource pattern leaves open beyond named resources, or None.

    A wildcard may narrow within a named resource (``arn:aws:s3:::bundles/model/*``,
    ``...:secret:airflow/connections/*``) but never stand for the partition,
    service, region, account, resource type or the whole name
    (``arn:aws:s3:::*``, ``arn:aws:iam::*:role/*``, ``...:key/*``).
    """
    if not WILDCARD.search(resource):
        return None
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return "a wildcard that is not an ARN"
    wild = [name for name, value in zip(ARN_PARTS, parts[1:5]) if WILDCARD.search(value)]
    if wild:
        return f"any {' and '.join(wild)}"
    kind, name = _resource_segments(*parts[2:])
    if kind is not None and WILDCARD.search(kind):
        return "any resource type"
    if not name or ONLY_WILDCARDS.match(name):
        return f"every {kind or ('bucket' if parts[2] == 's3' else 'resource')}"
    return None


def _wildcard_problems(statement: Statement) -> Iterator[str]:
    if statement.effect != "Allow":
        return
    wild = [a for a in statement.actions if WILDCARD.search(a)]
    if wild:
        yield f"{statement.label} allows wildcard actions {wild}"
    if statement.not_actions:
        yield f"{statement.label} allows everything but {list(statement.not_actions)} (NotAction)"
    for resource in statement.resources:
        if resource == "*":
            yield f"{statement.label} allows Resource '*'"
            continue
        opening = resource_wildcard(resource)
        if opening:
            yield f"{statement.label} allows Resource {resource!r}, which matches {opening}"
    if statement.not_resources:
        yield f"{statement.label} allows every resource but {list(statement.not_resources)} (NotResource)"


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


no_wildcards = resource_policy(
    "iam-no-wildcards",
    "IAM grants name their actions and resources: no Allow with a wildcard action ('*', 's3:*', 's3:Get*'), "
    "NotAction or NotResource, no Resource '*' or ARN whose partition, service, region, account, resource type or "
    "whole name is a wildcard ('arn:aws:s3:::*', 'arn:aws:iam::*:role/*', '...:key/*'; a '/*' under a named bucket "
    "or prefix is fine). Principals are judged by aws-resource-policy-principals, attached policies by "
    "iam-no-admin-reach. Fix: list the exact actions and the ARNs they apply to (infra/documents/iam.py "
    "builds such documents).",
    _no_wildcards,
    types=[*DOCUMENT_PROPERTIES, t.IAM_ROLE],
)


# --------------------------------------------------------------------------- IRSA roles


def _may_be_anyone_or_federated(statement: Statement) -> bool:
    """Whether a web identity can be the statement's principal (a federated provider, or everyone)."""
    return statement.applies_to_everyone or bool(statement.principals("Federated"))


def allows_action(statement: Statement, action: str) -> bool:
    """Whether an Allow statement's Action (or NotAction) covers ``action``, wildcards included."""
    if statement.effect != "Allow":
        return False
    if statement.not_actions:
        return not any(action_matches(p, action) for p in statement.not_actions)
    return any(action_matches(p, action) for p in statement.actions)


def web_identity_statements(trust_policy: Any) -> list[Statement]:
    """The statements of a trust policy through which a web identity token may assume the role.

    Any action pattern covering sts:AssumeRoleWithWebIdentity counts
    ('sts:AssumeRoleWith*', 'sts:*', '*', a NotAction that spares it).
    """
    return [
        s
        for s in statements_of(json_document(trust_policy))
        if allows_action(s, WEB_IDENTITY) and _may_be_anyone_or_federated(s)
    ]


def is_irsa_role(resource: PolicyResource) -> bool:
    """A role a Kubernetes ServiceAccount token can assume, whatever the component named it."""
    return resource.resource_type == t.IAM_ROLE and bool(
        web_identity_statements(get(resource.props, "assumeRolePolicy"))
    )


def stack_oidc_provider() -> Optional[str]:
    """The serving cluster's OIDC provider ARN from the stack config (kubernetes.oidcProviderArn), if set."""
    value = stack_config.stack_object("kubernetes").get("oidcProviderArn")
    return value if isinstance(value, str) and value else None


# --------------------------------------------------------------------------- IRSA roles only get objects


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
    for arn in one_or_many(get(role.props, "managedPolicyArns")):
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
    for role in filter(is_irsa_role, args.resources):
        for source, text_ in _role_documents(role, args.resources):
            if text_ is None:
                report(f"IRSA role {role.name!r}: {source} grants permissions this stack does not show", role.urn)
                continue
            for statement in statements_of(json_document(text_)):
                if statement.effect != "Allow":
                    continue
                extra = sorted({a for a in statement.actions if a.lower() not in allowed} | set(statement.not_actions))
                if extra:
                    report(f"IRSA role {role.name!r}: {source} {statement.label} allows {extra}", role.urn)


reader_get_only = stack_policy(
    "iam-reader-get-only",
    "A role a Kubernetes ServiceAccount can assume (IRSA: the reader role of a model's serving pods, whatever its "
    "name) may only get objects (s3:GetObject, s3:GetObjectVersion) and decrypt them (kms:Decrypt). Fix: grant such "
    "roles nothing else; writes and listings belong to the training role's writer policy.",
    _reader_get_only,
    settings=[
        strings(
            "allowedActions",
            ["s3:GetObject", "s3:GetObjectVersion", "kms:Decrypt"],
            "Actions an IRSA (web-identity) role may be allowed.",
        ),
    ],
)


# --------------------------------------------------------------------------- IRSA trust


def _irsa_problems(statement: Statement, expected_provider: Optional[str]) -> Iterator[str]:
    wild = [a for a in statement.actions if WILDCARD.search(a)]
    if wild or statement.not_actions:
        shown = wild or [f"everything but {list(statement.not_actions)}"]
        yield f"{statement.label} allows {shown}; name the action {WEB_IDENTITY!r}"
    federated = statement.principals("Federated")
    providers = [p for p in federated if ":oidc-provider/" in p]
    if len(providers) != 1 or len(federated) != 1:
        yield f"{statement.label} must name exactly one OIDC provider as Principal.Federated (found {list(federated)})"
        return
    if expected_provider is not None and providers[0] != expected_provider:
        yield (
            f"{statement.label} trusts OIDC provider {providers[0]!r}, not the stack's cluster "
            f"(kubernetes.oidcProviderArn {expected_provider!r})"
        )
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


def trusted_service_accounts(statements: list[Statement]) -> set[str]:
    """Every ``<provider> <subject>`` the statements bind, across statements."""
    trusted = set()
    for statement in statements:
        for provider in statement.principals("Federated"):
            issuer = provider.split(":oidc-provider/", 1)[-1]
            for subject in statement.condition_values("StringEquals", f"{issuer}:sub"):
                trusted.add(f"{subject} of {provider}")
    return trusted


def _irsa_trust(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    statements = web_identity_statements(get(args.props, "assumeRolePolicy"))
    expected_provider = stack_oidc_provider() if statements else None
    for statement in statements:
        for problem in _irsa_problems(statement, expected_provider):
            report(f"assumeRolePolicy: {problem}")
    trusted = trusted_service_accounts(statements)
    if len(statements) > 1 and len(trusted) > 1:
        report(
            f"assumeRolePolicy: {len(statements)} statements trust {len(trusted)} ServiceAccounts {sorted(trusted)}; "
            "an IRSA role trusts exactly one"
        )


irsa_single_service_account = resource_policy(
    "iam-irsa-single-service-account",
    "A role a web identity may assume (sts:AssumeRoleWithWebIdentity, or any pattern covering it) trusts exactly "
    "one ServiceAccount of the stack's cluster, across all its statements: Principal.Federated is the stack's OIDC "
    "provider (kubernetes.oidcProviderArn), StringEquals '<issuer>:sub' is one "
    "'system:serviceaccount:<namespace>:<name>' and '<issuer>:aud' is 'sts.amazonaws.com'. Fix: build the trust "
    "policy with infra.documents.iam.irsa_trust_policy; never a wildcard action, StringLike or '*' on "
    "the subject, or a second statement for another ServiceAccount.",
    _irsa_trust,
    types=[t.IAM_ROLE],
)

POLICIES = [no_wildcards, reader_get_only, irsa_single_service_account]
