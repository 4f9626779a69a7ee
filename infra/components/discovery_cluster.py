"""The all-purpose cluster the team uses for notebook work (the "discovery" phase).

Same runtime, MLeap libraries and instance profile as the training jobs, so a
pipeline that exports from a notebook exports the same way in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_databricks as databricks

from infra.components.training_policy import ON_DEMAND_DRIVER, SPOT_WITH_FALLBACK
from infra.config import StackConfig
from infra.mleap_compat import mleap_python_requirement, mleap_spark_coordinates
from infra.naming import aws_tags, physical_name


@dataclass(frozen=True)
class DiscoveryClusterArgs:
    config: StackConfig
    policy_id: pulumi.Input[str]
    instance_profile_arn: pulumi.Input[str]


class DiscoveryCluster(pulumi.ComponentResource):
    """An autoscaling, autoterminating cluster under the team policy, restartable by the team."""

    cluster_id: pulumi.Output[str]

    def __init__(self, name: str, args: DiscoveryClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:DiscoveryCluster", name, None, opts)
        cfg = args.config
        db = cfg.databricks
        settings = db.discovery_cluster
        cluster = databricks.Cluster(
            name,
            databricks.ClusterArgs(
                cluster_name=physical_name(cfg, "discovery"),
                policy_id=args.policy_id,
                spark_version=db.spark_version,
                node_type_id=settings.node_type or db.default_node_type,
                driver_node_type_id=db.driver_node_type_or_default,
                autoscale=databricks.ClusterAutoscaleArgs(min_workers=settings.min_workers, max_workers=settings.max_workers),
                autotermination_minutes=db.discovery_autotermination_minutes,
                aws_attributes=databricks.ClusterAwsAttributesArgs(
                    availability=SPOT_WITH_FALLBACK,
                    first_on_demand=ON_DEMAND_DRIVER,
                    instance_profile_arn=args.instance_profile_arn,
                ),
                # MLeap's Scala libraries and DBR ML 13.3 do not run in shared (USER_ISOLATION) mode:
                # dedicated to one user when configured, else shared by the team without isolation.
                data_security_mode="SINGLE_USER" if settings.single_user_name else "NONE",
                single_user_name=settings.single_user_name,
                libraries=[
                    databricks.ClusterLibraryArgs(
                        maven=databricks.ClusterLibraryMavenArgs(
                            coordinates=mleap_spark_coordinates(db.spark_version, db.mleap_version)
                        )
                    ),
                    databricks.ClusterLibraryArgs(
                        pypi=databricks.ClusterLibraryPypiArgs(package=mleap_python_requirement(db.mleap_version))
                    ),
                ],
                custom_tags=aws_tags(cfg),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        databricks.Permissions(
            f"{name}-users",
            databricks.PermissionsArgs(
                cluster_id=cluster.id,
                access_controls=[
                    databricks.PermissionsAccessControlArgs(group_name=db.team_group, permission_level="CAN_RESTART")
                ],
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.cluster_id = cluster.id
        self.register_outputs({"clusterId": self.cluster_id})
