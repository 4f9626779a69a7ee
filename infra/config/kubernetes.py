"""``model-platform:kubernetes``: the serving cluster, its namespace, images and who may call the models."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator

from infra.config.base import Block, Problem, _raise_problems
from infra.config.types import (
    DnsLabel,
    LABEL_KEY,
    SECURE_KEY_ADVICE,
    Bool,
    OidcProviderArn,
    WorkloadNamespace,
    credential_problems,
    matching,
    versioned,
)
from infra.contract.credentials import credential_value_kind
from infra.contract.limits import MIN_KUBERNETES_MINOR
from infra.contract.naming import LABEL_VALUE

#: A named kubeconfig context: no whitespace.
KubeconfigContext = matching(r"^[^\s]+$", "a kubeconfig context name: no whitespace")
#: An EKS cluster name.
EksClusterName = matching(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$", "an EKS cluster name: 1 to 100 letters, digits, '-' and '_', starting with a letter or digit")
#: A Kubernetes minor version, ``1.<minor>``.
KubernetesVersion = versioned(r"^1\.\d+$", "Kubernetes minor version", "1.<minor>, quoted, e.g. \"1.31\"")


#: The serving image when a stack names none: the last public mleap-spring-boot image.
DEFAULT_SERVING_IMAGE = "combustml/mleap-spring-boot:0.21.0"


class ImagesConfig(Block):
    serving: str = Field(
        DEFAULT_SERVING_IMAGE,
        min_length=1,
        description="MLeap serving image (HTTP on servingPort); pin by digest in prod. A version tag (X.Y.Z, before any "
        "'@sha256:') must be on databricks.mleapVersion's major.minor line. The default is the last public image, which "
        "serves MLeap 0.21 bundles only: a stack exporting another MLeap line (0.23 on 13.3 LTS ML) is refused until it "
        "names an image built for that line.",
    )
    init: str = Field(
        "public.ecr.aws/aws-cli/aws-cli:2.22.35",
        min_length=1,
        description="Init image with the AWS CLI that downloads and verifies the bundle; pin by digest in prod.",
    )


class KubernetesConfig(Block):
    context: Optional[KubeconfigContext] = Field(
        None,
        description="Named kubeconfig context to deploy with instead of the kubeconfig generated for clusterName "
        "(e.g. a local cluster). Default: unset.",
    )
    cluster_name: EksClusterName = Field(
        description="The EKS cluster (in aws.region) the stack deploys to: the Kubernetes provider's kubeconfig is "
        "built for exactly this cluster, authenticated with `aws eks get-token`.",
    )
    version: KubernetesVersion = Field(
        "1.31", description=f"Kubernetes minor version of the cluster (1.{MIN_KUBERNETES_MINOR} or newer)."
    )
    namespace: WorkloadNamespace = Field(
        "models", description="Namespace the models are served in (not kube-system, kube-public, kube-node-lease or default)."
    )
    create_namespace: Bool = Field(True, description="Create the serving namespace (false: it exists already).")
    oidc_provider_arn: OidcProviderArn = Field(
        description="The cluster's IAM OIDC provider ARN, for IRSA."
    )
    images: ImagesConfig = Field(default_factory=ImagesConfig, description="Container images.")
    serving_port: int = Field(65327, ge=1024, le=65535, description="HTTP port of the MLeap server.")
    allowed_namespaces: list[DnsLabel] = Field(
        default_factory=list, description="Namespaces whose pods may call the models (NetworkPolicy). Empty: same namespace only."
    )
    allowed_pod_labels: dict[str, str] = Field(
        default_factory=dict,
        description="When set, only pods carrying all these labels (in the serving or an allowed namespace) may call the models.",
    )
    run_as_user: int = Field(
        10001, ge=1, le=2147483647, description="Numeric non-root UID/GID the serving pods run as (the images must not need root)."
    )

    @field_validator("allowed_pod_labels")
    @classmethod
    def _pod_labels(cls, v: dict[str, str]) -> dict[str, str]:
        problems: list[Problem] = []
        for key, value in v.items():
            if not LABEL_KEY.fullmatch(key):
                problems.append(("", f"{key!r} is not a label key"))
            if not LABEL_VALUE.fullmatch(value) and not credential_value_kind(value):  # a credential: never echoed
                problems.append(("", f"{key}: {value!r} is not a label value"))
        problems += credential_problems(v, SECURE_KEY_ADVICE)
        _raise_problems(problems)
        return v

    @field_validator("version")
    @classmethod
    def _min_version(cls, v: str) -> str:
        if int(v.split(".")[1]) < MIN_KUBERNETES_MINOR:
            raise ValueError(f"{v} is older than the oldest supported Kubernetes version (1.{MIN_KUBERNETES_MINOR})")
        return v

    @property
    def oidc_issuer(self) -> str:
        """Issuer host/path (the part IRSA trust conditions key on)."""
        return self.oidc_provider_arn.split(":oidc-provider/", 1)[1]
