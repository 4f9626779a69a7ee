"""The domain types of the stack config, each rule declared once and used by every field it applies to.

A field that holds a bucket name is a ``BucketName``, wherever it sits;
changing what a bucket name may be is one line here. Each type is a plain
``str`` (or ``int``) with an ``Annotated`` validator, so ``modelctl
config-doc`` still names it by what it holds. A value that breaks a pattern
rule is reported as ``'<value>' does not match <pattern>``, the same words
for every field; versions and digests use the contract's one message
(``infra.contract.model_version``).
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from typing import Annotated, Any, Callable, Mapping, Optional

from pydantic import AfterValidator, BeforeValidator, Strict

from infra.config.base import Problem, _raise_problems
from infra.contract.aws import ACCOUNT_ID, ARN
from infra.contract.credentials import credential_value_kind, is_credential_name
from infra.contract.limits import CPU_MILLICORES, MEMORY_BYTES, SYSTEM_NAMESPACES
from infra.contract.mleap_compat import SEMVER
from infra.contract.model_version import check_model_version, check_sha256
from infra.contract.naming import LABEL_NAME, LABEL_VALUE

# --------------------------------------------------------------------------- the rules, as patterns

#: An S3 bucket name (also the bucket part of an ``s3://`` URI).
BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
BUCKET_NAME = rf"^{BUCKET}$"
#: ``s3://<bucket>/<key>``, the key neither empty nor starting or ending with '/'.
S3_OBJECT_URI = rf"^s3://{BUCKET}/[^/].*[^/]$"
KMS_ARN = ARN + "kms:"
#: A KMS key's own ARN (not an alias).
KMS_KEY_ARN = ARN + r"kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$"
IAM_ARN = ARN + "iam::"
OIDC_PROVIDER_ARN = ARN + r"iam::\d{12}:oidc-provider/.+"
REGION = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
#: A Kubernetes namespace (and other DNS-label names): at most 63 lowercase letters, digits and '-'.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
#: A Kubernetes object name that may hold dots (ConfigMap, Secret), at most 253 characters.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
#: A host name.
HOST_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
#: CPU and memory quantities as Kubernetes writes them.
CPU_QUANTITY = r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$"
MEMORY_QUANTITY = r"^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$"
_MEMORY_SCALE = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
#: A Secrets Manager name prefix: '/'-separated segments of the characters AWS allows, no trailing '/'.
SECRET_PREFIX = r"^[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*$"
#: A relative path (an S3 folder, a file in a repository, a branch): '/'-separated segments (none '.' or '..'),
#: no '/' at either end.
RELATIVE_PATH = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
#: A GitHub repository, owner/name.
GITHUB_REPOSITORY = r"^[A-Za-z0-9](-?[A-Za-z0-9])*/[A-Za-z0-9_.-]+$"
#: A Kubernetes label key: an optional DNS-subdomain prefix and '/', then a label name.
LABEL_KEY = re.compile(r"([a-z0-9.-]{1,253}/)?" + LABEL_NAME.pattern)
#: An annotation key: an optional DNS-subdomain prefix and '/', then a name.
ANNOTATION_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")

#: What each pattern means, in the words its refusal uses (``'acme' is not a GitHub repository: owner/name, ...``).
PATTERN_WORDS: dict[str, str] = {
    ACCOUNT_ID: "an AWS account id: 12 digits, quoted",
    REGION: "an AWS region: e.g. eu-west-2",
    KMS_ARN: "a KMS ARN: arn:<partition>:kms:<region>:<account>:key/<id> (or :alias/<name>)",
    KMS_KEY_ARN: "a KMS key's ARN: arn:<partition>:kms:<region>:<account>:key/<id> (not an alias)",
    IAM_ARN: "an IAM ARN: arn:<partition>:iam::<account>:<role|user|policy>/<name>",
    OIDC_PROVIDER_ARN: "an IAM OIDC provider's ARN: arn:<partition>:iam::<account>:oidc-provider/<issuer>",
    DNS_LABEL: "a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    DNS_SUBDOMAIN: (
        "a Kubernetes object name: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a "
        "letter or digit"
    ),
    HOST_NAME: "a host name: lowercase letters, digits, '-' and '.', no scheme, port or path",
    CPU_QUANTITY: "a CPU quantity: e.g. 500m or 2",
    MEMORY_QUANTITY: "a memory quantity: e.g. 512Mi or 2Gi",
    SECRET_PREFIX: "a Secrets Manager name prefix: '/'-separated segments of letters, digits and _+=.@-, no '/' at either end",
    RELATIVE_PATH: "a relative path: '/'-separated segments of letters, digits and _.-, no '/' at either end",
    GITHUB_REPOSITORY: "a GitHub repository: owner/name, e.g. acme/model-platform",
}


def _matching(pattern: str, what: Optional[str] = None) -> Callable[[str], str]:
    """A validator for ``pattern``; its message says what the value must be in words (``what``, else the pattern's
    ``PATTERN_WORDS``), as the version types do, and pydantic's own words for a pattern without any.

    Searched as pydantic does (an unanchored pattern matches a prefix); '$'
    means the very end of the text, as in pydantic's regex engine, not before a
    final newline as in Python's.
    """
    compiled = re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)
    what = what or PATTERN_WORDS.get(pattern)

    def check(value: str) -> str:
        if not compiled.search(value):
            raise ValueError(f"{value!r} is not {what}" if what else f"{value!r} does not match {pattern}")
        return value

    return check


def no_dot_segments(value: str) -> str:
    """Refuse '.' and '..' path segments, which would climb out of the folder a path is meant to stay in."""
    if any(segment in (".", "..") for segment in value.split("/")):
        raise ValueError(f"{value!r} has a '.' or '..' segment: write the path from the root, without them")
    return value


def _timezone(value: str) -> str:
    known = zoneinfo.available_timezones()
    if known and value not in known:  # no tz database on this machine: leave it to the scheduler
        raise ValueError(f"{value!r} is not a timezone id such as 'UTC' or 'Europe/London'")
    return value


def memory_bytes(quantity: str) -> int:
    """Bytes of a ``MemoryQuantity`` (``1536Mi``), to compare two of them."""
    _matching(MEMORY_QUANTITY)(quantity)
    number = quantity.rstrip("KMGTik")
    return int(number) * _MEMORY_SCALE[quantity[len(number):] or None]


#: What AWS reserves at either end of a bucket name (S3 access points, Object Lambda, directory and table buckets).
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def bucket_name_problem(value: str) -> str | None:
    """Why S3 would refuse ``value`` as a general-purpose bucket name (AWS's whole rule set), or None."""
    rule = (
        "3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit, no '..', "
        "not an IP address"
    )
    if not _BUCKET.fullmatch(value) or ".." in value:
        return f"{value!r} is not an S3 bucket name: {rule}"
    try:
        ipaddress.IPv4Address(value)
        return f"{value!r} is not an S3 bucket name: it is written as an IP address"
    except ValueError:
        pass
    reserved = [p for p in BUCKET_RESERVED_PREFIXES if value.startswith(p)] + [
        s for s in BUCKET_RESERVED_SUFFIXES if value.endswith(s)
    ]
    if reserved:
        return f"{value!r} is not an S3 bucket name: {reserved[0]!r} is reserved by AWS"
    return None


def _bucket_name(value: str) -> str:
    problem = bucket_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def cpu_millicores(quantity: str) -> float:
    """Millicores of a ``CpuQuantity`` (``500m``, ``2``, ``0.5``)."""
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


def _cpu_bounds(value: str) -> str:
    low, high = CPU_MILLICORES
    if not low <= cpu_millicores(value) <= high:
        raise ValueError(f"{value} is outside {low}m..{high // 1000} CPUs (infra/contract/limits.py)")
    return value


def _memory_bounds(value: str) -> str:
    low, high = MEMORY_BYTES
    if not low <= memory_bytes(value) <= high:
        raise ValueError(f"{value} is outside {low // 2**20}Mi..{high // 2**30}Gi (infra/contract/limits.py)")
    return value


def _workload_namespace(value: str) -> str:
    if value in SYSTEM_NAMESPACES:
        raise ValueError(
            f"{value!r} is a system namespace ({', '.join(SYSTEM_NAMESPACES)}): the stack's objects go in a namespace of their own"
        )
    return value


def credential_problems(value: Any, advice: str, path: str = "") -> list[Problem]:
    """Every key named like a credential and every value shaped like one in a free-form map, at its key path.

    One rule (``infra.contract.credentials``) for every free-form map of the
    config; the value is never echoed.
    """
    problems: list[Problem] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if is_credential_name(str(key)):
                problems.append((sub, f"is a credential: {advice}"))
            else:
                problems += credential_problems(item, advice, sub)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += credential_problems(item, advice, f"{path}.{index}" if path else str(index))
    elif isinstance(value, str):
        kind = credential_value_kind(value)
        if kind:
            problems.append((path, f"holds what looks like {kind}: {advice}"))
    return problems


#: What to do with a credential found in plain text.
SECURE_KEY_ADVICE = "a stack file holds no credential in plain text; keep it in a secure key (pulumi config set --secret NAME)"


def _no_credentials(value: Any) -> Any:
    _raise_problems(credential_problems(value, SECURE_KEY_ADVICE))
    return value


def _version(value: str, pattern: str, what: str, form: str) -> str:
    """A version checked against ``pattern``, refused in words (what it is, its form), never as a raw pattern;
    model and package versions have the contract's own message (``check_model_version``)."""
    if not re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value):
        raise ValueError(f"{value!r} is not a {what}: {form}")
    return value


def versioned(pattern: str, what: str, form: str) -> Any:
    """A version type in its own grammar (``pattern``), with the one wording of ``_version``."""
    return Annotated[str, AfterValidator(lambda v: _version(v, pattern, what, form))]


def _label_value(value: str) -> str:
    if not LABEL_VALUE.fullmatch(value):
        raise ValueError(f"{value!r} is not a label value")
    return value


# --------------------------------------------------------------------------- the types

#: A model version: one grammar and one message everywhere (infra.contract.model_version).
ModelVersion = Annotated[str, BeforeValidator(check_model_version)]
#: The training code's own version (a wheel's or jar's), in the same grammar.
PackageVersion = Annotated[str, BeforeValidator(lambda v: check_model_version(v, "package version"))]
#: A bundle digest: sha256, 64 lowercase hex digits, with the contract's one message.
Sha256Digest = Annotated[str, AfterValidator(check_sha256)]
#: A semantic version (MLeap's).
SemVer = Annotated[str, AfterValidator(lambda v: _version(v, SEMVER, "semantic version", "X.Y.Z, e.g. 0.23.0"))]
#: An S3 general-purpose bucket name, by all of AWS's rules (``bucket_name_problem``).
BucketName = Annotated[str, AfterValidator(_bucket_name)]
AccountId = Annotated[str, AfterValidator(_matching(ACCOUNT_ID))]
Region = Annotated[str, AfterValidator(_matching(REGION))]
#: Any KMS ARN (a key's or an alias's).
KmsArn = Annotated[str, AfterValidator(_matching(KMS_ARN))]
#: A KMS key's own ARN.
KmsKeyArn = Annotated[str, AfterValidator(_matching(KMS_KEY_ARN))]
IamArn = Annotated[str, AfterValidator(_matching(IAM_ARN))]
OidcProviderArn = Annotated[str, AfterValidator(_matching(OIDC_PROVIDER_ARN))]
DnsLabel = Annotated[str, AfterValidator(_matching(DNS_LABEL))]
DnsSubdomain = Annotated[str, AfterValidator(_matching(DNS_SUBDOMAIN))]
HostName = Annotated[str, AfterValidator(_matching(HOST_NAME))]
CpuQuantity = Annotated[str, AfterValidator(_matching(CPU_QUANTITY)), AfterValidator(_cpu_bounds)]
MemoryQuantity = Annotated[str, AfterValidator(_matching(MEMORY_QUANTITY)), AfterValidator(_memory_bounds)]
#: A namespace the stack puts objects in: a DNS label, not a system namespace (``limits.SYSTEM_NAMESPACES``).
WorkloadNamespace = Annotated[str, AfterValidator(_matching(DNS_LABEL)), AfterValidator(_workload_namespace)]
#: A boolean written as one (``true``/``false``): never the text ``"yes"`` or ``"true"``, nor a number.
Bool = Annotated[bool, Strict()]
#: A free-form map of text (labels, annotations, parameters): no key named like a credential, no value shaped like one.
FreeText = Annotated[dict[str, str], AfterValidator(_no_credentials)]
#: Free text that must not hold a credential (a host, a login).
PlainText = Annotated[str, AfterValidator(_no_credentials)]
SecretPrefix = Annotated[str, AfterValidator(_matching(SECRET_PREFIX))]
RelativePath = Annotated[str, AfterValidator(_matching(RELATIVE_PATH)), AfterValidator(no_dot_segments)]
GithubRepository = Annotated[str, AfterValidator(_matching(GITHUB_REPOSITORY))]
Timezone = Annotated[str, AfterValidator(_timezone)]


def matching(pattern: str, what: Optional[str] = None) -> Any:
    """A ``str`` type checked against ``pattern``, for a rule only one field has (its pattern beside the field);
    ``what`` says in words what the value must be, for the message."""
    return Annotated[str, AfterValidator(_matching(pattern, what))]
