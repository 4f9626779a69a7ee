"""ARNs and ARN patterns the IAM documents name, with their real partition and account (never a '*' for either).

Pure Python, no Pulumi: plain strings in, plain strings out.
"""

from __future__ import annotations

import re

from infra.contract.layout import model_prefix, work_prefix
from infra.contract.training import PACKAGE_VERSION_PLACEHOLDER
from infra.documents.iam_policy import Condition

S3_SCHEME = "s3://"
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
    pattern = "*".join(iam_literal(part) for part in f"{bucket}/{key}".split(PACKAGE_VERSION_PLACEHOLDER))
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


def kms_via_service(service: str, region: str) -> Condition:
    """Key use only through ``service`` (``s3``, ``secretsmanager``) in ``region``, never direct KMS calls."""
    return Condition("StringEquals", "kms:ViaService", (f"{service}.{region}.amazonaws.com",))

