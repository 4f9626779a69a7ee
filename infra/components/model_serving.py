"""One model's serving objects, isolated from every other model's.

ServiceAccount (IRSA), Deployment (plus the canary's when configured),
Service, HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy and the
optional Ingress: every name derives from the model name, so adding or
removing a model touches only its own objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from infra.components.serving_labels import Track, model_selector, object_labels, track_selector
from infra.components.serving_network import endpoint_url, ingress_spec, network_policy_spec, service_spec
from infra.components.serving_pod import BundleVersion, PodTemplateArgs, pod_template
from infra.config import ModelConfig, StackConfig
from infra.naming import service_account_name

IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
#: Extra time Pulumi waits beyond the rollout's progress deadline, so Kubernetes declares the
#: failure (ProgressDeadlineExceeded) rather than Pulumi timing out first.
AWAIT_MARGIN_SECONDS = 120


@dataclass(frozen=True)
class ModelServingArgs:
    config: StackConfig
    model: str
    namespace: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    reader_role_arn: pulumi.Input[str]


class ModelServing(pulumi.ComponentResource):
    """Serving of one model; ``endpoint`` is its in-cluster URL."""

    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: ModelServingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:serving:ModelServing", name, None, opts)
        self._args = args
        cfg, model = args.config, args.model
        model_cfg: ModelConfig = cfg.models[model]

        # Named in Pulumi as in Kubernetes, like every other object here, so `modelctl plan` and
        # `modelctl render` show one name. The alias keeps the stacks created under the model's name:
        # Pulumi moves the resource to the new URN instead of replacing the ServiceAccount.
        account_name = service_account_name(model)
        account = k8s.core.v1.ServiceAccount(
            account_name,
            metadata=self._metadata(account_name, annotations={IRSA_ROLE_ANNOTATION: args.reader_role_arn}),
            automount_service_account_token=False,
            opts=self._child(aliases=[pulumi.Alias(name=model)]),
        )
        stable = self._deployment(
            Track.stable, BundleVersion(model_cfg.version, model_cfg.bundle_sha256), account, replicas=None
        )
        if model_cfg.canary:
            canary = model_cfg.canary
            self._deployment(
                Track.canary, BundleVersion(canary.version, canary.bundle_sha256), account, replicas=canary.replicas
            )
        service = k8s.core.v1.Service(
            model, metadata=self._metadata(model), spec=service_spec(cfg, model), opts=self._child()
        )
        self._autoscaler(stable)
        k8s.policy.v1.PodDisruptionBudget(
            model,
            metadata=self._metadata(model),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                # One budget over stable and canary pods: drains take at most one serving pod at a time,
                # so with two or more replicas (the prod minimum) a drain never takes them all.
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=model_selector(model)),
                # A pod that is not ready serves nothing: evicting it must never block a node drain.
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=self._child(),
        )
        k8s.networking.v1.NetworkPolicy(
            model, metadata=self._metadata(model), spec=network_policy_spec(cfg, model), opts=self._child()
        )
        if model_cfg.serving.ingress:
            k8s.networking.v1.Ingress(
                model,
                metadata=self._metadata(model, annotations=dict(model_cfg.serving.ingress.annotations) or None),
                spec=ingress_spec(model_cfg.serving.ingress, model, service.metadata.name),
                opts=self._child(depends_on=[service]),
            )

        self.endpoint = pulumi.Output.all(service.metadata.name, args.namespace).apply(
            lambda parts: endpoint_url(parts[0], parts[1], cfg.kubernetes.serving_port)
        )
        self.register_outputs({"endpoint": self.endpoint})

    def _child(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _metadata(
        self, name: str, annotations: Optional[dict[str, pulumi.Input[str]]] = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self._args.namespace,
            labels=object_labels(self._args.config, self._args.model),
            annotations=annotations,
        )

    def _deployment(
        self, track: Track, bundle: BundleVersion, account: k8s.core.v1.ServiceAccount, replicas: Optional[int]
    ) -> k8s.apps.v1.Deployment:
        """A Deployment serving ``bundle`` on ``track``.

        The stable Deployment leaves ``spec.replicas`` unset: the HPA owns the
        replica count. Setting it (even to the HPA minimum, with
        ``ignore_changes``) would make every apply of a changed Deployment
        reset the count the HPA chose, scaling a loaded service down in the
        middle of a rollout; unset, Kubernetes starts it at one pod and the
        HPA raises it to its minimum within seconds. The canary has no HPA:
        its replica count comes from the canary block.
        """
        cfg, model = self._args.config, self._args.model
        serving = cfg.models[model].serving
        name = model if track is Track.stable else f"{model}-{track.value}"
        template = pod_template(
            PodTemplateArgs(
                config=cfg,
                model=model,
                track=track,
                bundle=bundle,
                bucket_name=self._args.bucket_name,
                service_account_name=account.metadata.name,
            )
        )
        await_limit = f"{serving.progress_deadline_seconds + AWAIT_MARGIN_SECONDS}s"
        return k8s.apps.v1.Deployment(
            name,
            metadata=self._metadata(name),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=track_selector(model, track)),
                # Never below the current capacity: a new pod must be ready before an old one goes.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                ),
                progress_deadline_seconds=serving.progress_deadline_seconds,
                min_ready_seconds=serving.min_ready_seconds,
                revision_history_limit=5,
                template=template,
            ),
            opts=self._child(custom_timeouts=pulumi.CustomTimeouts(create=await_limit, update=await_limit)),
        )

    def _autoscaler(self, target: k8s.apps.v1.Deployment) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
        model = self._args.model
        serving = self._args.config.models[model].serving
        return k8s.autoscaling.v2.HorizontalPodAutoscaler(
            model,
            metadata=self._metadata(model),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=target.metadata.name
                ),
                min_replicas=serving.replicas.min,
                max_replicas=serving.replicas.max,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=serving.target_cpu_utilization
                            ),
                        ),
                    )
                ],
                behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                    scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=serving.scale_down_stabilization_seconds
                    )
                ),
            ),
            opts=self._child(),
        )
