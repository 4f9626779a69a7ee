"""Training: the Databricks cluster policy, discovery cluster and one training job per model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from infra.config import StackConfig


@dataclass(frozen=True)
class TrainingArgs:
    config: StackConfig
    bucket_name: pulumi.Input[str]
    writer_policy_arn: pulumi.Input[str]


class Training(pulumi.ComponentResource):
    """Cluster policy, instance profile, optional discovery cluster, a job per model."""

    policy_id: pulumi.Output[str]
    cluster_id: Optional[pulumi.Output[str]]
    job_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: TrainingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:Training", name, None, opts)
        # TODO(issue 4)
        self.policy_id = pulumi.Output.from_input("")
        self.cluster_id = None
        self.job_ids = {m: pulumi.Output.from_input("") for m in args.config.models}
        self.register_outputs({})
