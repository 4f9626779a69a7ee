"""Print a plan as a resource tree with each resource's key inputs."""

from __future__ import annotations

from typing import Any

from modelctl.diff import flatten
from modelctl.engine import Plan, PlannedResource, to_plain

#: Inputs worth a reviewer's eye, by resource type (dotted paths); others show top-level scalars.
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("bucket",),
    "aws:s3/bucketVersioning:BucketVersioning": ("versioningConfiguration.status",),
    "aws:iam/role:Role": ("name",),
    "aws:iam/policy:Policy": ("name",),
    "kubernetes:apps/v1:Deployment": (
        "metadata.namespace",
        "spec.template.metadata.labels.app.kubernetes.io/version",
        "spec.template.spec.containers[0].image",
    ),
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": ("spec.minReplicas", "spec.maxReplicas"),
    "kubernetes:policy/v1:PodDisruptionBudget": ("spec.maxUnavailable", "spec.minAvailable"),
    "kubernetes:core/v1:ServiceAccount": ("metadata.annotations.eks.amazonaws.com/role-arn",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "rules[0].applyServerSideEncryptionByDefault.sseAlgorithm",
        "rules[0].bucketKeyEnabled",
    ),
    "databricks:index/job:Job": ("name",),
    "databricks:index/cluster:Cluster": ("clusterName", "sparkVersion"),
}
_MAX_SHOWN = 4


def key_inputs(r: PlannedResource) -> list[tuple[str, Any]]:
    flat = flatten(to_plain(r.inputs))
    wanted = KEY_INPUTS.get(r.type)
    if wanted is None and r.type.startswith("kubernetes:"):
        wanted = ("metadata.namespace", "metadata.name")
    if wanted:
        return [(k, flat[k]) for k in wanted if k in flat]
    scalars = [
        (k, v)
        for k, v in to_plain(r.inputs).items()
        if isinstance(v, (str, int, float, bool)) and k not in ("__defaults", "description")
    ]
    return sorted(scalars)[:_MAX_SHOWN]


def _fmt(v: Any) -> str:
    s = str(v).lower() if isinstance(v, bool) else str(v)
    return s if len(s) <= 70 else s[:67] + "..."


def format_tree(plan: Plan) -> str:
    by_parent: dict[str | None, list[PlannedResource]] = {}
    urns = {r.urn for r in plan.resources}
    for r in plan.resources:
        parent = r.parent if r.parent in urns else None
        by_parent.setdefault(parent, []).append(r)
    lines = [f"stack {plan.stack}: {len(plan.resources)} resources"]

    def walk(parent: str | None, indent: str) -> None:
        kids = by_parent.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = "└─ " if last else "├─ "
            shown = "  ".join(f"{k}={_fmt(v)}" for k, v in key_inputs(r))
            flags = "".join(f" [{o}]" for o in ("protect", "retainOnDelete") if r.options.get(o))
            lines.append(f"{indent}{branch}{r.type}  {r.name}{flags}" + (f"  ({shown})" if shown else ""))
            walk(r.urn, indent + ("   " if last else "│  "))

    walk(None, "")
    if plan.outputs:
        lines.append("outputs:")
        for k, v in to_plain(plan.outputs).items():
            lines.append(f"  {k}: {_fmt(v)}")
    return "\n".join(lines)
