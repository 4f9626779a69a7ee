"""One model's read access to the bundle store: an IRSA role for its serving pods."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from infra.contract.naming import MODEL_TAG
from infra.documents.iam import irsa_trust_policy, reader_policy

#: IAM's limit on role names.
_ROLE_NAME_MAX = 64


def fit_role_name(name: str) -> str:
    """``name``, shortened with a stable hash when over IAM's 64 characters."""
    if len(name) <= _ROLE_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _ROLE_NAME_MAX - len(digest) - 1].rstrip('-')}-{digest}"


@dataclass(frozen=True, kw_only=True)
class ServingIdentity:
    """The Kubernetes identity a model's pods run as, and the cluster's OIDC provider that vouches for it (IRSA)."""

    oidc_provider_arn: str
    oidc_issuer: str
    namespace: str
    service_account: str


@dataclass(frozen=True, kw_only=True)
class BundleReaderArgs:
    model: str
    role_name: str
    identity: ServingIdentity
    region: str
    bucket_arn: pulumi.Input[str]
    kms_key_arn: Optional[pulumi.Input[str]]


class BundleReader(pulumi.ComponentResource):
    """Role assumable only by ``<namespace>/<model>-serving``, allowed to get ``<model>/`` objects.

    Per model so a compromised pod reads its own bundles and nothing else.
    """

    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: BundleReaderArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:storage:BundleReader", name, None, opts)
        model, who = args.model, args.identity
        trust = irsa_trust_policy(who.oidc_provider_arn, who.oidc_issuer, who.namespace, who.service_account)
        role = aws.iam.Role(
            name,
            aws.iam.RoleArgs(
                name=args.role_name,
                description=f"IRSA role of {who.namespace}/{who.service_account}: reads s3 bundles of {model}",
                assume_role_policy=trust.to_json(),
                tags={MODEL_TAG: model},  # the stack's tags come from the provider's default_tags
            ),
            pulumi.ResourceOptions(parent=self),
        )
        region = args.region
        aws.iam.RolePolicy(
            f"{name}-get",
            aws.iam.RolePolicyArgs(
                role=role.name,
                name="read-bundles",
                policy=pulumi.Output.all(args.bucket_arn, args.kms_key_arn).apply(
                    lambda arns: reader_policy(arns[0], model, arns[1], region).to_json()
                ),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})
