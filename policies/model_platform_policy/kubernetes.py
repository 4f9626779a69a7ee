"""Kubernetes: pinned images, sized and probed containers, locked-down pods, safe rollouts and autoscaling.

Workload rules read every pod a resource declares (k8s_pods): any kind that
runs pods, in any apiVersion, as a Patch or a List, so declaring the same pods
another way escapes nothing. A Patch is judged on what it sets. The serving
rules are stack policies: a serving Deployment must be covered by a
PodDisruptionBudget and targeted by a HorizontalPodAutoscaler in its
namespace. A Deployment serves when it belongs to the platform (label
``app.kubernetes.io/part-of: model-platform`` on it or its pods) or runs as a
ServiceAccount with an IRSA role: what a Deployment is, not a component label a
component may forget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator, Optional

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from infra.contract.limits import PROD_MIN_REPLICAS
from infra.contract.model_version import IMAGE_DIGEST as DIGEST
from infra.contract.naming import CANARY_TRACK, IRSA_ROLE_ANNOTATION, PART_OF_LABEL, PROJECT, TRACK_LABEL
from model_platform_policy import stack_config
from model_platform_policy import types as t
from model_platform_policy.k8s_pods import containers, kind_of, pod_templates, runs_pods
from model_platform_policy.rules import (
    Config,
    count,
    resource_policy,
    stack_policy,
    strings,
)
from model_platform_policy.stack_keys import hint, key_hint, model_hint, model_of
from model_platform_policy.values import get, items, mapping, number, show

#: Kinds whose pods serve traffic for as long as they run, so they need probes.
LONG_RUNNING = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"})


def is_kubernetes(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:")


def is_deployment(resource_type: str) -> bool:
    """A Deployment of any apiVersion (apps/v1, apps/v1beta1/2, extensions/v1beta1), not a Patch or List."""
    kind = kind_of(resource_type)
    return kind is not None and kind.name == "Deployment" and kind.variant == ""


def _long_running(resource_type: str) -> bool:
    kind = kind_of(resource_type)
    return kind is not None and kind.name in LONG_RUNNING


def image_tag(image: str) -> Optional[str]:
    """The tag of an image reference (``registry:5000/repo:tag@sha256:...``), or None."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _labelled(where: str, label: str) -> str:
    """A container's label, prefixed with where its pod is when that is not the one obvious place."""
    return label if where in ("spec", "spec.template") else f"{where}: {label}"


def each_container(
    args: ResourceValidationArgs, include_init: bool = True, whole_only: bool = False, include_ephemeral: bool = True
) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any], bool]]:
    """``(label, pod spec, container, partial)`` of every container of every pod ``args`` declares.

    ``whole_only`` skips partial pods (Patches, custom resources), for rules about what must be present.
    """
    for pod in pod_templates(args.resource_type, args.props):
        if whole_only and pod.partial:
            continue
        for label, c in containers(pod.spec, include_init, include_ephemeral):
            yield _labelled(pod.where, label), pod.spec, c, pod.partial


# --------------------------------------------------------------------------- images


#: Where the program's containers take their images from.
IMAGE_KEYS = ("kubernetes.images.serving", "kubernetes.images.init", "models.<name>.serving.image")


def image_hint(props: Mapping[str, Any], label: str) -> str:
    """The stack-file key a program's container takes its image from: the init image, or the serving one.

    A model's serving container uses ``models.<name>.serving.image`` when the
    stack file sets it, else ``kubernetes.images.serving``.
    """
    if label.startswith("init container"):
        return key_hint(props, "kubernetes.images.init")
    model = model_of(props)
    if model and mapping(get(stack_config.stack_object("models"), model, "serving")).get("image"):
        return hint(f"models.{model}.serving.image")
    return key_hint(props, "kubernetes.images.serving")


def _image_no_latest(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    for label, _spec, c, _partial in each_container(args):
        if "image" not in c:
            continue
        image = str(get(c, "image", default=""))
        tag = image_tag(image)
        if not DIGEST.search(image) and (tag is None or tag == "latest"):
            floats = "no tag" if tag is None else ":latest"
            report(f"{label}: image {image!r} floats ({floats}){image_hint(args.props, label)}")


image_no_latest = resource_policy(
    "k8s-image-no-latest",
    "Every container image names a fixed version: never ':latest' or no tag, which redeploys whatever was pushed "
    "last. Fix: set the stack file's kubernetes.images.serving (or models.<name>.serving.image) and "
    "kubernetes.images.init to an explicit tag, or better a digest "
    "(image:tag@sha256:<64 hex>).",
    _image_no_latest,
    types=is_kubernetes,
    hints=IMAGE_KEYS,
)


def _image_digest(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    for label, _spec, c, _partial in each_container(args):
        if "image" not in c:
            continue
        image = str(get(c, "image", default=""))
        if not DIGEST.search(image):
            report(f"{label}: image {image!r} is not pinned by digest{image_hint(args.props, label)}")


image_digest = resource_policy(
    "k8s-image-digest",
    "Every container image is pinned by digest, which cannot be moved the way a tag can. Fix: append "
    "'@sha256:<64 hex>' to the stack file's kubernetes.images.serving and kubernetes.images.init and any "
    "models.<name>.serving.image "
    "(`docker buildx imagetools inspect IMAGE` prints the digest).",
    _image_digest,
    types=is_kubernetes,
    hints=IMAGE_KEYS,
)


# --------------------------------------------------------------------------- resources and probes

REQUIRED_AMOUNTS = (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))


def _resources(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    # Ephemeral (debugging) containers may not declare resources: the API refuses them.
    for label, _spec, c, _partial in each_container(args, whole_only=True, include_ephemeral=False):
        missing = [f"{kind}.{what}" for kind, what in REQUIRED_AMOUNTS if not get(c, "resources", kind, what)]
        if missing:
            report(f"{label} sets no {', '.join(missing)}")


resources_set = resource_policy(
    "k8s-resources-set",
    "Every container requests CPU and memory (the scheduler places it, the HPA scales on the CPU request) and "
    "limits memory (a leaking JVM is restarted rather than starving its node). Fix: set resources.requests.cpu, "
    "resources.requests.memory and resources.limits.memory (stack file: models.<name>.serving.resources).",
    _resources,
    types=runs_pods,
)


def _probes(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    for label, _spec, c, _partial in each_container(args, include_init=False, whole_only=True, include_ephemeral=False):
        missing = [p for p in ("startupProbe", "readinessProbe") if not get(c, p)]
        if missing:
            report(f"{label} has no {' or '.join(missing)}")


probes_set = resource_policy(
    "k8s-probes-set",
    "Every serving container has a startupProbe (covering JVM start and bundle load) and a readinessProbe (on the "
    "model endpoint, GET /models/<name>/meta), so a pod receives traffic only once its model is loaded and a bad "
    "version never replaces a good one. Fix: declare both probes on the container.",
    _probes,
    types=_long_running,
)


# --------------------------------------------------------------------------- security context


def _security_problems(pod: Mapping[str, Any], c: Mapping[str, Any], partial: bool) -> Iterator[str]:
    """What leaves the container able to act as root; for a Patch, only what it sets."""
    pod_ctx, ctx = mapping(get(pod, "securityContext")), mapping(get(c, "securityContext"))

    def effective(key: str) -> Any:
        value = get(ctx, key)
        return get(pod_ctx, key) if value is None else value

    non_root, escalation, read_only = (
        effective("runAsNonRoot"),
        get(ctx, "allowPrivilegeEscalation"),
        get(ctx, "readOnlyRootFilesystem"),
    )
    if non_root is False or (non_root is not True and not partial):
        yield "runAsNonRoot is not true"
    if number(effective("runAsUser")) == 0:
        yield "runAsUser is 0 (root)"
    if escalation is True or (escalation is not False and not partial):
        yield "allowPrivilegeEscalation is not false"
    if read_only is False or (read_only is not True and not partial):
        yield "readOnlyRootFilesystem is not true"
    drops = [str(cap) for cap in items(get(ctx, "capabilities", "drop"))]
    if "ALL" not in drops and (not partial or get(ctx, "capabilities", "drop") is not None):
        yield "capabilities.drop does not include ALL"


def _security_context(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    for label, spec, c, partial in each_container(args):
        for problem in _security_problems(spec, c, partial):
            report(f"{label}: securityContext.{problem}")


security_context = resource_policy(
    "k8s-security-context",
    "Every container of every kind that runs pods (any apiVersion, Patch and List variants included) runs as a "
    "non-root user, cannot gain privileges, has a read-only root filesystem and drops all capabilities. Fix: set "
    "securityContext {runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, "
    "capabilities: {drop: [ALL]}} on each container (a numeric runAsUser other than 0 on the pod), and mount an "
    "emptyDir where the process must write (/tmp).",
    _security_context,
    types=is_kubernetes,
)


# --------------------------------------------------------------------------- rollouts


def _is_zero(value: Any) -> bool:
    return number(value) == 0 or value == "0%"


def _rolling_update(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    """A Deployment of any apiVersion: each of them defaults to a rollout that may lose capacity."""
    strategy = mapping(get(args.props, "spec", "strategy"))
    kind = get(strategy, "type", default="RollingUpdate")
    if kind != "RollingUpdate":
        report(f"strategy {kind!r} stops every pod before starting the new ones")
        return
    max_unavailable = get(strategy, "rollingUpdate", "maxUnavailable")
    max_surge = get(strategy, "rollingUpdate", "maxSurge")
    if max_unavailable is None or not _is_zero(max_unavailable):
        shown = "unset (25%)" if max_unavailable is None else show(max_unavailable)
        report(f"rollingUpdate.maxUnavailable is {shown}; a rollout would serve with fewer pods than desired")
    if max_surge is not None and _is_zero(max_surge):
        report("rollingUpdate.maxSurge is 0; with maxUnavailable 0 the rollout cannot start a new pod")


rolling_update = resource_policy(
    "k8s-rolling-update-keeps-capacity",
    "A rollout never serves with fewer pods than desired: new pods start (and pass readiness) before old ones stop. "
    "Fix: strategy {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}} on the Deployment.",
    _rolling_update,
    types=is_deployment,
)


# --------------------------------------------------------------------------- PDB and HPA of serving Deployments


def namespace(resource: PolicyResource) -> str:
    return str(get(resource.props, "metadata", "namespace", default="default"))


def object_name(resource: PolicyResource) -> Optional[str]:
    return get(resource.props, "metadata", "name")


def template_labels(deployment: PolicyResource) -> Mapping[str, Any]:
    """The pod template's labels of a Deployment (any apiVersion)."""
    return mapping(get(deployment.props, "spec", "template", "metadata", "labels"))


def _part_of_platform(deployment: PolicyResource) -> bool:
    """Labelled app.kubernetes.io/part-of: model-platform, on the Deployment or its pod template."""
    labels = (mapping(get(deployment.props, "metadata", "labels")), template_labels(deployment))
    return any(get(found, PART_OF_LABEL) == PROJECT for found in labels)


def irsa_service_accounts(resources: list[PolicyResource]) -> set[tuple[str, str]]:
    """``(namespace, name)`` of every ServiceAccount annotated with an IAM role (IRSA)."""
    return {
        (namespace(r), str(object_name(r)))
        for r in resources
        if r.resource_type == t.K8S_SERVICE_ACCOUNT and get(r.props, "metadata", "annotations", IRSA_ROLE_ANNOTATION)
    }


def service_account_of(deployment: PolicyResource) -> tuple[str, str]:
    """``(namespace, name)`` of the ServiceAccount the Deployment's pods run as."""
    spec = mapping(get(deployment.props, "spec", "template", "spec"))
    name = get(spec, "serviceAccountName", default=get(spec, "serviceAccount", default="default"))
    return namespace(deployment), str(name)


def serving_deployments(resources: list[PolicyResource]) -> list[PolicyResource]:
    """Deployments of the platform, or running as an IRSA ServiceAccount (a model's reader role)."""
    irsa = irsa_service_accounts(resources)
    return [
        r
        for r in resources
        if is_deployment(r.resource_type) and (_part_of_platform(r) or service_account_of(r) in irsa)
    ]


def selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a LabelSelector (matchLabels and In/NotIn/Exists/DoesNotExist expressions) matches ``labels``."""
    match_labels = mapping(get(selector, "matchLabels"))
    expressions = items(get(selector, "matchExpressions"))
    if not match_labels and not expressions:
        return False  # an empty selector in a PDB matches every pod of the namespace: never what was meant
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for e in expressions:
        key, op, values = get(e, "key"), get(e, "operator"), [str(v) for v in items(get(e, "values"))]
        present = key in labels
        ok = {
            "In": present and str(labels.get(key)) in values,
            "NotIn": not present or str(labels.get(key)) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(str(op), False)
        if not ok:
            return False
    return True


def _pdb_problem(pdb: PolicyResource) -> Optional[str]:
    spec = mapping(get(pdb.props, "spec"))
    if _is_zero(get(spec, "maxUnavailable", default="-")) or get(spec, "minAvailable") == "100%":
        return f"PodDisruptionBudget {object_name(pdb) or pdb.name!r} allows no disruption, which blocks node drains"
    return None


def _serving_pdb(args: StackValidationArgs, report: ReportViolation, config: Config) -> None:
    pdbs = [r for r in args.resources if r.resource_type == t.K8S_PDB]
    for deployment in serving_deployments(args.resources):
        covering = [
            p
            for p in pdbs
            if namespace(p) == namespace(deployment)
            and selects(mapping(get(p.props, "spec", "selector")), template_labels(deployment))
        ]
        label = f"Deployment {object_name(deployment) or deployment.name!r}"
        if not covering:
            report(f"{label} has no PodDisruptionBudget selecting its pods", deployment.urn)
        for problem in filter(None, map(_pdb_problem, covering)):
            report(f"{label}: {problem}", deployment.urn)


serving_pdb = stack_policy(
    "k8s-serving-pdb",
    "Every serving Deployment (labelled app.kubernetes.io/part-of: model-platform, on it or its pods, or running "
    "as a ServiceAccount annotated eks.amazonaws.com/role-arn) has a PodDisruptionBudget (policy/v1) in its "
    "namespace selecting its pods and allowing some disruption, so node drains and upgrades never take a model's "
    "last pods at once. Fix: declare a PodDisruptionBudget with the Deployment's selector and maxUnavailable: 1.",
    _serving_pdb,
)


def _targets(hpa: PolicyResource, deployment: PolicyResource) -> bool:
    ref = mapping(get(hpa.props, "spec", "scaleTargetRef"))
    if namespace(hpa) != namespace(deployment) or get(ref, "kind") != "Deployment":
        return False
    if any(d.urn == deployment.urn for d in hpa.property_dependencies.get("spec", [])):
        return True
    name = object_name(deployment)
    return name is not None and get(ref, "name") == name


def _serving_hpa(args: StackValidationArgs, report: ReportViolation, config: Config) -> None:
    hpas = [r for r in args.resources if r.resource_type == t.K8S_HPA]
    floor = config["minReplicas"]
    for deployment in serving_deployments(args.resources):
        if template_labels(deployment).get(TRACK_LABEL) in config["fixedReplicaTracks"]:
            continue
        label = f"Deployment {object_name(deployment) or deployment.name!r}"
        targeting = [h for h in hpas if _targets(h, deployment)]
        if not targeting:
            report(f"{label} has no HorizontalPodAutoscaler", deployment.urn)
        for hpa in targeting:
            low = number(get(hpa.props, "spec", "minReplicas", default=1))
            high = number(get(hpa.props, "spec", "maxReplicas"))
            if low is None or high is None or low > high:
                report(f"{label}: HPA minReplicas {show(low)} is not <= maxReplicas {show(high)}", deployment.urn)
            elif low < floor:
                report(
                    f"{label}: HPA minReplicas {show(low)} is below {show(floor)}, this environment's minimum"
                    + model_hint(deployment.props, "serving.replicas.min"),
                    deployment.urn,
                )


serving_hpa = stack_policy(
    "k8s-serving-hpa",
    "Every serving Deployment (part-of: model-platform, or running as an IRSA ServiceAccount) is scaled by a "
    "HorizontalPodAutoscaler (autoscaling/v2) in its namespace with minReplicas <= maxReplicas and minReplicas at "
    "least the environment's minimum (2 in prod, so one pod can fail or be drained while the other serves). A "
    "canary (pod label model-platform/track: canary) keeps fixed replicas: its share of the traffic is its share of "
    "the pods. Fix: set the stack file's models.<name>.serving.replicas {min, max}.",
    _serving_hpa,
    hints=["models.<name>.serving.replicas.min"],
    settings=[
        count("minReplicas", PROD_MIN_REPLICAS, "Lowest HPA minReplicas allowed.", minimum=1),
        strings(
            "fixedReplicaTracks",
            [CANARY_TRACK],
            "Values of the pod label model-platform/track whose Deployments keep fixed replicas (no HPA).",
        ),
    ],
)

POLICIES = [
    image_no_latest,
    image_digest,
    resources_set,
    probes_set,
    security_context,
    rolling_update,
    serving_pdb,
    serving_hpa,
]
