"""``model-platform:databricks``: the workspace, its runtime and MLeap version, the cluster policy, the discovery cluster.

The runtime/MLeap pair is checked against ``infra.contract.mleap_compat``,
the table the policy pack judges clusters with.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from infra.config.base import Block, Problem, _err, _raise_problems
from infra.config.types import Bool, SemVer, matching
from infra.contract.limits import MIN_AUTOTERMINATION_MINUTES
from infra.contract.mleap_compat import check_runtime_mleap_pair

#: A workspace URL: https, a host name, nothing after it.
WorkspaceUrl = matching(r"^https://[a-z0-9.-]+$", "a workspace URL: https://<host>, nothing after the host")
#: An email address: something, '@', a host with a dot.
Email = matching(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an email address")
#: An IAM role name.
IamRoleName = matching(r"^[\w+=,.@-]{1,64}$", "an IAM role name: 1 to 64 letters, digits and +=,.@_-")


class ClusterPolicyConfig(Block):
    max_workers: int = Field(8, ge=1, le=1000, description="Cap on workers for every cluster under the team policy.")
    autotermination_minutes: int = Field(
        30,
        ge=MIN_AUTOTERMINATION_MINUTES,
        le=10000,
        description="Longest idle time (minutes) before a cluster under the policy stops, and its default; "
        "autotermination cannot be turned off.",
    )


#: Idle minutes before the discovery cluster stops, unless configured (or capped lower by the policy).
DEFAULT_DISCOVERY_AUTOTERMINATION_MINUTES = 30


class DiscoveryClusterConfig(Block):
    enabled: Optional[Bool] = Field(None, description="Create the all-purpose discovery cluster. Default: false in prod, true elsewhere.")
    min_workers: int = Field(1, ge=0, le=1000, description="Autoscale lower bound.")
    max_workers: int = Field(4, ge=1, le=1000, description="Autoscale upper bound.")
    autotermination_minutes: Optional[int] = Field(
        None,
        ge=MIN_AUTOTERMINATION_MINUTES,
        le=10000,
        description="Idle minutes before the cluster stops (10..10000, at most clusterPolicy.autoterminationMinutes). "
        "Default: 30, or the policy's limit when that is lower.",
    )
    node_type: Optional[str] = Field(None, description="Worker node type (default: the first allow-listed node type).")
    single_user_name: Optional[str] = Field(
        None,
        min_length=1,
        description="Dedicate the cluster to this workspace user (SINGLE_USER access mode). Unset: the team shares it without "
        "isolation, since DBR ML 13.3 and MLeap's Scala libraries do not run in shared (USER_ISOLATION) mode.",
    )

    @model_validator(mode="after")
    def _range(self) -> "DiscoveryClusterConfig":
        if self.min_workers > self.max_workers:
            raise _err("minWorkers", f"{self.min_workers} is greater than maxWorkers ({self.max_workers})")
        return self


class DatabricksConfig(Block):
    host: WorkspaceUrl = Field(description="Workspace URL, e.g. https://dbc-1234.cloud.databricks.com.")
    auth: Literal["token", "oauth-m2m"] = Field(
        "oauth-m2m",
        description="How Pulumi and Airflow authenticate: a service principal's OAuth client credentials (clientId + secure "
        "databricksClientSecret), or a personal access token (secure databricksToken).",
    )
    client_id: Optional[str] = Field(None, description="Service principal application id (auth: oauth-m2m).")
    spark_version: str = Field(description="Databricks runtime key, e.g. 13.3.x-cpu-ml-scala2.12.")
    mleap_version: SemVer = Field(description="MLeap version the training jobs export with.")
    node_types: list[str] = Field(min_length=1, description="Node types allowed by the cluster policy; the first is the default.")
    driver_node_type: Optional[str] = Field(None, description="Driver node type (default: the first allow-listed node type).")
    team_group: str = Field("data-science", min_length=1, description="Workspace group that may use the policy and view jobs.")
    airflow_service_principal: str = Field(min_length=1, description="Application id of the service principal Airflow runs jobs as.")
    notification_emails: list[Email] = Field(min_length=1, description="Addresses told about failed training runs.")
    cluster_policy: ClusterPolicyConfig = Field(default_factory=ClusterPolicyConfig, description="The team's cluster policy.")
    discovery_cluster: DiscoveryClusterConfig = Field(default_factory=DiscoveryClusterConfig, description="Notebook cluster.")
    cross_account_role_name: Optional[IamRoleName] = Field(
        None,
        description="Name of the workspace's cross-account IAM role. Set: the stack lets it pass the training role "
        "(iam:PassRole), which Databricks needs to launch clusters with the instance profile. Unset: grant it outside the stack.",
    )

    @model_validator(mode="after")
    def _cross(self) -> "DatabricksConfig":
        problems: list[Problem] = []
        if self.auth == "oauth-m2m" and not self.client_id:
            problems.append(("clientId", "is required when auth is 'oauth-m2m'"))
        incompatible = check_runtime_mleap_pair(self.spark_version, self.mleap_version)
        if incompatible:
            problems.append((incompatible.key, incompatible.message))
        for key, node in (("driverNodeType", self.driver_node_type), ("discoveryCluster.nodeType", self.discovery_cluster.node_type)):
            if node and node not in self.node_types:
                problems.append((key, f"{node!r} is not in nodeTypes {self.node_types}"))
        if self.discovery_cluster.max_workers > self.cluster_policy.max_workers:
            problems.append((
                "discoveryCluster.maxWorkers",
                f"{self.discovery_cluster.max_workers} is greater than clusterPolicy.maxWorkers ({self.cluster_policy.max_workers})",
            ))
        if (self.discovery_cluster.autotermination_minutes or 0) > self.cluster_policy.autotermination_minutes:
            problems.append((
                "discoveryCluster.autoterminationMinutes",
                f"{self.discovery_cluster.autotermination_minutes} is greater than clusterPolicy.autoterminationMinutes "
                f"({self.cluster_policy.autotermination_minutes}), the longest the policy allows",
            ))
        _raise_problems(problems)
        return self

    @property
    def default_node_type(self) -> str:
        return self.node_types[0]

    @property
    def driver_node_type_or_default(self) -> str:
        return self.driver_node_type or self.default_node_type

    @property
    def discovery_autotermination_minutes(self) -> int:
        """The discovery cluster's idle timeout: as configured, else 30 minutes within the policy's limit."""
        configured = self.discovery_cluster.autotermination_minutes
        return configured or min(DEFAULT_DISCOVERY_AUTOTERMINATION_MINUTES, self.cluster_policy.autotermination_minutes)
