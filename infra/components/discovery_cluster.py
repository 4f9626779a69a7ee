"""The all-purpose cluster the team uses for notebook work (the "discovery" phase).

Same runtime, MLeap libraries and instance profile as the training jobs, so a
pipeline that exports from a notebook exports the same way in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_databricks as databricks

from infra.documents.databricks import ON_DEMAND_DRIVER, SPOT_WITH_FALLBACK, ClusterShape
from infra.contract.mleap_compat import mleap_python_requirement, mleap_spark_coordinates


@dataclass(frozen=True, kw_only=True)
class DiscoverySettings:
    """The discovery cluster as configured (``databricks.discoveryCluster``), resolved against the stack's defaults."""

    cluster_name: str
    shape: ClusterShape
    node_type: str
    min_workers: int
    max_workers: int
    autotermination_minutes: int
    single_user_name: Optional[str]
    team_group: str
    custom_tags: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class DiscoveryClusterArgs:
    settings: DiscoverySettings
    policy_id: pulumi.Input[str]
    instance_profile_arn: pulumi.Input[str]


class DiscoveryCluster(pulumi.ComponentResource):
    """An autoscaling, autoterminating cluster under the team policy, restartable by the team."""

    cluster_id: pulumi.Output[str]

    def __init__(self, name: str, args: DiscoveryClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:DiscoveryCluster", name, None, opts)
        settings, shape = args.settings, args.settings.shape
        cluster = databricks.Cluster(
            name,
            databricks.ClusterArgs(
                cluster_name=settings.cluster_name,
                policy_id=args.policy_id,
                spark_version=shape.spark_version,
                node_type_id=settings.node_type,
                driver_node_type_id=shape.driver_node_type,
                autoscale=databricks.ClusterAutoscaleArgs(min_workers=settings.min_workers, max_workers=settings.max_workers),
                autotermination_minutes=settings.autotermination_minutes,
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
                            coordinates=mleap_spark_coordinates(shape.spark_version, shape.mleap_version)
                        )
                    ),
                    databricks.ClusterLibraryArgs(
                        pypi=databricks.ClusterLibraryPypiArgs(package=mleap_python_requirement(shape.mleap_version))
                    ),
                ],
                custom_tags=dict(settings.custom_tags),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        databricks.Permissions(
            f"{name}-users",
            databricks.PermissionsArgs(
                cluster_id=cluster.id,
                access_controls=[
                    databricks.PermissionsAccessControlArgs(group_name=settings.team_group, permission_level="CAN_RESTART")
                ],
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.cluster_id = cluster.id
        self.register_outputs({"clusterId": self.cluster_id})
