"""``models.<name>.serving``: the model's Kubernetes serving: replicas, resources, rollout timing, ingress."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator, model_validator

from infra.config.base import Block, Problem, _err, _raise_problems
from infra.config.types import (
    ANNOTATION_KEY,
    SECURE_KEY_ADVICE,
    CpuQuantity,
    DnsLabel,
    HostName,
    MemoryQuantity,
    credential_problems,
    memory_bytes,
)
from infra.contract.limits import INGRESS_ANNOTATIONS


class ReplicasConfig(Block):
    min: int = Field(2, ge=1, le=1000, description="HPA minimum replicas.")
    max: int = Field(4, ge=1, le=1000, description="HPA maximum replicas.")

    @model_validator(mode="after")
    def _order(self) -> "ReplicasConfig":
        if self.min > self.max:
            raise _err("min", f"{self.min} is greater than max ({self.max})")
        return self


class ResourceAmounts(Block):
    cpu: Optional[CpuQuantity] = Field(None, description="CPU, e.g. 500m or 2 (10m to 64 CPUs).")
    memory: MemoryQuantity = Field(description="Memory, e.g. 2Gi (128Mi to 512Gi).")


class ServingResources(Block):
    requests: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="500m", memory="1536Mi"), description="Requests (cpu required for the HPA)."
    )
    limits: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(memory="1536Mi"), description="Limits (memory required).")

    @model_validator(mode="after")
    def _cpu(self) -> "ServingResources":
        problems: list[Problem] = []
        if not self.requests.cpu:
            problems.append(("requests.cpu", "is required: the HPA scales on CPU utilization of the request"))
        if memory_bytes(self.limits.memory) < memory_bytes(self.requests.memory):
            problems.append(("limits.memory", f"{self.limits.memory} is below requests.memory ({self.requests.memory})"))
        _raise_problems(problems)
        return self


class IngressConfig(Block):
    host: HostName = Field(description="Host name.")
    class_name: str = Field("nginx", description="IngressClass name.")
    tls_secret: Optional[str] = Field(None, description="Secret holding the TLS certificate.")
    controller_namespace: DnsLabel = Field(
        "ingress-nginx",
        description="Namespace of the ingress controller; the NetworkPolicy admits it on the serving port.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations for the Ingress controller, e.g. alb.ingress.kubernetes.io/healthcheck-path: "
        "/models/<name>/meta with className alb (MLeap serves nothing on '/'). Allowed: "
        f"{', '.join(INGRESS_ANNOTATIONS)}; anything else (configuration or server snippets, auth and source-range "
        "overrides, the ALB scheme) is refused.",
    )

    @field_validator("annotations")
    @classmethod
    def _annotation_keys(cls, v: dict[str, str]) -> dict[str, str]:
        problems: list[Problem] = []
        bad = [k for k in v if not ANNOTATION_KEY.fullmatch(k)]
        if bad:
            problems.append(("", f"not valid annotation keys: {', '.join(repr(k) for k in bad)}"))
        problems += [
            (key, "is not an annotation a stack may set: it could change who reaches the model or inject controller "
             "configuration (allowed: infra/contract/limits.py INGRESS_ANNOTATIONS)")
            for key in v
            if key not in bad and key not in INGRESS_ANNOTATIONS
        ]
        problems += credential_problems(v, SECURE_KEY_ADVICE)
        _raise_problems(problems)
        return v


class ServingConfig(Block):
    replicas: ReplicasConfig = Field(default_factory=ReplicasConfig, description="Autoscaling bounds.")
    target_cpu_utilization: int = Field(70, ge=10, le=100, description="HPA CPU utilization target (percent of request).")
    scale_down_stabilization_seconds: int = Field(300, ge=0, le=3600, description="HPA scale-down stabilization window.")
    resources: ServingResources = Field(default_factory=ServingResources, description="Container requests and limits.")
    image: Optional[str] = Field(None, description="Serving image for this model (default: kubernetes.images.serving).")
    ingress: Optional[IngressConfig] = Field(None, description="Expose the model through an Ingress.")
    max_ram_percentage: int = Field(75, ge=25, le=90, description="JVM heap as a percentage of the memory limit (-XX:MaxRAMPercentage).")
    startup_timeout_seconds: int = Field(
        300, ge=30, le=3600, description="Time a pod gets for JVM start and bundle load before it is restarted (startupProbe)."
    )
    progress_deadline_seconds: int = Field(
        600, ge=60, le=7200, description="A rollout that makes no progress for this long fails (and `pulumi up` with it)."
    )
    min_ready_seconds: int = Field(10, ge=0, le=600, description="Seconds a new pod must stay ready before the rollout moves on.")

    @model_validator(mode="after")
    def _rollout_timing(self) -> "ServingConfig":
        if self.startup_timeout_seconds + self.min_ready_seconds >= self.progress_deadline_seconds:
            raise _err(
                "progressDeadlineSeconds",
                f"{self.progress_deadline_seconds} leaves no time for a pod to start: it must exceed "
                f"startupTimeoutSeconds + minReadySeconds ({self.startup_timeout_seconds + self.min_ready_seconds})",
            )
        return self
