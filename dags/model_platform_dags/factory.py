"""One training DAG per model of the manifest: train on Databricks, derive the version, check it, open the release.

Tasks, in order (each runs only when the one before succeeded, so a failed
training task, an integrity check included, fails the DAG run and opens no
pull request):

``train``
    ``DatabricksRunNowOperator`` on the model's job (its id read from the
    ``<model>_training_job_id`` variable when the task runs) and waits for the
    run: prepare_data, validate_data, train, export_bundle, check_bundle.
    Killing the task (marking it failed, clearing it) cancels the run.
``run_version``
    the version the run wrote, ``<UTC start date>-<run id>`` (``layout.run_version``).
``verify_bundle``
    the version's sealed bundle and its metric, checked as
    ``modelctl release --from-s3`` checks them.
``open_pull_request`` (with ``airflow.release`` only)
    ``modelctl release``'s edit of the stack file on a branch, and the pull request.
"""

from __future__ import annotations

import datetime
from typing import Any, Optional

from airflow.providers.databricks.operators.databricks import DatabricksRunNowOperator
from airflow.sdk import DAG, CronTriggerTimetable, XComArg, task

from . import steps
from .manifest import Manifest, ModelDag

#: Seconds between two looks at the Databricks run.
POLLING_SECONDS = 60
#: A date before any run: with no catch-up, the first scheduled run is the next one after the DAG appears.
START_DATE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
#: Retries of the steps after training (S3, GitHub): cheap and idempotent, unlike a training run.
STEP_RETRIES = 2


def _schedule(spec: ModelDag) -> Optional[CronTriggerTimetable]:
    if spec.schedule is None:
        return None
    return CronTriggerTimetable(spec.schedule.cron, timezone=spec.schedule.timezone)


def _doc(manifest: Manifest, spec: ModelDag) -> str:
    when = (
        f"on `{spec.schedule.cron}` ({spec.schedule.timezone})"
        if spec.schedule
        else "when triggered (no Airflow schedule in the stack)"
    )
    release = (
        f"opens a pull request pinning it in `{manifest.release.stack_file}` of `{manifest.release.repository}`"
        if manifest.release
        else "stops there: release it with `modelctl release` (the stack declares no `airflow.release`)"
    )
    return (
        f"Retrains **{spec.model}** ({manifest.environment}) {when}: runs its Databricks training job, derives the "
        f"version the run wrote, checks its sealed bundle and metric, then {release}. Delivered by the "
        f"{manifest.project} stack: change the stack file, not this DAG."
    )


def build_dag(manifest: Manifest, spec: ModelDag) -> DAG:
    """The training DAG of one model."""
    with DAG(
        dag_id=spec.dag_id,
        schedule=_schedule(spec),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,
        tags=[manifest.project, manifest.environment, spec.model],
        doc_md=_doc(manifest, spec),
        default_args={"retries": STEP_RETRIES, "retry_delay": datetime.timedelta(minutes=1)},
    ) as dag:
        train = DatabricksRunNowOperator(
            task_id="train",
            job_id=f"{{{{ var.value.{spec.training_job_id_variable} }}}}",
            databricks_conn_id=manifest.databricks_conn_id,
            wait_for_termination=True,
            polling_period_seconds=POLLING_SECONDS,
            # A retry would start another run (a new version); the job retries its own tasks.
            retries=0,
            execution_timeout=datetime.timedelta(minutes=spec.training_timeout_minutes),
        )
        run: Any = task(task_id="run_version")(steps.run_of)(
            run_id=XComArg(train, key="run_id"), databricks_conn_id=manifest.databricks_conn_id
        )
        release: Any = task(task_id="verify_bundle")(steps.checked_release)(
            model=spec.model, run=run, bucket_variable=spec.bundle_bucket_variable, aws_conn_id=manifest.aws_conn_id
        )
        target = manifest.release
        if target is not None:
            task(task_id="open_pull_request")(steps.pull_request)(
                release=release,
                repository=target.repository,
                base_branch=target.base_branch,
                stack_file=target.stack_file,
                conn_id=target.conn_id,
                dag_id=spec.dag_id,
                environment=manifest.environment,
            )
    return dag


def build_dags(manifest: Manifest) -> dict[str, DAG]:
    """Every model's DAG, by DAG id."""
    return {spec.dag_id: build_dag(manifest, spec) for spec in manifest.models}
