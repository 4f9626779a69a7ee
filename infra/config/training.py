"""``models.<name>.training``: the model's Databricks training job, and when it runs (its schedule).

A run trains a new model version (``infra.contract.layout.RUN_VERSION``);
``packageVersion`` is the training code's own version, never the model's.
"""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from infra.config.base import Block, Problem, _raise_problems
from infra.config.types import S3_OBJECT_URI, Bool, FreeText, PackageVersion, Timezone
from infra.contract.training import PACKAGE_VERSION_PLACEHOLDER, PLATFORM_TASK_PARAMETERS

#: The placeholder before packages and models had separate versions; refused with a message saying what changed.
OLD_VERSION_PLACEHOLDER = "{version}"
_S3_OBJECT_URI = re.compile(S3_OBJECT_URI[:-1] + r"\Z")


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
    timezone: Timezone = Field("UTC", min_length=1, description="Timezone id of the schedule, e.g. Europe/London.")
    paused: Bool = Field(
        False,
        description="Keep the Databricks schedule paused (runBy databricks only; pause an Airflow-scheduled DAG in "
        "Airflow: `airflow dags pause <dag_id>`).",
    )

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
    parameters: FreeText = Field(
        default_factory=dict,
        description="Extra named parameters passed to every task as --name=value (strings; quote numbers), e.g. the "
        f"data source or a metric threshold; never a credential. Reserved for the platform: {', '.join(PLATFORM_TASK_PARAMETERS)}.",
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
        if v.startswith("s3://") and not _S3_OBJECT_URI.search(v):
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
