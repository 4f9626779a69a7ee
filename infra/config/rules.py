"""Rules spanning sections of the stack file, and the production requirements.

Each rule runs on the blocks that validated (``_Parts``), so one bad field
elsewhere hides no other problem: every problem of a stack file is reported
in one go.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from pydantic import TypeAdapter, ValidationError

from infra.config.airflow import AirflowConfig
from infra.config.base import Problem
from infra.config.bundle_store import BundleStoreConfig
from infra.config.databricks import DatabricksConfig
from infra.config.kubernetes import DEFAULT_SERVING_IMAGE, KubernetesConfig
from infra.config.models import ModelConfig
from infra.config.serving import ServingConfig
from infra.config.stack import Environment, StackConfig
from infra.config.training import TrainingConfig
from infra.contract.limits import PROD_MIN_REPLICAS, RECOVERY_WINDOW_DAYS
from infra.contract.mleap_compat import image_mleap_line, mleap_line
from infra.contract.model_version import IMAGE_DIGEST


@dataclass(frozen=True)
class _ModelParts:
    """The parts of one model's config that validated; None where invalid (reported already)."""

    training: Optional[TrainingConfig]
    serving: Optional[ServingConfig]


@dataclass(frozen=True)
class _Parts:
    """The blocks of a stack's config that validated; None where invalid (reported already).

    Rules spanning blocks run on these, so one bad field elsewhere does not hide
    them: every problem of a stack file is reported in one go.
    """

    environment: Optional[Environment]
    bundle_store: Optional[BundleStoreConfig]
    databricks: Optional[DatabricksConfig]
    airflow: Optional[AirflowConfig]
    kubernetes: Optional[KubernetesConfig]
    models: Mapping[str, _ModelParts]
    secure_keys: frozenset[str]

    @classmethod
    def of(cls, cfg: StackConfig) -> "_Parts":
        secure = set(cfg.extra_secrets)
        secure |= {k for k, v in (("databricksToken", cfg.databricks_token), ("databricksClientSecret", cfg.databricks_client_secret)) if v}
        return cls(
            cfg.environment,
            cfg.bundle_store,
            cfg.databricks,
            cfg.airflow,
            cfg.kubernetes,
            {name: _ModelParts(m.training, m.serving) for name, m in cfg.models.items()},
            frozenset(secure),
        )

    @classmethod
    def salvage(cls, data: Mapping[str, Any], secure_keys: frozenset[str]) -> "_Parts":
        """The parts of ``data`` (keyed as in the stack file) that validate on their own."""
        return cls(
            _valid_field("environment", data),
            _valid_field("bundle_store", data),
            _valid_field("databricks", data),
            _valid_field("airflow", data),
            _valid_field("kubernetes", data),
            _valid_models(data.get("models")),
            secure_keys,
        )


def _valid(adapter: TypeAdapter[Any], raw: Any) -> Any:
    try:
        return adapter.validate_python(raw)
    except ValidationError:
        return None


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _valid_field(name: str, data: Mapping[str, Any]) -> Any:
    """Top-level field ``name`` validated alone: its default when absent, None when invalid."""
    field = StackConfig.model_fields[name]
    if field.alias not in data:
        return None if field.is_required() else field.get_default(call_default_factory=True)
    return _valid(_adapter(field.annotation), data[field.alias])


def _valid_models(raw: Any) -> dict[str, _ModelParts]:
    """Each model, or failing that its training and serving blocks, validated alone."""
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, _ModelParts] = {}
    for name, model in raw.items():
        whole = _valid(_adapter(ModelConfig), model)
        if whole is not None:
            out[str(name)] = _ModelParts(whole.training, whole.serving)
            continue
        model = model if isinstance(model, Mapping) else {}
        out[str(name)] = _ModelParts(
            _valid(_adapter(TrainingConfig), model["training"]) if "training" in model else None,
            _valid(_adapter(ServingConfig), model.get("serving", {})),
        )
    return out


def _credential_problems(parts: _Parts) -> list[Problem]:
    db = parts.databricks
    if db is None:
        return []
    out: list[Problem] = []
    if db.auth == "token" and "databricksToken" not in parts.secure_keys:
        out.append(("databricksToken", "is required when databricks.auth is 'token' (pulumi config set --secret databricksToken)"))
    if db.auth == "oauth-m2m" and "databricksClientSecret" not in parts.secure_keys:
        out.append(
            ("databricksClientSecret", "is required when databricks.auth is 'oauth-m2m' (pulumi config set --secret databricksClientSecret)")
        )
    return out


def _password_key_problems(parts: _Parts) -> list[Problem]:
    if parts.airflow is None:
        return []
    return [
        (f"airflow.connections.{conn_id}.passwordKey", f"names {conn.password_key!r}, which is not a secure key of this stack")
        for conn_id, conn in parts.airflow.connections.items()
        if conn.password_key and conn.password_key not in parts.secure_keys
    ]


def _training_compute_problems(parts: _Parts) -> list[Problem]:
    db = parts.databricks
    if db is None:
        return []
    out: list[Problem] = []
    for name, model in parts.models.items():
        if model.training is None:
            continue
        node = model.training.node_type
        if node and node not in db.node_types:
            out.append((f"models.{name}.training.nodeType", f"{node!r} is not in databricks.nodeTypes {db.node_types}"))
        if model.training.num_workers > db.cluster_policy.max_workers:
            out.append(
                (f"models.{name}.training.numWorkers", f"{model.training.num_workers} is greater than databricks.clusterPolicy.maxWorkers ({db.cluster_policy.max_workers})")
            )
    return out


def _serving_images(parts: _Parts) -> dict[str, str]:
    """Serving images by key path: the per-model ones, and the default when some model uses it."""
    images: dict[str, str] = {}
    k8s = parts.kubernetes
    if k8s is not None and (not parts.models or any(m.serving is None or not m.serving.image for m in parts.models.values())):
        images["kubernetes.images.serving"] = k8s.images.serving
    images.update({f"models.{n}.serving.image": m.serving.image for n, m in parts.models.items() if m.serving and m.serving.image})
    return images


def _serving_image_mleap_problems(parts: _Parts) -> list[Problem]:
    """An image tagged with an MLeap version serves that line's bundles only: it must match what training exports."""
    db = parts.databricks
    if db is None:
        return []
    line = mleap_line(db.mleap_version)
    out: list[Problem] = []
    for path, image in _serving_images(parts).items():
        tagged = image_mleap_line(image)
        if tagged is not None and tagged != line:
            default = " (the default)" if path == "kubernetes.images.serving" and image == DEFAULT_SERVING_IMAGE else ""
            out.append((
                path,
                f"{image!r}{default} is tagged for MLeap {tagged}, but databricks.mleapVersion is {db.mleap_version}: "
                f"serve the bundles with an image built for MLeap {line}",
            ))
    return out


def _production_problems(parts: _Parts) -> list[Problem]:
    if parts.environment is not Environment.prod:
        return []
    out: list[Problem] = []
    images: dict[str, str] = {}
    if parts.kubernetes is not None:
        images = {"kubernetes.images.serving": parts.kubernetes.images.serving, "kubernetes.images.init": parts.kubernetes.images.init}
    images.update({f"models.{n}.serving.image": m.serving.image for n, m in parts.models.items() if m.serving and m.serving.image})
    for path, image in images.items():
        if not IMAGE_DIGEST.search(image):
            out.append((path, f"{image!r} must be pinned by digest (…@sha256:<64 hex>) in prod"))
    for name, model in parts.models.items():
        if model.serving is not None and model.serving.replicas.min < PROD_MIN_REPLICAS:
            out.append((
                f"models.{name}.serving.replicas.min",
                f"{model.serving.replicas.min} is below {PROD_MIN_REPLICAS}, the prod minimum",
            ))
    if parts.bundle_store is not None and parts.bundle_store.protect is False:
        out.append(("bundleStore.protect", "cannot be false in prod: the bundles are the only copy of every model"))
    if parts.airflow is not None and parts.airflow.recovery_window_days == 0:
        low, high = RECOVERY_WINDOW_DAYS
        out.append(("airflow.recoveryWindowDays", f"cannot be 0 in prod: keep a recovery window of {low}..{high} days"))
    return out


def _airflow_schedule_problems(parts: _Parts) -> list[Problem]:
    """An Airflow schedule is the training DAG's: the stack must deliver that DAG (airflow.dags)."""
    if parts.airflow is None or parts.airflow.dags is not None:
        return []
    return [
        (
            f"models.{name}.training.schedule.runBy",
            "is airflow, so the model's training DAG runs on this schedule, but the stack delivers no DAG: set "
            "airflow.dags (where the DAG goes), or runBy: databricks with a Quartz cron",
        )
        for name, model in parts.models.items()
        if model.training is not None and model.training.schedule is not None and model.training.schedule.by_airflow
    ]


def _cross_stack_problems(parts: _Parts) -> list[Problem]:
    """Rules spanning blocks, and the production requirements; each runs when the blocks it reads validated."""
    return [
        *_credential_problems(parts),
        *_password_key_problems(parts),
        *_airflow_schedule_problems(parts),
        *_training_compute_problems(parts),
        *_serving_image_mleap_problems(parts),
        *_production_problems(parts),
    ]
