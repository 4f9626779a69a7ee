"""Names, tags and labels, derived from the stack and model names only.

Logical names never depend on list positions, so adding or removing a model
touches only that model's resources.
"""

from __future__ import annotations

import re
from typing import Optional

from infra.config import PROJECT, StackConfig

MANAGED_BY = "pulumi"


def stack_prefix(cfg: StackConfig) -> str:
    """Prefix of physical names shared by the whole stack, e.g. ``model-platform-staging``."""
    return f"{PROJECT}-{cfg.environment.value}"


def aws_tags(cfg: StackConfig, model: Optional[str] = None) -> dict[str, str]:
    """Tags on every AWS resource (and Databricks custom_tags): the stack's tags, then the platform's.

    The platform's keys are ``PLATFORM_TAG_KEYS``, which the config refuses as user tags.
    """
    platform = {"project": PROJECT, "environment": cfg.environment.value, "managed-by": MANAGED_BY}
    if model:
        platform["model"] = model
    return {**cfg.tags, **platform}


def k8s_labels(cfg: StackConfig, model: str, version: Optional[str], component: str = "serving") -> dict[str, str]:
    """Kubernetes recommended labels; ``version`` is None for objects that belong to no one version."""
    labels = {
        "app.kubernetes.io/name": model,
        "app.kubernetes.io/instance": f"{model}-{cfg.environment.value}",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PROJECT,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "model-platform/environment": cfg.environment.value,
    }
    if version is not None:
        labels["app.kubernetes.io/version"] = label_value(version)
    tag_labels = {f"model-platform/{k}": label_value(v) for k, v in cfg.tags.items()}
    labels.update({k: v for k, v in tag_labels.items() if k not in labels})  # the platform's own labels win
    return labels


def label_value(text: str) -> str:
    """``text`` made a valid label value (at most 63 of ``[-A-Za-z0-9_.]``, alphanumeric ends).

    Model versions and tags are valid label values already (the config checks
    them); this only guards against text that reaches a label some other way.
    """
    value = re.sub(r"[^-A-Za-z0-9_.]", "_", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


def service_account_name(model: str) -> str:
    """The serving ServiceAccount of ``model``; the IRSA trust policy binds to exactly this."""
    return f"{model}-serving"


def training_role_name(cfg: StackConfig) -> str:
    """The training clusters' IAM role (and instance profile): fixed, so the bucket policy can name its ARN
    without depending on the role (which depends on the bucket's writer policy)."""
    return physical_name(cfg, "training")


def physical_name(cfg: StackConfig, *parts: str) -> str:
    """A physical (cloud-side) name unique per stack, e.g. ``model-platform-prod-days-to-sell-reader``."""
    return "-".join((stack_prefix(cfg), *parts))
