"""Kubernetes: no pod reaches past its container, and no pod carries an API token it does not use.

A privileged container, a host namespace, a hostPath volume, an added
capability or an unconfined seccomp/AppArmor profile lets a pod act as its
node: read other pods' Secrets and tokens, the node's own AWS credentials,
everything. These settings are judged on every pod of every kind
(k8s_pods), Patches and custom resources included, since any of them is
enough.

A pod's ServiceAccount token is mounted unless the pod or its
ServiceAccount says otherwise; a model server never calls the Kubernetes API,
so a stolen token should not exist to be stolen. A pod needs one when its
ServiceAccount is bound to a Role or ClusterRole in the stack, or runs as an
IRSA ServiceAccount (eks.amazonaws.com/role-arn), which the platform's own
pods use to read their bundles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from infra.contract.naming import IRSA_ROLE_ANNOTATION
from model_platform_policy.k8s_pods import PodTemplate, containers, kind_of, pod_templates
from model_platform_policy.kubernetes import is_kubernetes
from model_platform_policy.rules import Config, resource_policy, stack_policy
from model_platform_policy.values import get, items, mapping, number, show

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
#: Legacy annotations that set a pod's or a container's seccomp / AppArmor profile.
PROFILE_ANNOTATION_PREFIXES = (
    "seccomp.security.alpha.kubernetes.io/",
    "container.seccomp.security.alpha.kubernetes.io/",
    "container.apparmor.security.beta.kubernetes.io/",
)
UNCONFINED = "unconfined"
#: Helm releases the provider renders and applies itself: the pack never sees their objects.
OPAQUE_RELEASE_TYPES = frozenset({"kubernetes:helm.sh/v3:Release"})
RBAC_BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
SERVICE_ACCOUNT_KIND = "ServiceAccount"


# --------------------------------------------------------------------------- host isolation


def _profile_unconfined(profile: Any) -> bool:
    return str(get(profile, "type", default="")).lower() == UNCONFINED


def _pod_problems(pod: PodTemplate) -> Iterator[str]:
    spec = pod.spec
    for key in HOST_NAMESPACES:
        if get(spec, key) is True:
            yield f"{key} is true: the pod shares its node's namespace"
    for volume in items(get(spec, "volumes")):
        if get(volume, "hostPath") is not None:
            name, path = get(volume, "name", default="?"), get(volume, "hostPath", "path", default="?")
            yield f"volume {name!r} mounts the node's {path!r} (hostPath)"
    ctx = mapping(get(spec, "securityContext"))
    if _profile_unconfined(get(ctx, "seccompProfile")):
        yield "securityContext.seccompProfile is Unconfined"
    if _profile_unconfined(get(ctx, "appArmorProfile")):
        yield "securityContext.appArmorProfile is Unconfined"
    if get(ctx, "windowsOptions", "hostProcess") is True:
        yield "securityContext.windowsOptions.hostProcess is true"
    for key, value in mapping(get(pod.metadata, "annotations")).items():
        if str(key).startswith(PROFILE_ANNOTATION_PREFIXES) and str(value).lower() == UNCONFINED:
            yield f"annotation {key} is unconfined"


def _container_problems(c: Mapping[str, Any]) -> Iterator[str]:
    ctx = mapping(get(c, "securityContext"))
    if get(ctx, "privileged") is True:
        yield "securityContext.privileged is true"
    added = [str(cap) for cap in items(get(ctx, "capabilities", "add"))]
    if added:
        yield f"securityContext.capabilities.add grants {added}"
    if _profile_unconfined(get(ctx, "seccompProfile")):
        yield "securityContext.seccompProfile is Unconfined"
    if _profile_unconfined(get(ctx, "appArmorProfile")):
        yield "securityContext.appArmorProfile is Unconfined"
    if str(get(ctx, "procMount", default="")) == "Unmasked":
        yield "securityContext.procMount is Unmasked"
    if get(ctx, "windowsOptions", "hostProcess") is True:
        yield "securityContext.windowsOptions.hostProcess is true"
    for port in items(get(c, "ports")):
        if number(get(port, "hostPort")):
            container_port, host_port = show(get(port, "containerPort")), show(get(port, "hostPort"))
            yield f"port {container_port} is bound on the node (hostPort {host_port})"


def _pod_isolation(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    if args.resource_type in OPAQUE_RELEASE_TYPES:
        report(
            "a helm.sh/v3 Release renders and applies its chart inside the provider, so no policy sees its pods; "
            "declare the chart with kubernetes.helm.v4.Chart, which registers every object"
        )
        return
    for pod in pod_templates(args.resource_type, args.props):
        prefix = "" if pod.where in ("spec", "spec.template") else f"{pod.where}: "
        for problem in _pod_problems(pod):
            report(f"{prefix}{problem}")
        for label, c in containers(pod.spec):
            for problem in _container_problems(c):
                report(f"{prefix}{label}: {problem}")


pod_isolation = resource_policy(
    "k8s-pod-isolation",
    "No pod reaches past its container into its node: no privileged container, hostNetwork/hostPID/hostIPC, "
    "hostPath volume, hostPort, added capability, Unconfined seccomp or AppArmor profile (field or annotation), "
    "Unmasked procMount or Windows hostProcess, in any kind that runs pods (any apiVersion, Patch, List, or a custom "
    "resource embedding containers); and no helm.sh/v3 Release, whose objects no policy sees. Fix: remove the "
    "setting; keep securityContext.seccompProfile RuntimeDefault and capabilities {drop: [ALL]}; use an emptyDir or a "
    "PersistentVolumeClaim instead of hostPath; expose ports through a Service; deploy charts with helm.v4.Chart.",
    _pod_isolation,
    types=is_kubernetes,
)


# --------------------------------------------------------------------------- service account tokens


def _namespace(props: Mapping[str, Any], default: str = "default") -> str:
    return str(get(props, "metadata", "namespace", default=default))


def _named(resources: list[PolicyResource], kind: str) -> list[PolicyResource]:
    """The resources of ``kind``, whatever their apiVersion or variant."""
    return [r for r in resources if getattr(kind_of(r.resource_type), "name", None) == kind]


def _bound_service_accounts(resources: list[PolicyResource]) -> set[tuple[str, str]]:
    """``(namespace, name)`` of every ServiceAccount a RoleBinding or ClusterRoleBinding of the stack names."""
    bound = set()
    for binding in (r for kind in RBAC_BINDING_KINDS for r in _named(resources, kind)):
        for subject in items(get(binding.props, "subjects")):
            if get(subject, "kind") == SERVICE_ACCOUNT_KIND:
                default_ns = _namespace(binding.props)
                bound.add((str(get(subject, "namespace", default=default_ns)), str(get(subject, "name"))))
    return bound


def _service_accounts(resources: list[PolicyResource]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {
        (_namespace(sa.props), str(get(sa.props, "metadata", "name"))): sa.props
        for sa in _named(resources, SERVICE_ACCOUNT_KIND)
    }


def _token_problem(
    pod: PodTemplate, accounts: Mapping[tuple[str, str], Mapping[str, Any]], needed: set[tuple[str, str]]
) -> str | None:
    """Why ``pod`` mounts an API token it does not need, or None."""
    namespace = pod.namespace
    name = str(get(pod.spec, "serviceAccountName", default=get(pod.spec, "serviceAccount", default="default")))
    if (namespace, name) in needed:
        return None
    own = get(pod.spec, "automountServiceAccountToken")
    if own is False:
        return None
    if own is None:
        if pod.partial:
            return None  # a Patch that does not touch it leaves it as it is
        account = accounts.get((namespace, name))
        if account is not None and get(account, "automountServiceAccountToken") is False:
            return None
    return (
        f"mounts the API token of ServiceAccount {namespace}/{name}, which no RoleBinding of this stack binds and "
        "which is no IRSA ServiceAccount"
    )


def _service_account_token(args: StackValidationArgs, report: ReportViolation, _: Config) -> None:
    accounts = _service_accounts(args.resources)
    irsa = {key for key, props in accounts.items() if get(props, "metadata", "annotations", IRSA_ROLE_ANNOTATION)}
    needed = irsa | _bound_service_accounts(args.resources)
    for r in args.resources:
        for pod in pod_templates(r.resource_type, r.props):
            problem = _token_problem(pod, accounts, needed)
            if problem:
                where = "" if pod.where in ("spec", "spec.template") else f"{pod.where}: "
                report(f"{where}{problem}", r.urn)


service_account_token = stack_policy(
    "k8s-service-account-token",
    "A pod mounts a Kubernetes API token only when it uses it: its ServiceAccount is bound to a Role or ClusterRole "
    "in the stack, or is an IRSA ServiceAccount (annotated eks.amazonaws.com/role-arn). Any other pod, of any kind, "
    "sets automountServiceAccountToken: false (on the pod, or on a ServiceAccount of the stack it runs as), so a "
    "compromised container has no token to use against the API server. Fix: set automountServiceAccountToken: false "
    "on the pod spec.",
    _service_account_token,
)

POLICIES = [pod_isolation, service_account_token]
