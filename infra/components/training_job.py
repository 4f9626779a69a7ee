"""One Databricks training job per model: prepare and check the data, train, export the MLeap bundle, check it.

The job is the production half of the pipeline. Every run trains a NEW model
version, ``<UTC start date>-<run id>`` (``infra.contract.layout.RUN_VERSION``, resolved
by Databricks at run time), and ends with that version published and sealed in
the bundle store (infra/contract/layout.py). The served version never reaches the job:
releasing a version (``modelctl release``) changes serving and
``<model>/released.json``, not the job. The training code's own version
(``training.packageVersion``) picks the package the tasks install.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_databricks as databricks

from infra.config import TrainingConfig
from infra.contract.limits import MAX_CONCURRENT_TRAINING_RUNS
from infra.contract.training import PLATFORM_TASK_PARAMETERS
from infra.documents.databricks import ON_DEMAND_DRIVER, SPOT_WITH_FALLBACK, STEPS, ClusterShape, Step
from infra.contract.layout import RUN_VERSION, run_keys
from infra.contract.mleap_compat import mleap_python_requirement, mleap_spark_coordinates


#: The one job cluster every task runs on; each task names it (pulumi-databricks #847: compute is per task).
JOB_CLUSTER_KEY = "training"


def task_parameters(model: str, bucket: str) -> dict[str, str]:
    """The platform's named parameters of every task, in ``PLATFORM_TASK_PARAMETERS`` order.

    The version is the run's own (``RUN_VERSION``), inside the URIs too, so the
    declaration is the same for every run and every served version.
    """
    keys = run_keys(model)
    values = {
        "model": model,
        "version": RUN_VERSION,
        "work-uri": keys.uri(bucket, keys.work),
        "bundle-uri": keys.uri(bucket, keys.bundle),
        "samples-uri": keys.uri(bucket, keys.samples),
        "metrics-uri": keys.uri(bucket, keys.metrics),
        "stats-uri": keys.uri(bucket, keys.stats),
        "digest-uri": keys.uri(bucket, keys.digest),
        "released-uri": keys.uri(bucket, keys.released),
    }
    assert tuple(values) == PLATFORM_TASK_PARAMETERS, "the config reserves exactly the names the job passes"
    return values


#: Stands for the bucket name in ``task_parameters``' values until the bucket's name is known.
_BUCKET = "\x00bucket\x00"


def named_parameters(model: str, bucket_name: pulumi.Input[str], extra: dict[str, str]) -> dict[str, pulumi.Input[str]]:
    """``--name=value`` parameters of a task: the user's ``training.parameters``, then the platform's (which win;
    the config refuses clashes). Only the URIs wait for the bucket's name; the rest stay plain text in a preview."""
    bucket = pulumi.Output.from_input(bucket_name)
    platform: dict[str, pulumi.Input[str]] = {
        name: bucket.apply(lambda b, v=value: v.replace(_BUCKET, b)) if _BUCKET in value else value
        for name, value in task_parameters(model, _BUCKET).items()
    }
    return {**extra, **platform}


def jar_arguments(step: Step, parameters: dict[str, pulumi.Input[str]]) -> list[pulumi.Input[str]]:
    """Command-line arguments of a jar task: the step, then the same parameters as ``--name=value``."""
    return [
        step.key,
        *(f"--{name}={value}" if isinstance(value, str) else pulumi.Output.concat("--", name, "=", value) for name, value in parameters.items()),
    ]


def task_libraries(training: TrainingConfig, shape: ClusterShape) -> list[databricks.JobTaskLibraryArgs]:
    """The model's package at its package version, and the MLeap libraries of the stack's MLeap version."""
    package = training.package_uri
    mleap_jar = databricks.JobTaskLibraryArgs(
        maven=databricks.JobTaskLibraryMavenArgs(coordinates=mleap_spark_coordinates(shape.spark_version, shape.mleap_version))
    )
    if training.is_wheel:
        mleap_python = databricks.JobTaskLibraryArgs(
            pypi=databricks.JobTaskLibraryPypiArgs(package=mleap_python_requirement(shape.mleap_version))
        )
        return [databricks.JobTaskLibraryArgs(whl=package), mleap_python, mleap_jar]
    return [databricks.JobTaskLibraryArgs(jar=package), mleap_jar]


def training_tasks(
    model: str, training: TrainingConfig, shape: ClusterShape, bucket_name: pulumi.Input[str]
) -> list[databricks.JobTaskArgs]:
    """The job's tasks, sorted by task key, each on the job cluster with its timeout and retries."""
    entry = training.entry_package(model)
    libraries = task_libraries(training, shape)
    parameters = named_parameters(model, bucket_name, training.parameters)
    return [
        databricks.JobTaskArgs(
            task_key=step.key,
            description=step.description,
            depends_ons=[databricks.JobTaskDependsOnArgs(task_key=step.after)] if step.after else None,
            job_cluster_key=JOB_CLUSTER_KEY,
            libraries=libraries,
            python_wheel_task=databricks.JobTaskPythonWheelTaskArgs(
                package_name=entry, entry_point=step.key, named_parameters=parameters
            )
            if training.is_wheel
            else None,
            spark_jar_task=None
            if training.is_wheel
            else databricks.JobTaskSparkJarTaskArgs(main_class_name=entry, parameters=jar_arguments(step, parameters)),
            timeout_seconds=training.timeout_minutes * 60,
            max_retries=training.max_retries,
            min_retry_interval_millis=training.retry_interval_minutes * 60_000,
        )
        for step in sorted(STEPS, key=lambda s: s.key)
    ]


def job_cluster(
    job: "TrainingJobSettings", policy_id: pulumi.Input[str], instance_profile_arn: pulumi.Input[str]
) -> databricks.JobJobClusterArgs:
    """The model's job cluster: under the team policy, with the bundle-writing instance profile."""
    shape, training = job.shape, job.training
    return databricks.JobJobClusterArgs(
        job_cluster_key=JOB_CLUSTER_KEY,
        new_cluster=databricks.JobJobClusterNewClusterArgs(
            policy_id=policy_id,
            spark_version=shape.spark_version,
            node_type_id=training.node_type or shape.default_node_type,
            driver_node_type_id=shape.driver_node_type,
            num_workers=training.num_workers,
            # Job clusters run as the job's owner: single-user access with no one else attached.
            data_security_mode="SINGLE_USER",
            aws_attributes=databricks.JobJobClusterNewClusterAwsAttributesArgs(
                availability=SPOT_WITH_FALLBACK,
                first_on_demand=ON_DEMAND_DRIVER,
                instance_profile_arn=instance_profile_arn,
            ),
            custom_tags=dict(job.custom_tags),
        ),
    )


def job_schedule(training: TrainingConfig) -> Optional[databricks.JobScheduleArgs]:
    """The job's own schedule when Databricks schedules it (``runBy: databricks``); None when Airflow does, or nobody."""
    schedule = training.schedule
    if schedule is None or schedule.by_airflow:
        return None
    return databricks.JobScheduleArgs(
        quartz_cron_expression=schedule.cron,
        timezone_id=schedule.timezone,
        pause_status="PAUSED" if schedule.paused else "UNPAUSED",
    )


@dataclass(frozen=True, kw_only=True)
class TrainingJobSettings:
    """One model's job as configured: its name, its ``training`` block, and who is told and may run it."""

    job_name: str
    training: TrainingConfig
    shape: ClusterShape
    #: The job's and its cluster's tags (the stack's, and the model).
    custom_tags: Mapping[str, str]
    notification_emails: Sequence[str]
    #: Runs the job (Airflow's service principal); the team group views it.
    runner_service_principal: str
    team_group: str


@dataclass(frozen=True, kw_only=True)
class TrainingJobArgs:
    model: str
    settings: TrainingJobSettings
    bucket_name: pulumi.Input[str]
    policy_id: pulumi.Input[str]
    instance_profile_arn: pulumi.Input[str]


class TrainingJob(pulumi.ComponentResource):
    """One model's training job and who may run or view it."""

    job_id: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingJobArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:TrainingJob", name, None, opts)
        model, settings = args.model, args.settings
        job = databricks.Job(
            name,
            databricks.JobArgs(
                name=settings.job_name,
                description=f"Trains a new version of {model} per run and publishes its MLeap bundle to the bundle store "
                "(managed by Pulumi).",
                job_clusters=[job_cluster(settings, args.policy_id, args.instance_profile_arn)],
                tasks=training_tasks(model, settings.training, settings.shape, args.bucket_name),
                schedule=job_schedule(settings.training),
                # One run at a time; a run triggered meanwhile waits in the queue instead of being skipped.
                max_concurrent_runs=MAX_CONCURRENT_TRAINING_RUNS,
                queue=databricks.JobQueueArgs(enabled=True),
                email_notifications=databricks.JobEmailNotificationsArgs(
                    on_failures=list(settings.notification_emails), no_alert_for_skipped_runs=True
                ),
                # The stack is the source of truth: edits in the UI would be overwritten by the next `pulumi up`.
                edit_mode="UI_LOCKED",
                tags=dict(settings.custom_tags),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        databricks.Permissions(
            f"{name}-permissions",
            databricks.PermissionsArgs(
                job_id=job.id,
                access_controls=[
                    databricks.PermissionsAccessControlArgs(
                        service_principal_name=settings.runner_service_principal, permission_level="CAN_MANAGE_RUN"
                    ),
                    databricks.PermissionsAccessControlArgs(group_name=settings.team_group, permission_level="CAN_VIEW"),
                ],
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.job_id = job.id
        self.register_outputs({"jobId": self.job_id})
