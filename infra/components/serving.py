"""Serving: per model, a Kubernetes Deployment that loads its MLeap bundle.

The namespace (created unless it exists already) and one ``ModelServing``
per model; see ``model_serving`` for the objects of one model and
infra/documents/kubernetes.py for how a pod fetches, verifies and serves its bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from infra.components.model_serving import ModelServing, ModelServingArgs
from infra.components.moves import moved_from

#: Logical name of the serving Namespace: fixed (the default ``kubernetes.namespace``), so renaming the
#: namespace in config updates the one resource instead of declaring another (infra/components/moves.py).
NAMESPACE = "models"


@dataclass(frozen=True, kw_only=True)
class ServingNamespace:
    """The serving namespace, and whether the stack creates (and owns) it."""

    name: str
    create: bool
    labels: Mapping[str, str]
    #: Protect it from ``pulumi destroy`` (where the bundles are protected).
    protect: bool


@dataclass(frozen=True, kw_only=True)
class ServingArgs:
    namespace: ServingNamespace
    #: One model's serving each; their ``namespace`` is filled in here (it waits for the Namespace).
    models: Mapping[str, ModelServingArgs]


class Serving(pulumi.ComponentResource):
    """Namespace and one ModelServing per model."""

    endpoints: dict[str, pulumi.Output[str]]
    models: dict[str, ModelServing]

    def __init__(self, name: str, args: ServingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:serving:Serving", name, None, opts)
        namespace = self._namespace(args.namespace)
        self.models = {
            model: ModelServing(model, replace(serving, namespace=namespace), pulumi.ResourceOptions(parent=self))
            for model, serving in args.models.items()
        }
        self.endpoints = {model: serving.endpoint for model, serving in self.models.items()}
        self.register_outputs({"endpoints": self.endpoints})

    def _namespace(self, ns: ServingNamespace) -> pulumi.Input[str]:
        """The serving namespace's name; an Output of the Namespace when the stack creates it,
        so every object waits for it.

        Deleting a Namespace deletes everything in it, every model's Deployment included, and
        flipping ``createNamespace`` to false would do just that: the stack only ever lets go
        of it (``retain_on_delete``), and protects it wherever the bundles are protected
        (``bundleStore.protect``, on by default in prod).
        """
        if not ns.create:
            return ns.name
        namespace = k8s.core.v1.Namespace(
            NAMESPACE,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ns.name, labels=dict(ns.labels)),
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=True, protect=ns.protect, aliases=moved_from(ns.name, NAMESPACE)
            ),
        )
        return namespace.metadata.name

