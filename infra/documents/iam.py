"""Every IAM document the stack declares: pure functions from ARNs, names and model lists to a PolicyDocument.

Components call these inside a single ``Output.all(...).apply`` (the ARNs are
known only once the resources exist) and attach ``.to_json()``; tests call
them directly (tests/documents/test_iam.py), with every general rule (each
grant scoped to its model's prefix, no wildcard resource) checked over
generated inputs.
"""

from __future__ import annotations

from typing import Optional, Sequence

from infra.documents.arns import (
    all_objects_arn,
    iam_literal,
    kms_via_service,
    prefix_objects_arn,
    version_objects_arn,
    work_objects_arn,
)
from infra.documents.iam_policy import (
    ALL_S3_ACTIONS,
    ASSUME_ROLE,
    ASSUME_ROLE_WITH_WEB_IDENTITY,
    DELETE_OBJECT,
    DESCRIBE_SECRET,
    EVERYONE,
    GET_OBJECT,
    GET_SECRET_VALUE,
    IF_NONE_MATCH,
    KMS_DECRYPT,
    KMS_GENERATE_DATA_KEY,
    LIST_BUCKET,
    PASS_ROLE,
    PUT_OBJECT,
    REWRITE_ACTIONS,
    STS_AUDIENCE,
    Condition,
    PolicyDocument,
    Principal,
    Statement,
)
from infra.contract.layout import WORK_PREFIX, model_prefix, work_prefix

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
                conditions=(kms_via_service("s3", region),),
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
                conditions=(kms_via_service("s3", region),),
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
                conditions=(kms_via_service("secretsmanager", region),),
            )
        )
    return PolicyDocument(tuple(statements))


def bundles_reader_policy(
    bucket_arn: str, models: Sequence[str], kms_key_arn: Optional[str], region: str
) -> PolicyDocument:
    """What the training DAG reads of a run: the objects of the models' versions (``<model>/*/*``), decrypted
    through S3; never ``released.json`` or another prefix."""
    if not models:
        raise ValueError("a bundles reader policy needs at least one model")
    statements = [
        Statement(
            sid="ReadRunVersions",
            effect="Allow",
            actions=(GET_OBJECT,),
            resources=tuple(version_objects_arn(bucket_arn, model) for model in models),
        )
    ]
    if kms_key_arn:
        statements.append(
            Statement(
                sid="DecryptRunVersions",
                effect="Allow",
                actions=(KMS_DECRYPT,),
                resources=(kms_key_arn,),
                conditions=(kms_via_service("s3", region),),
            )
        )
    return PolicyDocument(tuple(statements))
