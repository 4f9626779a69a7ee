"""One model's serving objects, isolated from every other model's.

ServiceAccount (IRSA), Deployment (plus the canary's when configured),
Service, HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy and the
optional Ingress: every name derives from the model name, so adding or
removing a model touches only its own objects. Their specs are
infra/documents/kubernetes.py's (pods) and infra/documents/serving.py's (the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from infra.contract.naming import CANARY_SUFFIX, IRSA_ROLE_ANNOTATION
from infra.documents.kubernetes import PodTemplate, ServerSettings, Track, pod_template
from infra.documents.serving import (
    Autoscaling,
    Callers,
    IngressRoute,
    autoscaler_spec,
    deployment_spec,
    disruption_budget_spec,
    endpoint_url,
    ingress_spec,
    network_policy_spec,
    service_spec,
)

#: Extra time Pulumi waits beyond the rollout's progress deadline, so Kubernetes declares the
#: failure (ProgressDeadlineExceeded) rather than Pulumi timing out first.
AWAIT_MARGIN_SECONDS = 120


@dataclass(frozen=True, kw_only=True)
class Rollout:
    """One Deployment: the version it serves, its bundle's digest, its pods' labels and (canary only) its replicas."""

    track: Track
    version: str
    bundle_sha256: str
    #: The pods' recommended labels, the version included (the track label is added by the template).
    pod_labels: Mapping[str, str]
    #: None: the HPA owns the count (stable); the canary's own count otherwise.
    replicas: Optional[int]
    #: ``s3://`` URI of this version's bundle.zip: waits for the bucket's name.
    bundle_uri: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class Ingress:
    route: IngressRoute
    annotations: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class ModelServingArgs:
    model: str
    namespace: pulumi.Input[str]
    service_account_name: str
    #: Labels of every object but the pods (no version).
    labels: Mapping[str, str]
    stable: Rollout
    canary: Optional[Rollout]
    server: ServerSettings
    fetch_image: str
    region: str
    run_as_user: int
    autoscaling: Autoscaling
    callers: Callers
    ingress: Optional[Ingress]
    progress_deadline_seconds: int
    min_ready_seconds: int
    reader_role_arn: pulumi.Input[str]


class ModelServing(pulumi.ComponentResource):
    """Serving of one model; ``endpoint`` is its in-cluster URL."""

    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: ModelServingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:serving:ModelServing", name, None, opts)
        self._args = args
        model = args.model

        # Named in Pulumi as in Kubernetes, like every other object here, so `modelctl plan` and
        # `modelctl render` show one name. The alias keeps the stacks created under the model's name:
        # Pulumi moves the resource to the new URN instead of replacing the ServiceAccount.
        account = k8s.core.v1.ServiceAccount(
            args.service_account_name,
            metadata=self._metadata(args.service_account_name, annotations={IRSA_ROLE_ANNOTATION: args.reader_role_arn}),
            automount_service_account_token=False,
            opts=self._child(aliases=[pulumi.Alias(name=model)]),
        )
        stable = self._deployment(args.stable, account)
        if args.canary:
            self._deployment(args.canary, account)
        port = args.server.port
        service = k8s.core.v1.Service(model, metadata=self._metadata(model), spec=service_spec(model, port), opts=self._child())
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            model,
            metadata=self._metadata(model),
            spec=autoscaler_spec(stable.metadata.name, args.autoscaling),
            opts=self._child(),
        )
        k8s.policy.v1.PodDisruptionBudget(
            model, metadata=self._metadata(model), spec=disruption_budget_spec(model), opts=self._child()
        )
        k8s.networking.v1.NetworkPolicy(
            model, metadata=self._metadata(model), spec=network_policy_spec(model, port, args.callers), opts=self._child()
        )
        if args.ingress:
            k8s.networking.v1.Ingress(
                model,
                metadata=self._metadata(model, annotations=dict(args.ingress.annotations) or None),
                spec=ingress_spec(args.ingress.route, model, service.metadata.name),
                opts=self._child(depends_on=[service]),
            )

        self.endpoint = pulumi.Output.all(service.metadata.name, args.namespace).apply(
            lambda parts: endpoint_url(parts[0], parts[1], port)
        )
        self.register_outputs({"endpoint": self.endpoint})

    def _child(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _metadata(
        self, name: str, annotations: Optional[dict[str, pulumi.Input[str]]] = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=self._args.namespace, labels=dict(self._args.labels), annotations=annotations
        )

    def _deployment(self, rollout: Rollout, account: k8s.core.v1.ServiceAccount) -> k8s.apps.v1.Deployment:
        """A Deployment serving ``rollout``'s version on its track (its spec: infra/documents/serving.py)."""
        args, model = self._args, self._args.model
        name = model if rollout.track is Track.stable else model + CANARY_SUFFIX
        template = pod_template(
            PodTemplate(
                model=model,
                track=rollout.track,
                version=rollout.version,
                bundle_sha256=rollout.bundle_sha256,
                bundle_uri=rollout.bundle_uri,
                labels=rollout.pod_labels,
                service_account_name=account.metadata.name,
                fetch_image=args.fetch_image,
                region=args.region,
                run_as_user=args.run_as_user,
                server=args.server,
            )
        )
        await_limit = f"{args.progress_deadline_seconds + AWAIT_MARGIN_SECONDS}s"
        return k8s.apps.v1.Deployment(
            name,
            metadata=self._metadata(name),
            spec=deployment_spec(
                model,
                rollout.track,
                template,
                replicas=rollout.replicas,
                progress_deadline_seconds=args.progress_deadline_seconds,
                min_ready_seconds=args.min_ready_seconds,
            ),
            opts=self._child(custom_timeouts=pulumi.CustomTimeouts(create=await_limit, update=await_limit)),
        )
