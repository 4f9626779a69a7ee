"""What a provider can say about a resource it has not created yet: the outputs a plan shows.

``pulumi preview`` of a new stack knows a resource's inputs and nothing the
cloud assigns on create: ids (a Databricks job id, a KMS key id, a Secrets
Manager ARN with its random suffix) stay unknown, shown as ``output<string>``.
The offline engine does the same (``modelctl.engine`` records such a value as
:data:`UNKNOWN_PLACEHOLDER`, the policy pack gets the engine's unknown
sentinel):

* the id of every custom resource is unknown, as the SDK models it natively;
* outputs fixed by the inputs are known: an S3 bucket's ARN
  (``arn:<partition>:s3:::<bucket>``), and an IAM role's, policy's, user's,
  group's or instance profile's (``arn:<partition>:iam::<account>:role/<name>``,
  the account the stack deploys to). They are the values the create will
  return;
* an ARN the provider assigns (a KMS key's, a Secrets Manager secret's) is
  an ARN with a hole, ``arn:aws:kms:eu-west-2:444455556666:key/[unknown]``,
  and is listed in :attr:`PreviewState.assigned`. Used whole (an input, a
  stack output) it is recorded as unknown; text the program builds from it
  (a policy document) keeps its known parts and shows the hole, so a
  reviewer and the policy pack still read the document. ``pulumi preview``
  of a new stack would show such a document as unknown; a preview of the
  deployed stack knows the key and shows it whole. See ``modelctl.check``;
* every other output is left out of the state, which the SDK resolves as
  unknown during a preview.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: How a value known only after deployment is recorded and printed, whole or as the hole in a text.
UNKNOWN_PLACEHOLDER = "[unknown]"

#: IAM resource types whose ARN is ``arn:<partition>:iam::<account>:<kind><path><name>``.
_IAM_ARN_KINDS = {
    "aws:iam/role:Role": "role",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/user:User": "user",
    "aws:iam/group:Group": "group",
    "aws:iam/instanceProfile:InstanceProfile": "instance-profile",
}
_BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
KMS_KEY = "aws:kms/key:Key"
SECRETS_MANAGER_SECRET = "aws:secretsmanager/secret:Secret"


@dataclass(frozen=True)
class StackCloud:
    """Where the stack deploys: its region and account (``modelctl.engine`` picks them from the stack file)."""

    region: str
    account: str

    @property
    def partition(self) -> str:
        return partition_of(self.region)[0]


@dataclass(frozen=True)
class PreviewState:
    """A resource's outputs during a preview, and which of them the provider assigns on create."""

    outputs: dict[str, Any]
    assigned: frozenset[str] = field(default_factory=frozenset)


def partition_of(region: str) -> tuple[str, str]:
    """The AWS partition of a region and its DNS suffix."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def preview_state(type_: str, inputs: dict[str, Any], cloud: StackCloud) -> PreviewState:
    """The resource's inputs, plus the ARN (and key id) its type and inputs give it (see the module doc)."""
    outputs = dict(inputs)
    assigned: set[str] = set()
    if type_ in _BUCKET_TYPES:
        bucket = inputs.get("bucket")
        if _is_text(bucket):
            outputs["arn"] = f"arn:{cloud.partition}:s3:::{bucket}"
    elif type_ in _IAM_ARN_KINDS:
        outputs["arn"] = _iam_arn(_IAM_ARN_KINDS[type_], inputs, cloud)
        if UNKNOWN_PLACEHOLDER in outputs["arn"]:
            assigned.add(outputs["arn"])
    elif type_ == KMS_KEY:
        outputs["keyId"] = UNKNOWN_PLACEHOLDER
        outputs["arn"] = f"arn:{cloud.partition}:kms:{cloud.region}:{cloud.account}:key/{UNKNOWN_PLACEHOLDER}"
        assigned.add(outputs["arn"])
    elif type_ == SECRETS_MANAGER_SECRET:
        name = inputs.get("name") if _is_text(inputs.get("name")) else UNKNOWN_PLACEHOLDER
        # Secrets Manager appends a random '-XXXXXX' to the name.
        outputs["arn"] = (
            f"arn:{cloud.partition}:secretsmanager:{cloud.region}:{cloud.account}:secret:{name}-{UNKNOWN_PLACEHOLDER}"
        )
        assigned.add(outputs["arn"])
    return PreviewState(outputs, frozenset(assigned))


def _iam_arn(kind: str, inputs: dict[str, Any], cloud: StackCloud) -> str:
    """The IAM ARN; its name is a hole when the provider generates one."""
    name, path = inputs.get("name"), inputs.get("path", "/")
    name = name if _is_text(name) else UNKNOWN_PLACEHOLDER
    path = path if _is_text(path) else f"/{UNKNOWN_PLACEHOLDER}/"
    return f"arn:{cloud.partition}:iam::{cloud.account}:{kind}{path}{name}"


def _is_text(value: Any) -> bool:
    """A plain, known string (not an unknown, not a secret wrapper, not the hole)."""
    return isinstance(value, str) and bool(value) and UNKNOWN_PLACEHOLDER not in value
