"""AWS resource policies: who a resource lets in, on every type that has a resource policy.

A bucket, key, secret, queue or access point policy, and a role's trust policy,
name principals from outside the identity policies of the account. Any
``Allow`` statement of any of them may let in only principals the stack can
vouch for:

* never everyone: ``Principal: "*"``, ``{"AWS": "*"}``, a wildcard in a
  principal ARN, or a public identity provider (Google, Cognito, ...)
  without an audience condition. Conditions do not change this: a condition
  key an attacker controls (a tag, a source IP) is no boundary, so the rule
  asks for named principals instead of judging conditions;
* never another account than those the stack names (``model-platform:aws``
  ``accountId``, the ``aws:allowedAccountIds`` provider config, or the
  policy's ``trustedAccounts`` setting); a principal whose account cannot be
  read (a canonical user id, a unique id) is refused the same way;
* never ``NotPrincipal`` with Allow, which lets in everyone but the few named.

``Deny`` statements only take access away and are never judged here, so
``{"Effect": "Deny", "Principal": "*", ...}`` (TLS-only, immutability) is fine.
Every statement of a trust policy is judged, not only the web-identity one.
Service principals (``ec2.amazonaws.com``) are AWS itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Iterator, Optional, Sequence

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.contract.aws import ACCOUNT_ID
from model_platform_policy import stack_config
from model_platform_policy import types as t
from model_platform_policy.iam import Statement, one_or_many, statements_of
from model_platform_policy.rules import Config, resource_policy, strings
from model_platform_policy.values import get, json_document

#: Where each type keeps its resource policy documents (engine property paths). tests/test_policies_principals.py
#: checks every token and property against the installed pulumi-aws.
RESOURCE_POLICY_DOCUMENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    t.BUCKET_POLICY: (("policy",),),
    t.BUCKET: (("policy",),),
    t.BUCKET_V2: (("policy",),),
    t.S3_ACCESS_POINT: (("policy",),),
    "aws:s3control/accessPointPolicy:AccessPointPolicy": (("policy",),),
    "aws:s3control/bucketPolicy:BucketPolicy": (("policy",),),
    "aws:s3control/multiRegionAccessPointPolicy:MultiRegionAccessPointPolicy": (("details", "policy"),),
    "aws:s3control/objectLambdaAccessPointPolicy:ObjectLambdaAccessPointPolicy": (("policy",),),
    "aws:s3control/accessGrantsInstanceResourcePolicy:AccessGrantsInstanceResourcePolicy": (("policy",),),
    "aws:s3/vectorsVectorBucketPolicy:VectorsVectorBucketPolicy": (("policy",),),
    t.SM_SECRET: (("policy",),),
    t.SM_SECRET_POLICY: (("policy",),),
    t.KMS_KEY: (("policy",),),
    t.KMS_KEY_POLICY: (("policy",),),
    "aws:kms/replicaKey:ReplicaKey": (("policy",),),
    "aws:kms/externalKey:ExternalKey": (("policy",),),
    "aws:kms/replicaExternalKey:ReplicaExternalKey": (("policy",),),
    t.IAM_ROLE: (("assumeRolePolicy",),),
    "aws:sqs/queue:Queue": (("policy",),),
    "aws:sqs/queuePolicy:QueuePolicy": (("policy",),),
    "aws:sns/topic:Topic": (("policy",),),
    "aws:sns/topicPolicy:TopicPolicy": (("policy",),),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": (("policy",),),
    "aws:ecr/registryPolicy:RegistryPolicy": (("policy",),),
    "aws:efs/fileSystemPolicy:FileSystemPolicy": (("policy",),),
    "aws:backup/vaultPolicy:VaultPolicy": (("policy",),),
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": (("policyDocument",),),
    "aws:cloudwatch/eventBusPolicy:EventBusPolicy": (("policy",),),
    "aws:glue/resourcePolicy:ResourcePolicy": (("policy",),),
    "aws:opensearch/domain:Domain": (("accessPolicies",),),
    "aws:opensearch/domainPolicy:DomainPolicy": (("accessPolicies",),),
    "aws:apigateway/restApi:RestApi": (("policy",),),
    "aws:apigateway/restApiPolicy:RestApiPolicy": (("policy",),),
    "aws:dynamodb/resourcePolicy:ResourcePolicy": (("policy",),),
}
#: Types that name a single principal in a field rather than in a policy document.
PRINCIPAL_FIELDS: dict[str, tuple[str, ...]] = {
    "aws:lambda/permission:Permission": ("principal",),
    "aws:kms/grant:Grant": ("granteePrincipal", "retiringPrincipal"),
}
_ACCOUNT = re.compile(ACCOUNT_ID)
#: ``arn:<partition>:<iam|sts>::<account>:...``
PRINCIPAL_ARN = re.compile(r"^arn:[^:]+:(iam|sts)::([^:]*):")
#: Web identity providers anyone can get a token from.
PUBLIC_IDENTITY_PROVIDERS = (
    "cognito-identity.amazonaws.com",
    "accounts.google.com",
    "graph.facebook.com",
    "www.amazon.com",
)


def named_accounts(trusted: Sequence[str] = ()) -> frozenset[str]:
    """The accounts the stack vouches for: its own, the AWS provider's allowed ones, and ``trusted``."""
    named = {str(a) for a in trusted}
    own = stack_config.stack_object("aws").get("accountId")
    if own:
        named.add(str(own))
    allowed = stack_config.raw_value("aws:allowedAccountIds")
    if isinstance(allowed, str):
        try:
            allowed = json.loads(allowed)
        except json.JSONDecodeError:
            allowed = [allowed]
    named.update(str(a) for a in one_or_many(allowed))
    return frozenset(named)


def account_of(principal: str) -> Optional[str]:
    """The account an AWS principal (an account id or an IAM/STS ARN) belongs to, or None if it names none."""
    if _ACCOUNT.match(principal):
        return principal
    found = PRINCIPAL_ARN.match(principal)
    return found[2] if found else None


def _foreign(principal: str, accounts: frozenset[str]) -> Optional[str]:
    account = account_of(principal)
    if account is None:
        return f"{principal!r} names no account this stack can check"
    if account not in accounts:
        return (
            f"{principal!r} is in account {account}, which the stack does not name "
            "(model-platform:aws.accountId, aws:allowedAccountIds, or the policy's trustedAccounts)"
        )
    return None


def _audience_bound(statement: Statement, provider: str) -> bool:
    return any(
        isinstance(block, Mapping) and f"{provider}:aud" in block
        for operator, block in statement.conditions.items()
        if operator.startswith("StringEquals") or operator.startswith("ForAllValues:StringEquals")
    )


def principal_problems(statement: Statement, accounts: frozenset[str]) -> Iterator[str]:
    """Why an Allow statement lets in principals the stack cannot vouch for."""
    principal = statement.principal
    if principal == "*":
        yield "Principal '*' lets in everyone"
        return
    if not isinstance(principal, Mapping):
        return
    for kind in principal:
        for value in one_or_many(principal[kind]):
            if "*" in value:
                yield f"Principal {kind} {value!r} lets in everyone"
            elif kind == "AWS":
                problem = _foreign(value, accounts)
                if problem:
                    yield f"Principal AWS {problem}"
            elif kind == "Federated":
                if value.startswith("arn:"):
                    problem = _foreign(value, accounts)
                    if problem:
                        yield f"Principal Federated {problem}"
                elif value in PUBLIC_IDENTITY_PROVIDERS and not _audience_bound(statement, value):
                    yield f"Principal Federated {value!r} lets in any of its users: require StringEquals {value}:aud"
            elif kind == "CanonicalUser":
                yield f"Principal CanonicalUser {value!r} names no account this stack can check"


def statement_problems(statements: list[Statement], accounts: frozenset[str]) -> Iterator[str]:
    """Every problem of the document's Allow statements (Deny statements only take access away)."""
    for statement in statements:
        if statement.effect != "Allow":
            continue
        if statement.not_principal is not None:
            yield f"{statement.label} allows NotPrincipal: everyone but the principals it names"
            continue
        for problem in principal_problems(statement, accounts):
            yield f"{statement.label}: {problem}"


def documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for path in RESOURCE_POLICY_DOCUMENTS.get(resource_type, ()):
        yield ".".join(path), get(props, *path)


def _principals(args: ResourceValidationArgs, report: ReportViolation, config: Config) -> None:
    accounts = named_accounts(config["trustedAccounts"])
    for where, text_ in documents(args.resource_type, args.props):
        if text_ is None:
            continue
        document = json_document(text_)
        if document is None:
            report(f"{where} is not a JSON policy document")
            continue
        for problem in statement_problems(statements_of(document), accounts):
            report(f"{where}: {problem}")
    for field in PRINCIPAL_FIELDS.get(args.resource_type, ()):
        value = get(args.props, field)
        if not isinstance(value, str):
            continue
        if "*" in value:
            report(f"{field} {value!r} lets in everyone")
        elif account_of(value) is not None or value.startswith("arn:"):
            problem = _foreign(value, accounts)
            if problem:
                report(f"{field} {problem}")


resource_policy_principals = resource_policy(
    "aws-resource-policy-principals",
    "Every resource policy (S3 bucket and access point, KMS key, Secrets Manager secret, SQS, SNS, ECR, ...) and "
    "every statement of every IAM trust policy lets in only principals the stack vouches for: no Allow for "
    "Principal '*', a wildcard principal, a public identity provider without an audience condition, NotPrincipal, "
    "or an account other than the stack's own (model-platform:aws.accountId), aws:allowedAccountIds or the "
    "policy's trustedAccounts. Deny statements are never judged. Fix: name the roles of the accounts that need "
    "access (arn:aws:iam::<account>:role/<name>) and list a partner account in trustedAccounts of "
    "policies/<environment>.json after review.",
    _principals,
    types=[*RESOURCE_POLICY_DOCUMENTS, *PRINCIPAL_FIELDS],
    settings=[
        strings(
            "trustedAccounts",
            [],
            "Accounts besides the stack's own (and aws:allowedAccountIds) a resource policy may let in.",
        )
    ],
)

POLICIES = [resource_policy_principals]
