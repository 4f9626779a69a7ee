"""Serving: per model, a Kubernetes Deployment that loads its MLeap bundle.

The namespace (created unless it exists already) and one ``ModelServing``
per model; see ``model_serving`` for the objects of one model and
``serving_pod`` for how a pod fetches, verifies and serves its bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from infra.components.model_serving import ModelServing, ModelServingArgs
from infra.config import PROJECT, StackConfig
from infra.naming import MANAGED_BY


@dataclass(frozen=True)
class ServingArgs:
    config: StackConfig
    bucket_name: pulumi.Input[str]
    reader_role_arns: dict[str, pulumi.Output[str]]


class Serving(pulumi.ComponentResource):
    """Namespace and one ModelServing per model."""

    endpoints: dict[str, pulumi.Output[str]]
    models: dict[str, ModelServing]

    def __init__(self, name: str, args: ServingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:serving:Serving", name, None, opts)
        cfg = args.config
        namespace = self._namespace(cfg)
        self.models = {
            model: ModelServing(
                model,
                ModelServingArgs(
                    config=cfg,
                    model=model,
                    namespace=namespace,
                    bucket_name=args.bucket_name,
                    reader_role_arn=args.reader_role_arns[model],
                ),
                pulumi.ResourceOptions(parent=self),
            )
            for model in cfg.models
        }
        self.endpoints = {model: serving.endpoint for model, serving in self.models.items()}
        self.register_outputs({"endpoints": self.endpoints})

    def _namespace(self, cfg: StackConfig) -> pulumi.Input[str]:
        """The serving namespace's name; an Output of the Namespace when the stack creates it,
        so every object waits for it.

        Deleting a Namespace deletes everything in it, every model's Deployment included, and
        flipping ``createNamespace`` to false would do just that: the stack only ever lets go
        of it (``retain_on_delete``), and protects it wherever the bundles are protected
        (``bundleStore.protect``, on by default in prod).
        """
        k = cfg.kubernetes
        if not k.create_namespace:
            return k.namespace
        namespace = k8s.core.v1.Namespace(
            k.namespace,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=k.namespace,
                labels={
                    "app.kubernetes.io/part-of": PROJECT,
                    "app.kubernetes.io/managed-by": MANAGED_BY,
                    "model-platform/environment": cfg.environment.value,
                    # The serving pods meet the "restricted" Pod Security Standard; enforce it.
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": f"v{k.version}",
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, protect=cfg.protect_data),
        )
        return namespace.metadata.name
