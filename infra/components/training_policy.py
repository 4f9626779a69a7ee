"""The team's Databricks cluster policy (infra/documents/databricks.py) and the team's permission to use it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_databricks as databricks

from infra.documents.databricks import ClusterPolicyLimits, cluster_policy_definition


@dataclass(frozen=True, kw_only=True)
class TeamClusterPolicyArgs:
    policy_name: str
    description: str
    team_group: str
    limits: ClusterPolicyLimits


class TeamClusterPolicy(pulumi.ComponentResource):
    """The cluster policy and the team group's permission to use it."""

    policy_id: pulumi.Output[str]

    def __init__(self, name: str, args: TeamClusterPolicyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:TeamClusterPolicy", name, None, opts)
        policy = databricks.ClusterPolicy(
            name,
            databricks.ClusterPolicyArgs(
                name=args.policy_name,
                description=args.description,
                definition=json.dumps(cluster_policy_definition(args.limits), sort_keys=True),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        databricks.Permissions(
            f"{name}-users",
            databricks.PermissionsArgs(
                cluster_policy_id=policy.id,
                access_controls=[databricks.PermissionsAccessControlArgs(group_name=args.team_group, permission_level="CAN_USE")],
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.policy_id = policy.id
        self.register_outputs({"policyId": self.policy_id})
