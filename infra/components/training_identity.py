"""The identity training clusters run with: an IAM role that may write bundles and read its packages.

Clusters reach S3 through an EC2 instance profile; Databricks launches a
cluster with it only once the profile is registered in the workspace and the
workspace's cross-account role may pass the training role. Databricks also
installs each task's ``s3://`` library (the model's wheel or jar) with that
profile, so the role may get exactly those packages, at any version. Packages
on ``dbfs:/``, ``/Volumes/`` or ``/Workspace/`` are read by Databricks itself
and need no IAM. An ``s3://`` package in a bucket encrypted with a
customer-managed KMS key also needs ``kms:Decrypt`` on that key, which the
stack does not know: grant it outside the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import pulumi
import pulumi_aws as aws
import pulumi_databricks as databricks

from infra.documents.arns import is_s3_uri, versioned_object_arn
from infra.documents.iam import artifact_reader_policy, pass_role_policy, service_trust_policy
from infra.documents.iam_policy import EC2_SERVICE


def package_object_arns(packages: Iterable[str], region: str) -> tuple[str, ...]:
    """ARN patterns of the ``s3://`` training packages (URI templates), at any version (other schemes need no IAM)."""
    return tuple(sorted({versioned_object_arn(p, region) for p in packages if is_s3_uri(p)}))


@dataclass(frozen=True, kw_only=True)
class PassRoleGrant:
    """The Databricks workspace's cross-account role, and the name of the inline policy letting it pass ours."""

    cross_account_role_name: str
    policy_name: str


@dataclass(frozen=True, kw_only=True)
class IdentitySettings:
    """The training role's fixed name (also the profile's), what it may read, and who may pass it."""

    role_name: str
    package_arns: tuple[str, ...]
    pass_role: Optional[PassRoleGrant]


@dataclass(frozen=True, kw_only=True)
class TrainingInstanceProfileArgs:
    settings: IdentitySettings
    writer_policy_arn: pulumi.Input[str]


class TrainingInstanceProfile(pulumi.ComponentResource):
    """IAM role + bundle writer policy + package reader policy + EC2 instance profile, registered in Databricks."""

    role_arn: pulumi.Output[str]
    #: The registered profile's ARN: using it makes a cluster wait for the registration.
    instance_profile_arn: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingInstanceProfileArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:TrainingInstanceProfile", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        # Role and profile share one name: Databricks then needs no separate role ARN to match them.
        physical = settings.role_name
        role = aws.iam.Role(
            f"{name}-role",
            aws.iam.RoleArgs(
                name=physical,
                description="Assumed by Databricks training clusters: writes MLeap bundles, reads the models' training packages.",
                assume_role_policy=service_trust_policy(EC2_SERVICE).to_json(),
            ),
            child,
        )
        grants: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(
                f"{name}-bundle-writer",
                aws.iam.RolePolicyAttachmentArgs(role=role.name, policy_arn=args.writer_policy_arn),
                child,
            )
        ]
        packages = settings.package_arns
        if packages:
            grants.append(
                aws.iam.RolePolicy(
                    f"{name}-packages",
                    aws.iam.RolePolicyArgs(
                        role=role.name, name="read-training-packages", policy=artifact_reader_policy(packages).to_json()
                    ),
                    child,
                )
            )
        profile = aws.iam.InstanceProfile(
            f"{name}-profile",
            aws.iam.InstanceProfileArgs(name=physical, role=role.name),
            child,
        )
        if settings.pass_role:
            grants.append(
                aws.iam.RolePolicy(
                    f"{name}-pass-role",
                    aws.iam.RolePolicyArgs(
                        name=settings.pass_role.policy_name,
                        role=settings.pass_role.cross_account_role_name,
                        policy=role.arn.apply(lambda arn: pass_role_policy(arn, EC2_SERVICE).to_json()),
                    ),
                    child,
                )
            )
        registration = databricks.InstanceProfile(
            name,
            databricks.InstanceProfileArgs(instance_profile_arn=profile.arn, iam_role_arn=role.arn),
            # Databricks validates the profile by launching with it: the role must be passable first.
            # Clusters use the registered ARN, so none starts before the role holds its grants.
            pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        self.role_arn = role.arn
        self.instance_profile_arn = registration.instance_profile_arn
        self.register_outputs({"roleArn": self.role_arn, "instanceProfileArn": self.instance_profile_arn})
