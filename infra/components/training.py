"""Training: the Databricks cluster policy, discovery cluster and one training job per model.

The production phase of the pipeline: each model's job trains a Spark ML
pipeline on Databricks and ends with a checked MLeap bundle in the bundle
store, written through an instance profile that holds the store's writer policy
and may read the models' own ``s3://`` training packages (training_identity.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi

from infra.components.discovery_cluster import DiscoveryCluster, DiscoveryClusterArgs, DiscoverySettings
from infra.components.training_identity import IdentitySettings, TrainingInstanceProfile, TrainingInstanceProfileArgs
from infra.components.training_job import TrainingJob, TrainingJobArgs, TrainingJobSettings
from infra.components.training_policy import TeamClusterPolicy, TeamClusterPolicyArgs


@dataclass(frozen=True, kw_only=True)
class TrainingArgs:
    policy: TeamClusterPolicyArgs
    identity: IdentitySettings
    #: None: no discovery cluster (the prod default).
    discovery: Optional[DiscoverySettings]
    jobs: Mapping[str, TrainingJobSettings]
    bucket_name: pulumi.Input[str]
    writer_policy_arn: pulumi.Input[str]


class Training(pulumi.ComponentResource):
    """Cluster policy, instance profile, optional discovery cluster, a job per model."""

    policy_id: pulumi.Output[str]
    cluster_id: Optional[pulumi.Output[str]]
    job_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: TrainingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:Training", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy = TeamClusterPolicy(f"{name}-policy", args.policy, child)
        identity = TrainingInstanceProfile(
            f"{name}-instance-profile",
            TrainingInstanceProfileArgs(settings=args.identity, writer_policy_arn=args.writer_policy_arn),
            child,
        )
        self.policy_id = policy.policy_id
        self.cluster_id = None
        if args.discovery is not None:
            discovery = DiscoveryCluster(
                f"{name}-discovery",
                DiscoveryClusterArgs(
                    settings=args.discovery, policy_id=policy.policy_id, instance_profile_arn=identity.instance_profile_arn
                ),
                child,
            )
            self.cluster_id = discovery.cluster_id
        self.job_ids = {
            model: TrainingJob(
                f"{model}-training",
                TrainingJobArgs(
                    model=model,
                    settings=settings,
                    bucket_name=args.bucket_name,
                    policy_id=policy.policy_id,
                    instance_profile_arn=identity.instance_profile_arn,
                ),
                child,
            ).job_id
            for model, settings in args.jobs.items()
        }
        outputs: dict[str, pulumi.Input[object]] = {"policyId": self.policy_id, "jobIds": self.job_ids}
        if self.cluster_id is not None:
            outputs["clusterId"] = self.cluster_id
        self.register_outputs(outputs)
