"""IAM policy documents as typed data: statements, conditions, principals, and the action names used.

Pure Python, no Pulumi: the builders in :mod:`infra.documents.iam` return a
:class:`PolicyDocument`, serialized once with :meth:`PolicyDocument.to_json`.
The types refuse the mistakes that matter for a bucket holding every model: an
``Allow`` with a wildcard action, an ``Allow`` to everyone, or any
``Resource: "*"``, so no builder can produce one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Union

VERSION = "2012-10-17"
_SID = re.compile(r"^[A-Za-z0-9]+$")

#: ``Principal: "*"``: every caller. Only used in Deny statements of the bucket policy.
EVERYONE = "*"

# S3 actions, spelled once.
GET_OBJECT = "s3:GetObject"
PUT_OBJECT = "s3:PutObject"
DELETE_OBJECT = "s3:DeleteObject"
LIST_BUCKET = "s3:ListBucket"
#: What would change or remove a published object other than a new PutObject: denied to the writer on published
#: keys. Deny statements may use wildcards: ``s3:DeleteObject*`` covers versions and tags too.
REWRITE_ACTIONS = (
    "s3:DeleteObject*",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
)
#: The condition key of a conditional write's ``If-None-Match`` header (``PutObject(IfNoneMatch="*")``).
IF_NONE_MATCH = "s3:if-none-match"
#: Every S3 action: only ever denied (a deny must not miss an action), never allowed.
ALL_S3_ACTIONS = "s3:*"
# KMS actions a principal needs for SSE-KMS objects.
KMS_DECRYPT = "kms:Decrypt"
KMS_GENERATE_DATA_KEY = "kms:GenerateDataKey"
ASSUME_ROLE = "sts:AssumeRole"
ASSUME_ROLE_WITH_WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
PASS_ROLE = "iam:PassRole"
# Secrets Manager actions Airflow's SecretsManagerBackend calls.
GET_SECRET_VALUE = "secretsmanager:GetSecretValue"
DESCRIBE_SECRET = "secretsmanager:DescribeSecret"
#: The service EC2 instances (the Databricks cluster nodes) assume their instance profile's role as.
EC2_SERVICE = "ec2.amazonaws.com"
#: The audience EKS pod identity tokens carry for STS (IRSA).
STS_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class Condition:
    """One ``"<operator>": {"<key>": <values>}`` entry of a statement's Condition block."""

    operator: str
    key: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"condition {self.operator} {self.key} has no values")


@dataclass(frozen=True)
class Principal:
    """``{"<kind>": [ids]}``, e.g. the cluster's OIDC provider as ``Federated``."""

    kind: Literal["AWS", "Federated", "Service"]
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ()
    principal: Union[Principal, Literal["*"], None] = None
    conditions: tuple[Condition, ...] = ()
    #: Deny only: every resource but these (e.g. all of a bucket but its scratch prefix).
    not_resources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _SID.match(self.sid):
            raise ValueError(f"Sid {self.sid!r} must be alphanumeric")
        if not self.actions:
            raise ValueError(f"statement {self.sid} has no actions")
        if self.not_resources and (self.effect == "Allow" or self.resources):
            raise ValueError(f"statement {self.sid}: NotResource only in a Deny without Resource")
        if "*" in self.resources:
            raise ValueError(f"statement {self.sid}: Resource '*' is never allowed; name the ARNs")
        if self.effect == "Allow":
            wild = [a for a in self.actions if "*" in a or "?" in a]
            if wild:
                raise ValueError(f"statement {self.sid}: wildcard actions {wild} in an Allow; list the actions")
            if self.principal == EVERYONE:
                raise ValueError(f"statement {self.sid}: Allow to Principal '*' would make the bucket public")
        seen = [(c.operator, c.key) for c in self.conditions]
        if len(seen) != len(set(seen)):
            raise ValueError(f"statement {self.sid}: a condition key appears twice under one operator")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Sid": self.sid, "Effect": self.effect}
        if self.principal == EVERYONE:
            out["Principal"] = EVERYONE
        elif isinstance(self.principal, Principal):
            out["Principal"] = {self.principal.kind: _one_or_list(self.principal.ids)}
        out["Action"] = _one_or_list(self.actions)
        if self.resources:
            out["Resource"] = _one_or_list(self.resources)
        if self.not_resources:
            out["NotResource"] = _one_or_list(self.not_resources)
        if self.conditions:
            block: dict[str, dict[str, Any]] = {}
            for c in self.conditions:
                block.setdefault(c.operator, {})[c.key] = _one_or_list(c.values)
            out["Condition"] = block
        return out


@dataclass(frozen=True)
class PolicyDocument:
    statements: tuple[Statement, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        sids = [s.sid for s in self.statements]
        if len(sids) != len(set(sids)):
            raise ValueError(f"duplicate Sids in {sids}")

    def to_dict(self) -> dict[str, Any]:
        return {"Version": VERSION, "Statement": [s.to_dict() for s in self.statements]}

    def to_json(self) -> str:
        """The document as IAM reads it; deterministic, so unchanged inputs never show a diff."""
        return json.dumps(self.to_dict())


def _one_or_list(values: tuple[str, ...]) -> Union[str, list[str]]:
    return values[0] if len(values) == 1 else list(values)

