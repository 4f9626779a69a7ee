"""Print a plan as a resource tree with each resource's key inputs, then the stack outputs.

Values read as in ``modelctl.value_text``: JSON spellings, whole scalars,
long JSON documents cut with a marker; a value known only after deployment
reads ``[unknown]``, a secret ``[secret]``.
"""

from __future__ import annotations

from typing import Any

from modelctl.diff import flatten
from modelctl.engine import Plan, PlannedResource, Secret, to_plain
from modelctl.value_text import show_value

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
    "kubernetes:core/v1:ServiceAccount": ("metadata.name", "metadata.annotations.eks.amazonaws.com/role-arn"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "rules[0].applyServerSideEncryptionByDefault.sseAlgorithm",
        "rules[0].bucketKeyEnabled",
    ),
    "aws:s3/bucketObjectv2:BucketObjectv2": ("bucket", "key", "contentType"),
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


def output_lines(name: str, value: Any, indent: str = "  ") -> list[str]:
    """A stack output: a scalar on its line, a map one key a line (``readerRoleArns`` holds one ARN per model)."""
    if isinstance(value, dict) and value and not isinstance(value, Secret):
        lines = [f"{indent}{name}:"]
        for key, item in value.items():
            lines += output_lines(str(key), item, indent + "  ")
        return lines
    return [f"{indent}{name}: {show_value(value)}"]


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
            shown = "  ".join(f"{k}={show_value(v)}" for k, v in key_inputs(r))
            flags = "".join(f" [{o}]" for o in ("protect", "retainOnDelete") if r.options.get(o))
            lines.append(f"{indent}{branch}{r.type}  {r.name}{flags}" + (f"  ({shown})" if shown else ""))
            walk(r.urn, indent + ("   " if last else "│  "))

    walk(None, "")
    if plan.outputs:
        lines.append("outputs:")
        for k, v in plan.outputs.items():
            lines += output_lines(k, v)
    return "\n".join(lines)
