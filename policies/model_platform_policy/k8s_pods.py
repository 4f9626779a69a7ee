"""Where a Kubernetes resource keeps its pods, whatever its kind, apiVersion or Pulumi variant.

A rule about pods must not be escaped by declaring the same pods another way:
an ``extensions/v1beta1`` Deployment, a ``ReplicationController``, a bare
``Pod``, a ``DeploymentPatch`` (server-side apply of a few fields) or a
``DeploymentList``. Every token pulumi-kubernetes offers for a kind that runs
pods is ``kubernetes:<group>/<version>:<Kind>[Patch|List]``, so kinds are
recognised by name and apiVersion is ignored. A custom resource (an Argo
Rollout, a KServe predictor) that embeds containers is found by its shape.

A ``Patch`` carries only the fields it changes: rules judge what it sets, never
what it leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from model_platform_policy.values import get, is_list, items, mapping

#: Where each kind that runs pods keeps its pod template (``()``: the object is the pod).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}
#: Kinds whose objects never run a container, so a shape search on them would only find noise.
_NOT_PODS = frozenset(
    {"ConfigMap", "Secret", "Service", "ServiceAccount", "Namespace", "PodTemplate", "CustomResourceDefinition"}
)
CONTAINER_KEYS = (
    ("containers", "container"),
    ("initContainers", "init container"),
    ("ephemeralContainers", "ephemeral container"),
)


@dataclass(frozen=True)
class Kind:
    """A Kubernetes type token read as ``(kind, variant)``; variant is '', 'Patch' or 'List'."""

    name: str
    variant: str

    @property
    def runs_pods(self) -> bool:
        return self.name in POD_TEMPLATE_PATHS

    @property
    def is_patch(self) -> bool:
        return self.variant == "Patch"


def kind_of(resource_type: str) -> Optional[Kind]:
    """``Deployment`` of ``kubernetes:apps/v1beta2:DeploymentPatch``; None for other providers' types."""
    if not resource_type.startswith("kubernetes:"):
        return None
    name = resource_type.rsplit(":", 1)[-1]
    for variant in ("Patch", "List"):
        if name.endswith(variant) and len(name) > len(variant):
            return Kind(name[: -len(variant)], variant)
    return Kind(name, "")


def runs_pods(resource_type: str) -> bool:
    """A type of one of the built-in kinds that run pods, in any apiVersion or variant."""
    kind = kind_of(resource_type)
    return kind is not None and kind.runs_pods


@dataclass(frozen=True)
class PodTemplate:
    """One pod a resource declares: where it is (for messages), its metadata and its spec."""

    where: str
    #: The namespace of the object that declares the pod.
    namespace: str
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]
    #: From a Patch: absent fields are left as they are, not unset.
    partial: bool


def objects(kind: Kind, props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(path prefix, object)`` of each object a resource declares: its items for a List, else itself."""
    if kind.variant == "List":
        for i, item in enumerate(items(get(props, "items"))):
            yield f"items[{i}].", mapping(item)
    else:
        yield "", props


def pod_templates(resource_type: str, props: Mapping[str, Any]) -> list[PodTemplate]:
    """Every pod ``props`` declares: the template of a built-in kind, or any containers-bearing map of another."""
    kind = kind_of(resource_type)
    if kind is None or kind.name in _NOT_PODS:
        return []
    if not kind.runs_pods:
        return list(_embedded_pods(props, str(get(props, "metadata", "namespace", default="default"))))
    path = POD_TEMPLATE_PATHS[kind.name]
    found = []
    for prefix, obj in objects(kind, props):
        template = mapping(get(obj, *path)) if path else obj
        if path and not template:
            continue
        where = prefix + ".".join(path)
        found.append(
            PodTemplate(
                where=where or "spec",
                namespace=str(get(obj, "metadata", "namespace", default="default")),
                metadata=mapping(get(template, "metadata")),
                spec=mapping(get(template, "spec")),
                partial=kind.is_patch,
            )
        )
    return found


def _embedded_pods(
    value: Any, namespace: str, path: str = "", parent: Optional[Mapping[str, Any]] = None
) -> Iterator[PodTemplate]:
    """Pod specs inside a custom resource: maps holding a ``containers`` list of maps with an ``image``."""
    if isinstance(value, Mapping):
        containers = items(value.get("containers")) if "containers" in value else []
        if any(isinstance(c, Mapping) and "image" in c for c in containers):
            metadata = mapping(get(parent, "metadata")) if parent is not None else {}
            yield PodTemplate(where=path or "spec", namespace=namespace, metadata=metadata, spec=value, partial=True)
            return
        for key in value:
            yield from _embedded_pods(value[key], namespace, f"{path}.{key}" if path else str(key), value)
    elif is_list(value):
        for i, child in enumerate(value):
            yield from _embedded_pods(child, namespace, f"{path}[{i}]", parent)


def containers(
    spec: Mapping[str, Any], include_init: bool = True, include_ephemeral: bool = True
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(label, container)`` of a pod spec: containers, then init and ephemeral ones unless told otherwise."""
    wanted = {"containers": True, "initContainers": include_init, "ephemeralContainers": include_ephemeral}
    for key, kind in CONTAINER_KEYS:
        if not wanted[key]:
            continue
        for c in items(get(spec, key)):
            yield f"{kind} {get(c, 'name', default='?')!r}", mapping(c)


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first pod spec of a resource (its only one, but for Lists), empty if it runs no pods."""
    found = pod_templates(resource_type, props) if runs_pods(resource_type) else []
    return found[0].spec if found else {}
