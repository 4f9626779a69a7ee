"""The team's Databricks cluster policy, and the cluster conventions it enforces.

Every cluster the stack declares (the discovery cluster, each training job's
cluster) runs under this policy, so a cluster someone clicks together in the UI
obeys the same limits: the MLeap-compatible runtime, allow-listed node types,
a cap on workers, autotermination that cannot be switched off, an on-demand
driver, and the cost tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_databricks as databricks

from infra.config import StackConfig
from infra.naming import aws_tags, physical_name

#: Workers run on spot instances and fall back to on-demand when spot capacity is gone.
SPOT_WITH_FALLBACK = "SPOT_WITH_FALLBACK"
#: ``first_on_demand``: the first node, the driver, is on-demand, so a spot reclaim never takes the driver (and the run).
ON_DEMAND_DRIVER = 1
#: Autotermination below this is refused by Databricks.
MIN_AUTOTERMINATION_MINUTES = 10


def cluster_policy_definition(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """The policy definition (Databricks policy JSON, as a dict) for the stack's team."""
    db = cfg.databricks
    limits = db.cluster_policy
    definition: dict[str, dict[str, Any]] = {
        "spark_version": {"type": "allowlist", "values": [db.spark_version], "defaultValue": db.spark_version},
        "node_type_id": {"type": "allowlist", "values": list(db.node_types), "defaultValue": db.default_node_type},
        "driver_node_type_id": {
            "type": "allowlist",
            "values": list(db.node_types),
            "defaultValue": db.driver_node_type_or_default,
        },
        # Fixed-size (jobs) and autoscaling (notebooks) clusters each set only one of the two.
        "num_workers": {"type": "range", "minValue": 0, "maxValue": limits.max_workers, "isOptional": True},
        "autoscale.max_workers": {"type": "range", "maxValue": limits.max_workers, "isOptional": True},
        "autotermination_minutes": {
            "type": "range",
            "minValue": MIN_AUTOTERMINATION_MINUTES,
            "maxValue": limits.autotermination_minutes,
            "defaultValue": limits.autotermination_minutes,
        },
        "aws_attributes.first_on_demand": {"type": "range", "minValue": ON_DEMAND_DRIVER, "defaultValue": ON_DEMAND_DRIVER},
    }
    for key, value in aws_tags(cfg).items():
        definition[f"custom_tags.{key}"] = {"type": "fixed", "value": value}
    return definition


@dataclass(frozen=True)
class TeamClusterPolicyArgs:
    config: StackConfig


class TeamClusterPolicy(pulumi.ComponentResource):
    """The cluster policy and the team group's permission to use it."""

    policy_id: pulumi.Output[str]

    def __init__(self, name: str, args: TeamClusterPolicyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:TeamClusterPolicy", name, None, opts)
        cfg = args.config
        policy = databricks.ClusterPolicy(
            name,
            databricks.ClusterPolicyArgs(
                name=physical_name(cfg, "training"),
                description=f"Clusters of {cfg.databricks.team_group} for {cfg.environment.value} model training "
                "(managed by Pulumi).",
                definition=json.dumps(cluster_policy_definition(cfg), sort_keys=True),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        databricks.Permissions(
            f"{name}-users",
            databricks.PermissionsArgs(
                cluster_policy_id=policy.id,
                access_controls=[
                    databricks.PermissionsAccessControlArgs(group_name=cfg.databricks.team_group, permission_level="CAN_USE")
                ],
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.policy_id = policy.id
        self.register_outputs({"policyId": self.policy_id})
