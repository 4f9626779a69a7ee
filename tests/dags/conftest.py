"""Fixtures of the training DAG tests: the DAG folder as the stack delivers it, and Airflow pointed at scratch space.

``deliver`` writes the DAG objects of a plan (the S3 objects ``pulumi up``
would write to the MWAA bucket) into a folder laid out as MWAA's DAG folder,
so every test reads the files the stack delivers, not the repository's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from modelctl.engine import Plan
from tests.dags.declared import BUCKET_OBJECT

DAGS_COMPONENT = "model-platform:airflow:AirflowDags"


def dag_objects(plan: Plan) -> dict[str, str]:
    """The DAG objects of a plan: key -> content."""
    return {r.inputs["key"]: r.inputs["content"] for r in plan.by_type(BUCKET_OBJECT) if DAGS_COMPONENT in r.urn}


def deliver(plan: Plan, dags_folder: Path, folder: str = "dags") -> Path:
    """Write the plan's DAG objects under ``dags_folder`` as MWAA syncs ``s3://bucket/<folder>/``; returns it."""
    objects = dag_objects(plan)
    assert objects, "the plan delivers no DAG"
    for key, content in objects.items():
        assert key.startswith(f"{folder}/"), key
        path = dags_folder / key.removeprefix(f"{folder}/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return dags_folder


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Airflow reads AIRFLOW_HOME when imported: point it at a scratch dir (parsing needs no database)."""
    home = tmp_path_factory.mktemp("airflow-home")
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_HOME", "AIRFLOW__CORE__LOAD_EXAMPLES")}
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def staging_dags(tmp_path_factory: pytest.TempPathFactory, real_plan: Callable[[str], Plan]) -> Path:
    """The staging stack's DAG folder, as delivered; its package is importable (``model_platform_dags``).

    From ``real_plan``, the committed stack's plan the other tests read, so the
    suite plans staging once.
    """
    folder = deliver(real_plan("staging"), tmp_path_factory.mktemp("staging-dags"))
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    return folder
