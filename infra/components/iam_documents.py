"""Every IAM document the stack declares, as typed data.

Pure Python, no Pulumi: the builders take plain strings (ARNs, names) and
return a :class:`PolicyDocument`, serialized once with :meth:`PolicyDocument.to_json`.
Components call them inside a single ``Output.all(...).apply``; tests call
them directly. The types refuse the mistakes that matter for a bucket holding
every model: an ``Allow`` with a wildcard action, or any ``Resource: "*"``.
ARNs are built here with their real partition and account, never a '*'
standing in for either.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence, Union

from infra.config import PACKAGE_VERSION_PLACEHOLDER
from infra.layout import WORK_PREFIX, model_prefix, work_prefix

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


# --------------------------------------------------------------------------- ARNs

S3_SCHEME = "s3://"
#: Placeholder of the package version in a training package URI (``training.package``).
VERSION_PLACEHOLDER = PACKAGE_VERSION_PLACEHOLDER
#: Characters IAM reads specially in an ARN pattern ('*', '?' wildcards; '$' opens a policy variable).
_IAM_SPECIAL = re.compile(r"[*?$]")


def partition(region: str) -> str:
    """The ARN partition of ``region``: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def iam_literal(text: str) -> str:
    """``text`` matched literally in an ARN pattern: IAM's '*', '?' and '$' escaped as ``${*}``, ``${?}``, ``${$}``."""
    return _IAM_SPECIAL.sub(lambda m: "${" + m.group() + "}", text)


def is_s3_uri(uri: str) -> bool:
    return uri.startswith(S3_SCHEME)


def versioned_object_arn(uri_template: str, region: str) -> str:
    """ARN pattern of the one object ``uri_template`` names at any version: each ``{packageVersion}`` becomes '*'.

    Narrower than the package's folder: only the package file itself, at
    every version, and no other object beside it.
    """
    if not is_s3_uri(uri_template):
        raise ValueError(f"{uri_template!r} is not an s3:// URI")
    bucket, _, key = uri_template[len(S3_SCHEME) :].partition("/")
    if not bucket or not key:
        raise ValueError(f"{uri_template!r} names no object (s3://<bucket>/<key>)")
    pattern = "*".join(iam_literal(part) for part in f"{bucket}/{key}".split(VERSION_PLACEHOLDER))
    return f"arn:{partition(region)}:s3:::{pattern}"


def secret_arn_base(secret_arn: str) -> str:
    """``arn:<partition>:secretsmanager:<region>:<account>:secret:`` of an existing secret's ARN.

    Gives the stack's real partition, region and account without a
    ``GetCallerIdentity`` call or a '*' for the account.
    """
    parts = secret_arn.split(":", 6)
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "secretsmanager" or parts[5] != "secret" or not parts[4]:
        raise ValueError(f"{secret_arn!r} is not a Secrets Manager secret ARN")
    return ":".join(parts[:6]) + ":"


def prefix_objects_arn(bucket_arn: str, model: str) -> str:
    """ARN pattern of every object under ``model``'s prefix (``<bucket>/<model>/*``): its versions and released.json."""
    return f"{bucket_arn}/{model_prefix(model)}*"


def version_objects_arn(bucket_arn: str, model: str) -> str:
    """ARN pattern of the objects of ``model``'s versions (``<bucket>/<model>/*/*``), not its released.json."""
    return f"{bucket_arn}/{model_prefix(model)}*/*"


def work_objects_arn(bucket_arn: str, model: str) -> str:
    """ARN pattern of ``model``'s run scratch (``<bucket>/_work/<model>/*``)."""
    return f"{bucket_arn}/{work_prefix(model)}*"


def role_arn(*, region: str, account_id: str, role_name: str) -> str:
    """A role's ARN from its account and name (path '/'), in ``region``'s partition: known before the role exists."""
    return f"arn:{partition(region)}:iam::{account_id}:role/{role_name}"


def all_objects_arn(bucket_arn: str) -> str:
    return f"{bucket_arn}/*"


def _kms_via_s3(region: str) -> Condition:
    """Key use only through S3 in the bucket's region, never direct KMS calls."""
    return Condition("StringEquals", "kms:ViaService", (f"s3.{region}.amazonaws.com",))


# --------------------------------------------------------------------------- documents


def bucket_policy(bucket_arn: str, kms: bool, *, writer_role_arn: str) -> PolicyDocument:
    """The bucket's resource policy: plain HTTP refused, non-KMS uploads refused (with SSE-KMS), published objects
    immutable for the training role.

    The KMS deny fires only when an upload *asks* for another encryption: an
    upload without the header gets the bucket's default SSE-KMS, so writers
    (Spark's S3A, the AWS CLI) need not set it.

    The writer (``writer_role_arn``, matched by ``aws:PrincipalArn`` so the
    policy does not need the role to exist) may not put an object outside
    ``_work/`` without ``If-None-Match`` (which makes an existing key a 412,
    never an overwrite), nor delete, re-tag or re-ACL one. ``_work/`` is
    exempt: a run's scratch is overwritten freely and expires. The denies name
    no model (``NotResource`` of the scratch prefix), so they also cover the
    versions of a model later removed from the stack. Its identity policy
    (``writer_policy``) grants no more; these denies hold even if someone
    attaches a broader policy to the role.
    """
    statements = [
        Statement(
            sid="DenyInsecureTransport",
            effect="Deny",
            principal=EVERYONE,
            actions=(ALL_S3_ACTIONS,),
            resources=(bucket_arn, all_objects_arn(bucket_arn)),
            conditions=(Condition("Bool", "aws:SecureTransport", ("false",)),),
        )
    ]
    if kms:
        header = "s3:x-amz-server-side-encryption"
        statements.append(
            Statement(
                sid="DenyNonKmsUploads",
                effect="Deny",
                principal=EVERYONE,
                actions=(PUT_OBJECT,),
                resources=(all_objects_arn(bucket_arn),),
                conditions=(
                    Condition("StringNotEquals", header, ("aws:kms",)),
                    Condition("Null", header, ("false",)),
                ),
            )
        )
    scratch = (f"{bucket_arn}/{WORK_PREFIX}*",)
    writer = Condition("ArnEquals", "aws:PrincipalArn", (writer_role_arn,))
    statements += [
        Statement(
            sid="DenyWriterOverwrites",
            effect="Deny",
            principal=EVERYONE,
            actions=(PUT_OBJECT,),
            not_resources=scratch,
            conditions=(writer, Condition("Null", IF_NONE_MATCH, ("true",))),
        ),
        Statement(
            sid="DenyWriterDeletesAndRewrites",
            effect="Deny",
            principal=EVERYONE,
            actions=REWRITE_ACTIONS,
            not_resources=scratch,
            conditions=(writer,),
        ),
    ]
    return PolicyDocument(tuple(statements))


def writer_policy(bucket_arn: str, models: Sequence[str], kms_key_arn: Optional[str], region: str) -> PolicyDocument:
    """Training's policy: publish new versions, never change one; read its models; scratch under ``_work/``.

    * ``PutObject`` on ``<model>/*/*`` (a version's objects, not ``released.json``) only with ``If-None-Match``
      (``Null s3:if-none-match = false``): S3 then refuses to overwrite an existing key (412);
    * ``GetObject`` on ``<model>/*`` (every version, and ``released.json`` for the drift baseline);
    * get, put and delete on ``_work/<model>/*``;
    * ``ListBucket`` only for those prefixes; no delete on published keys.

    A published object is one single ``PutObject`` (up to 5 GB): multipart parts carry no ``If-None-Match``.
    """
    if not models:
        raise ValueError("a writer policy needs at least one model")
    statements = [
        Statement(
            sid="PublishNewVersionObjects",
            effect="Allow",
            actions=(PUT_OBJECT,),
            resources=tuple(version_objects_arn(bucket_arn, m) for m in models),
            conditions=(Condition("Null", IF_NONE_MATCH, ("false",)),),
        ),
        Statement(
            sid="ReadModelObjects",
            effect="Allow",
            actions=(GET_OBJECT,),
            resources=tuple(prefix_objects_arn(bucket_arn, m) for m in models),
        ),
        Statement(
            sid="ReadWriteRunScratch",
            effect="Allow",
            actions=(GET_OBJECT, PUT_OBJECT, DELETE_OBJECT),
            resources=tuple(work_objects_arn(bucket_arn, m) for m in models),
        ),
        Statement(
            sid="ListModelPrefixes",
            effect="Allow",
            actions=(LIST_BUCKET,),
            resources=(bucket_arn,),
            conditions=(
                Condition(
                    "StringLike",
                    "s3:prefix",
                    tuple(p for m in models for p in (f"{model_prefix(m)}*", f"{work_prefix(m)}*")),
                ),
            ),
        ),
    ]
    if kms_key_arn:
        statements.append(
            Statement(
                sid="EncryptDecryptBundles",
                effect="Allow",
                actions=(KMS_DECRYPT, KMS_GENERATE_DATA_KEY),
                resources=(kms_key_arn,),
                conditions=(_kms_via_s3(region),),
            )
        )
    return PolicyDocument(tuple(statements))


def reader_policy(bucket_arn: str, model: str, kms_key_arn: Optional[str], region: str) -> PolicyDocument:
    """One model's serving policy: get objects under that model's prefix, nothing else."""
    statements = [
        Statement(
            sid="ReadModelBundles",
            effect="Allow",
            actions=(GET_OBJECT,),
            resources=(prefix_objects_arn(bucket_arn, model),),
        )
    ]
    if kms_key_arn:
        statements.append(
            Statement(
                sid="DecryptBundles",
                effect="Allow",
                actions=(KMS_DECRYPT,),
                resources=(kms_key_arn,),
                conditions=(_kms_via_s3(region),),
            )
        )
    return PolicyDocument(tuple(statements))


def service_account_subject(namespace: str, service_account: str) -> str:
    """The ``sub`` claim of a ServiceAccount's projected token."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> PolicyDocument:
    """Trust for IRSA: exactly one ServiceAccount of the cluster may assume the role.

    ``StringEquals`` on ``sub`` (never ``StringLike``), plus the STS audience,
    so no other pod, namespace or cluster can use it.
    """
    return PolicyDocument(
        (
            Statement(
                sid="AssumeFromServiceAccount",
                effect="Allow",
                principal=Principal("Federated", (oidc_provider_arn,)),
                actions=(ASSUME_ROLE_WITH_WEB_IDENTITY,),
                conditions=(
                    Condition("StringEquals", f"{oidc_issuer}:sub", (service_account_subject(namespace, service_account),)),
                    Condition("StringEquals", f"{oidc_issuer}:aud", (STS_AUDIENCE,)),
                ),
            ),
        )
    )


def service_trust_policy(service: str) -> PolicyDocument:
    """Trust for an AWS service principal (e.g. ``ec2.amazonaws.com`` for an instance profile's role)."""
    return PolicyDocument(
        (Statement(sid="AssumeFromService", effect="Allow", principal=Principal("Service", (service,)), actions=(ASSUME_ROLE,)),)
    )


def pass_role_policy(role_arn: str, service: str) -> PolicyDocument:
    """Lets the holder pass exactly ``role_arn``, and only to ``service`` (``iam:PassedToService``)."""
    return PolicyDocument(
        (
            Statement(
                sid="PassRoleToService",
                effect="Allow",
                actions=(PASS_ROLE,),
                resources=(role_arn,),
                conditions=(Condition("StringEquals", "iam:PassedToService", (service,)),),
            ),
        )
    )


def artifact_reader_policy(object_arns: Sequence[str]) -> PolicyDocument:
    """Training clusters' read access to their packages: get exactly these objects (ARN patterns), nothing else.

    Databricks installs a task's ``s3://`` library with the cluster's instance
    profile; ``dbfs:/``, ``/Volumes/`` and ``/Workspace/`` libraries are read by
    Databricks itself and need no IAM.
    """
    if not object_arns:
        raise ValueError("an artifact reader policy needs at least one object ARN")
    return PolicyDocument(
        (Statement(sid="ReadTrainingPackages", effect="Allow", actions=(GET_OBJECT,), resources=tuple(sorted(set(object_arns)))),)
    )


def secrets_reader_policy(
    arn_base: str, prefixes: Sequence[str], kms_key_arn: Optional[str], region: str
) -> PolicyDocument:
    """Read every secret under ``prefixes`` (``<base><prefix>/*``) and, with a customer key, decrypt through Secrets Manager.

    ``arn_base`` is ``arn:<partition>:secretsmanager:<region>:<account>:secret:`` (see :func:`secret_arn_base`).
    """
    if not prefixes:
        raise ValueError("a secrets reader policy needs at least one prefix")
    statements = [
        Statement(
            sid="ReadAirflowSecrets",
            effect="Allow",
            actions=(GET_SECRET_VALUE, DESCRIBE_SECRET),
            resources=tuple(f"{arn_base}{iam_literal(p)}/*" for p in prefixes),
        )
    ]
    if kms_key_arn:
        statements.append(
            Statement(
                sid="DecryptAirflowSecrets",
                effect="Allow",
                actions=(KMS_DECRYPT,),
                resources=(kms_key_arn,),
                conditions=(Condition("StringEquals", "kms:ViaService", (f"secretsmanager.{region}.amazonaws.com",)),),
            )
        )
    return PolicyDocument(tuple(statements))
