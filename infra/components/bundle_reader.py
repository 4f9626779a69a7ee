"""One model's read access to the bundle store: an IRSA role for its serving pods."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from infra.components.iam_documents import irsa_trust_policy, reader_policy
from infra.config import StackConfig
from infra.naming import aws_tags, physical_name, service_account_name

#: IAM's limit on role names.
_ROLE_NAME_MAX = 64


def role_name(cfg: StackConfig, model: str) -> str:
    """``<project>-<env>-<model>-reader``, shortened with a stable hash when over IAM's 64 characters."""
    name = physical_name(cfg, model, "reader")
    if len(name) <= _ROLE_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _ROLE_NAME_MAX - len(digest) - 1].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class BundleReaderArgs:
    config: StackConfig
    model: str
    bucket_arn: pulumi.Input[str]
    kms_key_arn: Optional[pulumi.Input[str]]


class BundleReader(pulumi.ComponentResource):
    """Role assumable only by ``<namespace>/<model>-serving``, allowed to get ``<model>/`` objects.

    Per model so a compromised pod reads its own bundles and nothing else.
    """

    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: BundleReaderArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:storage:BundleReader", name, None, opts)
        cfg, model = args.config, args.model
        namespace, service_account = cfg.kubernetes.namespace, service_account_name(model)
        trust = irsa_trust_policy(cfg.kubernetes.oidc_provider_arn, cfg.kubernetes.oidc_issuer, namespace, service_account)
        role = aws.iam.Role(
            name,
            aws.iam.RoleArgs(
                name=role_name(cfg, model),
                description=f"IRSA role of {namespace}/{service_account}: reads s3 bundles of {model}",
                assume_role_policy=trust.to_json(),
                tags=aws_tags(cfg, model),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        region = cfg.aws.region
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
