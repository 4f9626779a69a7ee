"""The per-model blocks of the stack config: the training job, its schedule, the serving, the canary.

Part of the typed stack config (infra/config.py re-exports every name): a
model entry is its served release (``version`` + ``bundleSha256``), how it is
trained and how it is served.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import BeforeValidator, Field, field_validator, model_validator

from infra.config_base import Block, Problem, _err, _raise_problems
from infra.model_version import SHA256, check_model_version

QUANTITY_CPU = r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$"
QUANTITY_MEM = r"^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$"
#: Where ``training.package`` takes ``training.packageVersion``.
PACKAGE_VERSION_PLACEHOLDER = "{packageVersion}"
#: The placeholder before packages and models had separate versions; refused with a message saying what changed.
OLD_VERSION_PLACEHOLDER = "{version}"

#: A model version: one grammar and one message everywhere (infra/model_version.py).
ModelVersion = Annotated[str, BeforeValidator(check_model_version)]
#: The training code's own version (a wheel's or jar's), in the same grammar.
PackageVersion = Annotated[str, BeforeValidator(lambda v: check_model_version(v, "package version"))]


def _cron_problem(cron: str, run_by: str) -> Optional[str]:
    """Why ``cron`` is not the form ``run_by`` schedules with: 5 fields for Airflow, Quartz's 6 or 7 for Databricks."""
    fields = len(cron.split())
    if run_by == "airflow" and fields != 5:
        quartz = " (it looks like a Quartz expression: set runBy: databricks to keep it)" if fields in (6, 7) else ""
        return (
            f"{cron!r} is not a 5-field cron expression (minute hour day-of-month month day-of-week, e.g. '0 3 * * *'), "
            f"which Airflow schedules with (runBy: airflow, the default){quartz}"
        )
    if run_by == "databricks" and fields not in (6, 7):
        unix = " (it looks like a 5-field Unix cron: use it with runBy: airflow)" if fields == 5 else ""
        return (
            f"{cron!r} is not a Quartz cron expression (6 or 7 fields: second minute hour day-of-month month "
            f"day-of-week [year], e.g. '0 0 3 * * ?'), which Databricks schedules with (runBy: databricks){unix}"
        )
    return None


class ScheduleConfig(Block):
    run_by: Literal["airflow", "databricks"] = Field(
        "airflow",
        description="Who starts the scheduled runs. airflow (the default): the model's training DAG runs on this "
        "schedule (the stack writes it into the DAG's manifest; needs airflow.dags); the Databricks job gets no schedule. "
        "databricks: the job's own schedule (Quartz); the DAG has none and runs only when triggered. One scheduler, "
        "never both.",
    )
    cron: str = Field(
        min_length=1,
        description="When to train. runBy airflow: a 5-field cron (minute hour day-of-month month day-of-week), e.g. "
        "'0 3 * * *'. runBy databricks: a Quartz expression (6 or 7 fields, seconds first), e.g. '0 0 3 * * ?'.",
    )
    timezone: str = Field("UTC", min_length=1, description="Timezone id of the schedule, e.g. Europe/London.")
    paused: bool = Field(
        False,
        description="Keep the Databricks schedule paused (runBy databricks only; pause an Airflow-scheduled DAG in "
        "Airflow: `airflow dags pause <dag_id>`).",
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        import zoneinfo

        known = zoneinfo.available_timezones()
        if known and v not in known:  # no tz database on this machine: leave it to the scheduler
            raise ValueError(f"{v!r} is not a timezone id such as 'UTC' or 'Europe/London'")
        return v

    @model_validator(mode="after")
    def _scheduler(self) -> "ScheduleConfig":
        problems: list[Problem] = []
        cron = _cron_problem(self.cron, self.run_by)
        if cron:
            problems.append(("cron", cron))
        if self.paused and self.run_by == "airflow":
            problems.append((
                "paused",
                "applies to a Databricks schedule only (runBy: databricks); Airflow schedules this job: pause the DAG "
                "in Airflow (`airflow dags pause <dag_id>`)",
            ))
        _raise_problems(problems)
        return self

    @property
    def by_airflow(self) -> bool:
        return self.run_by == "airflow"


#: Named parameters the platform passes to every training task (``--name=value``), in this order;
#: ``training.parameters`` may not redefine them. The training package reads exactly these.
PLATFORM_TASK_PARAMETERS = (
    "model",
    "version",
    "work-uri",
    "bundle-uri",
    "samples-uri",
    "metrics-uri",
    "stats-uri",
    "digest-uri",
    "released-uri",
)


class TrainingConfig(Block):
    package: str = Field(
        min_length=1,
        description="Wheel (.whl) or jar URI of the model's training code; '{packageVersion}' in it is replaced by "
        "packageVersion, e.g. s3://artifacts/days-to-sell/days_to_sell-{packageVersion}-py3-none-any.whl.",
    )
    package_version: Optional[PackageVersion] = Field(
        None,
        description="Version of the training code (the wheel's or jar's own version, e.g. 1.4.0), put into package at "
        "'{packageVersion}'; required when package contains it. Not the model version: every run of the job trains a "
        "new model version (<UTC date>-<run id>), whatever the package version.",
    )
    package_name: Optional[str] = Field(None, description="Python package (wheel) or main class (jar). Default: model name with '_'.")
    node_type: Optional[str] = Field(None, description="Worker node type (default: the first allow-listed node type).")
    num_workers: int = Field(2, ge=1, le=1000, description="Workers of the job cluster.")
    schedule: Optional[ScheduleConfig] = Field(
        None, description="When to retrain, and who starts the runs (runBy). Unset: runs start only when triggered."
    )
    timeout_minutes: int = Field(120, ge=1, le=2880, description="Timeout of each task.")
    max_retries: int = Field(1, ge=0, le=10, description="Retries of each task.")
    retry_interval_minutes: int = Field(5, ge=0, le=180, description="Minutes between a failed task and its retry.")
    parameters: dict[str, str] = Field(
        default_factory=dict,
        description="Extra named parameters passed to every task as --name=value (strings; quote numbers), e.g. the "
        f"data source or a metric threshold. Reserved for the platform: {', '.join(PLATFORM_TASK_PARAMETERS)}.",
    )

    @field_validator("package")
    @classmethod
    def _package(cls, v: str) -> str:
        if not (v.endswith(".whl") or v.endswith(".jar")):
            raise ValueError(f"{v!r} is neither a .whl nor a .jar")
        if OLD_VERSION_PLACEHOLDER in v:
            raise ValueError(
                f"{v!r} uses '{OLD_VERSION_PLACEHOLDER}', which is no longer replaced: the package follows the training "
                f"code's own version, not the model version. Write '{PACKAGE_VERSION_PLACEHOLDER}' instead and set "
                "training.packageVersion (e.g. 1.4.0)"
            )
        if v.startswith("s3://") and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^/].*[^/]", v):
            raise ValueError(f"{v!r} is not s3://<bucket>/<key of the package file>")
        return v

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, v: dict[str, str]) -> dict[str, str]:
        problems: list[Problem] = []
        for key in v:
            if key in PLATFORM_TASK_PARAMETERS:
                problems.append(("", f"{key!r} is set by the platform (reserved: {', '.join(PLATFORM_TASK_PARAMETERS)})"))
            elif not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
                problems.append(("", f"{key!r} is not a parameter name (letters, digits, '_' and '-')"))
        _raise_problems(problems)
        return v

    @model_validator(mode="after")
    def _package_parts(self) -> "TrainingConfig":
        problems: list[Problem] = []
        if not self.is_wheel and not self.package_name:
            problems.append(("packageName", "is required for a jar: the main class the tasks run"))
        placeholder = PACKAGE_VERSION_PLACEHOLDER in self.package
        if placeholder and self.package_version is None:
            problems.append(("packageVersion", f"is required: package contains '{PACKAGE_VERSION_PLACEHOLDER}'"))
        if not placeholder and self.package_version is not None:
            problems.append((
                "packageVersion",
                f"is set, but package has no '{PACKAGE_VERSION_PLACEHOLDER}' to put it in: add the placeholder to "
                "package or remove packageVersion",
            ))
        _raise_problems(problems)
        return self

    @property
    def is_wheel(self) -> bool:
        return self.package.endswith(".whl")

    @property
    def package_uri(self) -> str:
        """The wheel or jar the tasks install: the package at ``packageVersion``."""
        return self.package.replace(PACKAGE_VERSION_PLACEHOLDER, self.package_version or "")

    def entry_package(self, model: str) -> str:
        """Wheel package name or jar main class (default for wheels: the model name with '_')."""
        return self.package_name or model.replace("-", "_")


class ReplicasConfig(Block):
    min: int = Field(2, ge=1, le=1000, description="HPA minimum replicas.")
    max: int = Field(4, ge=1, le=1000, description="HPA maximum replicas.")

    @model_validator(mode="after")
    def _order(self) -> "ReplicasConfig":
        if self.min > self.max:
            raise _err("min", f"{self.min} is greater than max ({self.max})")
        return self


class ResourceAmounts(Block):
    cpu: Optional[str] = Field(None, pattern=QUANTITY_CPU, description="CPU, e.g. 500m or 2.")
    memory: str = Field(pattern=QUANTITY_MEM, description="Memory, e.g. 2Gi.")


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
        if _mem_bytes(self.limits.memory) < _mem_bytes(self.requests.memory):
            problems.append(("limits.memory", f"{self.limits.memory} is below requests.memory ({self.requests.memory})"))
        _raise_problems(problems)
        return self


def _mem_bytes(q: str) -> int:
    m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?", q)
    assert m
    scale = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return int(m.group(1)) * scale[m.group(2)]


class IngressConfig(Block):
    host: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="Host name.")
    class_name: str = Field("nginx", description="IngressClass name.")
    tls_secret: Optional[str] = Field(None, description="Secret holding the TLS certificate.")
    controller_namespace: str = Field(
        "ingress-nginx",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Namespace of the ingress controller; the NetworkPolicy admits it on the serving port.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations for the Ingress controller, e.g. alb.ingress.kubernetes.io/healthcheck-path: "
        "/models/<name>/meta with className alb (MLeap serves nothing on '/').",
    )

    @field_validator("annotations")
    @classmethod
    def _annotation_keys(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not re.fullmatch(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", k)]
        if bad:
            raise ValueError(f"not valid annotation keys: {', '.join(repr(k) for k in bad)}")
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


class CanaryConfig(Block):
    version: ModelVersion = Field(description="Candidate version (a model version, as for the served one).")
    bundle_sha256: str = Field(pattern=SHA256, description="sha256 of the candidate's bundle.zip.")
    replicas: int = Field(1, ge=1, le=100, description="Candidate replicas (traffic share = replicas / all replicas).")


class ModelConfig(Block):
    version: ModelVersion = Field(
        description="The model version this stack serves: a training run's immutable version (<UTC date>-<run id>, "
        "e.g. 2026-12-02-884422123) or any other version name (e.g. 1.4.0): 1 to 63 letters, digits, '.', '_' or "
        "'-', starting and ending with a letter or digit. Its objects live at <model>/<version>/ in the bundle "
        "store and are never overwritten. A release is this and bundleSha256 together: change both with "
        "`modelctl release` (or `promote`), never one alone. Training never reads it.",
    )
    bundle_sha256: str = Field(
        pattern=SHA256,
        description="sha256 (64 lowercase hex) of <model>/<version>/bundle.zip: the digest of the version above, "
        "as its bundle.zip.sha256 says; the serving pods refuse a bundle with another digest.",
    )
    training: TrainingConfig = Field(description="The Databricks training job.")
    serving: ServingConfig = Field(default_factory=ServingConfig, description="The Kubernetes serving.")
    canary: Optional[CanaryConfig] = Field(None, description="A candidate version served beside the main one.")

    @model_validator(mode="after")
    def _canary(self) -> "ModelConfig":
        if self.canary and self.canary.version == self.version:
            raise _err("canary.version", f"{self.version} is the version already served; promote by deleting the canary block")
        return self
