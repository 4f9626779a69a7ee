"""The training DAG as Airflow receives it: the files of the package ``model_platform_dags``, by name.

Pure values from the models' training settings, no resources and no Pulumi
(infra/components/airflow_dags.py delivers them; program.py passes each model's
``TrainingConfig``, not the stack config).
The package is flat, so it fits one Kubernetes ConfigMap as well as one S3
folder, and it is what the DAG folder holds at ``<DAG folder>/model_platform_dags/``:

``training_dags.py``
    the DAG file: one DAG per model of ``manifest.json``;
``manifest.json``
    what the stack declares for the DAGs, generated here: the models, each
    model's DAG id, schedule, run timeout and variable names, the connection
    ids, the release target. Runtime values (the job id, the bucket) stay in
    Airflow variables, read by the tasks; versions appear nowhere, so a release
    changes none of these files;
``__init__.py``, ``manifest.py``, ``factory.py``, ``steps.py``, ``github.py``
    the package's own modules (``dags/model_platform_dags/`` in the repository);
``model_version.py``, ``layout.py``, ``pin_edit.py``, ``bundles.py``
    copied byte for byte from ``infra/contract/`` and ``modelctl/``: the DAG finds a
    run's objects with the layout's keys, derives the run's version with
    ``layout.run_version``, checks the bundle with ``modelctl release
    --from-s3``'s check and edits the stack file with ``modelctl release``'s
    edit, never a re-implementation;
``.airflowignore``
    every module but the DAG file, so the DAG processor parses one file (and
    the hidden folders of a mounted ConfigMap).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from infra.contract.airflow import AWS_CONN_ID, DATABRICKS_CONN_ID
from infra.contract.naming import PROJECT
from infra.documents.airflow import airflow_schedule, model_variable_names
from infra.documents.databricks import STEPS

if TYPE_CHECKING:  # the config's types, as annotations only
    from infra.config import AirflowReleaseConfig, TrainingConfig

#: The package's name: the folder Airflow's DAG folder holds it in (the DAG file imports it by this name).
PACKAGE = "model_platform_dags"
DAG_FILE = "training_dags.py"
MANIFEST_FILE = "manifest.json"
IGNORE_FILE = ".airflowignore"
#: Version of the manifest's format; the DAG refuses a manifest of another format.
MANIFEST_FORMAT = 1

_ROOT = Path(__file__).resolve().parents[2]
#: The package's own modules in the repository.
PACKAGE_SOURCE = _ROOT / "dags" / PACKAGE
#: Modules shared with the program and modelctl: (name in the package, path in the repository). The contract's
#: modules import only the standard library and each other by relative name (``layout`` imports ``.model_version``),
#: so they work as siblings in the flat package.
SHARED_MODULES: tuple[tuple[str, str], ...] = (
    ("model_version.py", "infra/contract/model_version.py"),
    ("layout.py", "infra/contract/layout.py"),
    ("pin_edit.py", "modelctl/pin_edit.py"),
    ("bundles.py", "modelctl/bundles.py"),
)
#: Minutes a training run may take beyond its tasks' own time limits: queueing behind a running run, cluster start.
RUN_OVERHEAD_MINUTES = 60


def dag_id(model: str) -> str:
    """The model's DAG id, e.g. ``days-to-sell-training`` (``airflow dags pause days-to-sell-training``)."""
    return f"{model}-training"


def training_timeout_minutes(training: TrainingConfig) -> int:
    """The longest a run of the model's job can take: every task at its timeout, with every retry, plus overhead.

    The DAG's training task gives up (and cancels the run) after this, so a
    hung run never blocks the next one forever.
    """
    attempts = training.max_retries + 1
    per_task = training.timeout_minutes * attempts + training.retry_interval_minutes * training.max_retries
    return len(STEPS) * per_task + RUN_OVERHEAD_MINUTES


def _release(release: Optional[AirflowReleaseConfig]) -> Optional[dict[str, str]]:
    if release is None:
        return None
    return {
        "repository": release.repository,
        "baseBranch": release.base_branch,
        "stackFile": release.stack_file,
        "connId": release.conn_id,
    }


def _model_entry(model: str, training: TrainingConfig) -> dict[str, Any]:
    names = model_variable_names(model)
    schedule = airflow_schedule(training.schedule)
    return {
        "dagId": dag_id(model),
        "schedule": None if schedule is None else {"cron": schedule[0], "timezone": schedule[1]},
        "trainingTimeoutMinutes": training_timeout_minutes(training),
        "variables": {"trainingJobId": names.training_job_id, "bundleBucket": names.bundle_bucket},
    }


def manifest(
    *, environment: str, release: Optional[AirflowReleaseConfig], trainings: Mapping[str, TrainingConfig]
) -> dict[str, Any]:
    """What the DAG file builds its DAGs from: everything the stack declares for them, no versions.

    ``trainings``: each model's training settings, by model name.
    """
    return {
        "format": MANIFEST_FORMAT,
        "project": PROJECT,
        "environment": environment,
        "connections": {"databricks": DATABRICKS_CONN_ID, "aws": AWS_CONN_ID},
        "release": _release(release),
        "models": {model: _model_entry(model, trainings[model]) for model in sorted(trainings)},
    }


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def package_modules() -> dict[str, str]:
    """The package's Python modules by name: its own, then the shared ones, as they are in the repository."""
    own = {path.name: _read(path) for path in sorted(PACKAGE_SOURCE.glob("*.py"))}
    if DAG_FILE not in own:
        raise FileNotFoundError(
            f"{PACKAGE_SOURCE / DAG_FILE}: missing; the training DAG is part of the project: run the program from a "
            "full checkout of the repository"
        )
    shared = {name: _read(_ROOT / source) for name, source in SHARED_MODULES}
    clash = sorted(set(own) & set(shared))
    if clash:  # a repository problem, said even when Python runs with -O
        raise FileExistsError(f"dags/{PACKAGE}/ must not hold its own copy of {clash}: the stack delivers the originals")
    return {**own, **shared}


#: Kubernetes keeps a mounted ConfigMap's files in ``..<timestamp>/`` and links them through ``..data``: two folders
#: that resolve to one, which Airflow's DAG folder walk would refuse as a loop. One pattern per ignore syntax
#: (each matches nothing in the other): glob, Airflow 3's default, then regexp.
KUBERNETES_FOLDERS = ("[.][.]*/", "/[.][.]")


def ignore_text(modules: list[str]) -> str:
    """``.airflowignore``: every module but the DAG file (plain names: the same in glob and regexp syntax), and the
    folders of a mounted ConfigMap."""
    header = (
        "# Airflow parses training_dags.py only: the package's other modules and the folders Kubernetes keeps a\n"
        "# mounted ConfigMap's files in (..data, ..<timestamp>) are ignored, in glob and in regexp syntax.\n"
    )
    names = [name for name in sorted(modules) if name != DAG_FILE]
    return header + "".join(f"{line}\n" for line in (*names, *KUBERNETES_FOLDERS))


def manifest_text(document: Mapping[str, Any]) -> str:
    """``manifest.json``: sorted keys and a final newline, so the same stack always yields the same bytes."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def dag_files(
    *, environment: str, release: Optional[AirflowReleaseConfig], trainings: Mapping[str, TrainingConfig]
) -> dict[str, str]:
    """Every file of the package, by name, sorted: what the DAG folder's ``model_platform_dags/`` holds."""
    modules = package_modules()
    text = manifest_text(manifest(environment=environment, release=release, trainings=trainings))
    files = {**modules, MANIFEST_FILE: text, IGNORE_FILE: ignore_text(list(modules))}
    return dict(sorted(files.items()))
