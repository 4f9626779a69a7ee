"""The team's Databricks cluster policy definition, the cluster conventions it enforces, and the training job's steps.

Every cluster the stack declares (the discovery cluster, each training job's
cluster) runs under this policy, so a cluster someone clicks together in the UI
obeys the same limits: the MLeap-compatible runtime, allow-listed node types,
a cap on workers, autotermination that cannot be switched off, an on-demand
driver, and the cost tags. ``STEPS`` is the job's task list, which the job
declares and the training DAG's run timeout counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from infra.contract.limits import MIN_AUTOTERMINATION_MINUTES  # Databricks refuses autotermination below it

#: Workers run on spot instances and fall back to on-demand when spot capacity is gone.
SPOT_WITH_FALLBACK = "SPOT_WITH_FALLBACK"
#: ``first_on_demand``: the first node, the driver, is on-demand, so a spot reclaim never takes the driver (and the run).
ON_DEMAND_DRIVER = 1


@dataclass(frozen=True, kw_only=True)
class ClusterPolicyLimits:
    """What the policy allows: the runtime, the node types (the default first), and the caps."""

    spark_version: str
    node_types: tuple[str, ...]
    default_node_type: str
    driver_node_type: str
    max_workers: int
    autotermination_minutes: int
    #: Fixed on every cluster (``custom_tags.<key>``): the stack's cost tags.
    custom_tags: Mapping[str, str]

    def __post_init__(self) -> None:
        if self.autotermination_minutes < MIN_AUTOTERMINATION_MINUTES:
            raise ValueError(f"autotermination below {MIN_AUTOTERMINATION_MINUTES} minutes is refused by Databricks")


def cluster_policy_definition(limits: ClusterPolicyLimits) -> dict[str, dict[str, Any]]:
    """The policy definition (Databricks policy JSON, as a dict); serialize it with sorted keys."""
    definition: dict[str, dict[str, Any]] = {
        "spark_version": {"type": "allowlist", "values": [limits.spark_version], "defaultValue": limits.spark_version},
        "node_type_id": {"type": "allowlist", "values": list(limits.node_types), "defaultValue": limits.default_node_type},
        "driver_node_type_id": {
            "type": "allowlist",
            "values": list(limits.node_types),
            "defaultValue": limits.driver_node_type,
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
    for key, value in limits.custom_tags.items():
        definition[f"custom_tags.{key}"] = {"type": "fixed", "value": value}
    return definition


@dataclass(frozen=True, kw_only=True)
class ClusterShape:
    """What every cluster of the stack runs on: the runtime, the MLeap line it exports with, the default nodes."""

    spark_version: str
    mleap_version: str
    default_node_type: str
    driver_node_type: str


# --------------------------------------------------------------------------- the training job


@dataclass(frozen=True)
class Step:
    """One task of the training job."""

    key: str
    after: Optional[str]
    description: str


#: The pipeline in run order (each step runs after the one before). Declared to Databricks
#: sorted by task key: in any other order pulumi-databricks shows a diff on every update (#49).
STEPS: tuple[Step, ...] = (
    Step("prepare_data", None, "Read the data source and write this run's training data set to its work area."),
    Step(
        "validate_data",
        "prepare_data",
        "Data-integrity checks (schema, nulls, ranges, row count, drift against the released version); a failure "
        "stops the run before anything is published.",
    ),
    Step("train", "validate_data", "Fit and test the Spark ML pipeline; a metric worse than the threshold stops the run."),
    Step(
        "export_bundle",
        "train",
        "Serialize the pipeline to an MLeap bundle; publish it with its samples, metrics and statistics (never overwriting).",
    ),
    Step(
        "check_bundle",
        "export_bundle",
        "Load the bundle with the MLeap runtime, reproduce the samples, then seal the version with bundle.zip.sha256.",
    ),
)
