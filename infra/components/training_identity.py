"""The identity training clusters run with: an IAM role that may write bundles, registered in Databricks.

Clusters reach S3 through an EC2 instance profile; Databricks launches a
cluster with it only once the profile is registered in the workspace and the
workspace's cross-account role may pass the training role.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_databricks as databricks

from infra.config import StackConfig
from infra.naming import aws_tags, physical_name

_EC2_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@dataclass(frozen=True)
class TrainingInstanceProfileArgs:
    config: StackConfig
    writer_policy_arn: pulumi.Input[str]


class TrainingInstanceProfile(pulumi.ComponentResource):
    """IAM role + bundle writer policy + EC2 instance profile, registered with ``databricks.InstanceProfile``."""

    role_arn: pulumi.Output[str]
    #: The registered profile's ARN: using it makes a cluster wait for the registration.
    instance_profile_arn: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingInstanceProfileArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:TrainingInstanceProfile", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        # Role and profile share one name: Databricks then needs no separate role ARN to match them.
        physical = physical_name(cfg, "training")
        role = aws.iam.Role(
            f"{name}-role",
            aws.iam.RoleArgs(
                name=physical,
                description="Assumed by Databricks training clusters; may write MLeap bundles to the bundle store.",
                assume_role_policy=json.dumps(_EC2_TRUST_POLICY),
                tags=aws_tags(cfg),
            ),
            child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-bundle-writer",
            aws.iam.RolePolicyAttachmentArgs(role=role.name, policy_arn=args.writer_policy_arn),
            child,
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-profile",
            aws.iam.InstanceProfileArgs(name=physical, role=role.name, tags=aws_tags(cfg)),
            child,
        )
        pass_role = None
        if cfg.databricks.cross_account_role_name:
            pass_role = aws.iam.RolePolicy(
                f"{name}-pass-role",
                aws.iam.RolePolicyArgs(
                    name=physical_name(cfg, "pass-training-role"),
                    role=cfg.databricks.cross_account_role_name,
                    policy=role.arn.apply(
                        lambda arn: json.dumps(
                            {
                                "Version": "2012-10-17",
                                "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": arn}],
                            }
                        )
                    ),
                ),
                child,
            )
        registration = databricks.InstanceProfile(
            name,
            databricks.InstanceProfileArgs(instance_profile_arn=profile.arn, iam_role_arn=role.arn),
            # Databricks validates the profile by launching with it: the role must be passable first.
            pulumi.ResourceOptions(parent=self, depends_on=[pass_role] if pass_role else None),
        )
        self.role_arn = role.arn
        self.instance_profile_arn = registration.instance_profile_arn
        self.register_outputs({"roleArn": self.role_arn, "instanceProfileArn": self.instance_profile_arn})
