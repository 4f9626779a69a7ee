"""One Databricks training job per model: validate the data, train, export the MLeap bundle, check it.

The job is the production half of the pipeline: it ends with a verified
bundle at the model version's place in the bundle store (infra/layout.py).
Only the model's version reaches the job's package and parameters, so a
version bump changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_databricks as databricks

from infra.components.training_policy import ON_DEMAND_DRIVER, SPOT_WITH_FALLBACK
from infra.config import StackConfig
from infra.layout import bundle_keys
from infra.mleap_compat import mleap_python_requirement, mleap_spark_coordinates
from infra.naming import aws_tags, physical_name


@dataclass(frozen=True)
class Step:
    """One task of the training job."""

    key: str
    after: Optional[str]
    description: str


#: The pipeline in run order (each step runs after the one before). Declared to Databricks
#: sorted by task key: in any other order pulumi-databricks shows a diff on every update (#49).
STEPS: tuple[Step, ...] = (
    Step("validate_data", None, "Data-integrity checks on the training data; a failure stops the run before training."),
    Step("train", "validate_data", "Fit and test the Spark ML pipeline; save it with sample inputs and their predictions."),
    Step("export_bundle", "train", "Serialize the pipeline to an MLeap bundle; write it and its sha256 to the bundle store."),
    Step("check_bundle", "export_bundle", "Load the bundle with the MLeap runtime and reproduce the sample predictions."),
)

#: The one job cluster every task runs on; each task names it (pulumi-databricks #847: compute is per task).
JOB_CLUSTER_KEY = "training"


@dataclass(frozen=True)
class TaskParameters:
    """What every task is told: which model version, and where its bundle, digest and samples go."""

    model: str
    version: str
    bundle_uri: pulumi.Input[str]
    digest_uri: pulumi.Input[str]
    samples_uri: pulumi.Input[str]

    def named(self, extra: dict[str, str]) -> dict[str, pulumi.Input[str]]:
        """``--name=value`` parameters of a wheel task; the platform's win over ``extra`` (config refuses clashes)."""
        return {
            **extra,
            "model": self.model,
            "model-version": self.version,
            "bundle-uri": self.bundle_uri,
            "digest-uri": self.digest_uri,
            "samples-uri": self.samples_uri,
        }

    def arguments(self, step: Step, extra: dict[str, str]) -> list[pulumi.Input[str]]:
        """Command-line arguments of a jar task: the step, then ``--name value`` pairs."""
        args: list[pulumi.Input[str]] = [step.key]
        for name, value in self.named(extra).items():
            args += [f"--{name}", value]
        return args


def task_parameters(model: str, version: str, bucket_name: pulumi.Input[str]) -> TaskParameters:
    """Parameters of ``model`` at ``version``, with URIs from the shared key layout."""
    keys = bundle_keys(model, version)
    bucket = pulumi.Output.from_input(bucket_name)
    return TaskParameters(
        model=model,
        version=version,
        bundle_uri=bucket.apply(lambda b: keys.uri(b, keys.bundle)),
        digest_uri=bucket.apply(lambda b: keys.uri(b, keys.digest)),
        samples_uri=bucket.apply(lambda b: keys.uri(b, keys.samples)),
    )


def task_libraries(cfg: StackConfig, model: str) -> list[databricks.JobTaskLibraryArgs]:
    """The model's package pinned to its version, and the MLeap libraries of the stack's MLeap version."""
    db = cfg.databricks
    training = cfg.models[model].training
    package = training.package_uri(cfg.models[model].version)
    mleap_jar = databricks.JobTaskLibraryArgs(
        maven=databricks.JobTaskLibraryMavenArgs(coordinates=mleap_spark_coordinates(db.spark_version, db.mleap_version))
    )
    if training.is_wheel:
        mleap_python = databricks.JobTaskLibraryArgs(
            pypi=databricks.JobTaskLibraryPypiArgs(package=mleap_python_requirement(db.mleap_version))
        )
        return [databricks.JobTaskLibraryArgs(whl=package), mleap_python, mleap_jar]
    return [databricks.JobTaskLibraryArgs(jar=package), mleap_jar]


def training_tasks(cfg: StackConfig, model: str, params: TaskParameters) -> list[databricks.JobTaskArgs]:
    """The job's tasks, sorted by task key, each on the job cluster with its timeout and retries."""
    training = cfg.models[model].training
    entry = training.entry_package(model)
    libraries = task_libraries(cfg, model)
    return [
        databricks.JobTaskArgs(
            task_key=step.key,
            description=step.description,
            depends_ons=[databricks.JobTaskDependsOnArgs(task_key=step.after)] if step.after else None,
            job_cluster_key=JOB_CLUSTER_KEY,
            libraries=libraries,
            python_wheel_task=databricks.JobTaskPythonWheelTaskArgs(
                package_name=entry, entry_point=step.key, named_parameters=params.named(training.parameters)
            )
            if training.is_wheel
            else None,
            spark_jar_task=None
            if training.is_wheel
            else databricks.JobTaskSparkJarTaskArgs(
                main_class_name=entry, parameters=params.arguments(step, training.parameters)
            ),
            timeout_seconds=training.timeout_minutes * 60,
            max_retries=training.max_retries,
            min_retry_interval_millis=training.retry_interval_minutes * 60_000,
        )
        for step in sorted(STEPS, key=lambda s: s.key)
    ]


def job_cluster(
    cfg: StackConfig, model: str, policy_id: pulumi.Input[str], instance_profile_arn: pulumi.Input[str]
) -> databricks.JobJobClusterArgs:
    """The model's job cluster: under the team policy, with the bundle-writing instance profile."""
    db = cfg.databricks
    training = cfg.models[model].training
    return databricks.JobJobClusterArgs(
        job_cluster_key=JOB_CLUSTER_KEY,
        new_cluster=databricks.JobJobClusterNewClusterArgs(
            policy_id=policy_id,
            spark_version=db.spark_version,
            node_type_id=training.node_type or db.default_node_type,
            driver_node_type_id=db.driver_node_type_or_default,
            num_workers=training.num_workers,
            # Job clusters run as the job's owner: single-user access with no one else attached.
            data_security_mode="SINGLE_USER",
            aws_attributes=databricks.JobJobClusterNewClusterAwsAttributesArgs(
                availability=SPOT_WITH_FALLBACK,
                first_on_demand=ON_DEMAND_DRIVER,
                instance_profile_arn=instance_profile_arn,
            ),
            custom_tags=aws_tags(cfg, model),
        ),
    )


def job_schedule(cfg: StackConfig, model: str) -> Optional[databricks.JobScheduleArgs]:
    """The configured Databricks schedule, or None when Airflow triggers the job."""
    schedule = cfg.models[model].training.schedule
    if schedule is None:
        return None
    return databricks.JobScheduleArgs(
        quartz_cron_expression=schedule.cron,
        timezone_id=schedule.timezone,
        pause_status="PAUSED" if schedule.paused else "UNPAUSED",
    )


@dataclass(frozen=True)
class TrainingJobArgs:
    config: StackConfig
    model: str
    bucket_name: pulumi.Input[str]
    policy_id: pulumi.Input[str]
    instance_profile_arn: pulumi.Input[str]


class TrainingJob(pulumi.ComponentResource):
    """One model's training job and who may run or view it."""

    job_id: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingJobArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:training:TrainingJob", name, None, opts)
        cfg, model = args.config, args.model
        params = task_parameters(model, cfg.models[model].version, args.bucket_name)
        job = databricks.Job(
            name,
            databricks.JobArgs(
                name=physical_name(cfg, model, "training"),
                description=f"Trains {model} and exports its MLeap bundle to the bundle store (managed by Pulumi).",
                job_clusters=[job_cluster(cfg, model, args.policy_id, args.instance_profile_arn)],
                tasks=training_tasks(cfg, model, params),
                schedule=job_schedule(cfg, model),
                # One run at a time; a run triggered meanwhile waits in the queue instead of being skipped.
                max_concurrent_runs=1,
                queue=databricks.JobQueueArgs(enabled=True),
                email_notifications=databricks.JobEmailNotificationsArgs(
                    on_failures=list(cfg.databricks.notification_emails), no_alert_for_skipped_runs=True
                ),
                # The stack is the source of truth: edits in the UI would be overwritten by the next `pulumi up`.
                edit_mode="UI_LOCKED",
                tags=aws_tags(cfg, model),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        databricks.Permissions(
            f"{name}-permissions",
            databricks.PermissionsArgs(
                job_id=job.id,
                access_controls=[
                    databricks.PermissionsAccessControlArgs(
                        service_principal_name=cfg.databricks.airflow_service_principal, permission_level="CAN_MANAGE_RUN"
                    ),
                    databricks.PermissionsAccessControlArgs(group_name=cfg.databricks.team_group, permission_level="CAN_VIEW"),
                ],
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.job_id = job.id
        self.register_outputs({"jobId": self.job_id})
