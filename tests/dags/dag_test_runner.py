"""Run one DAG of a DAG folder with ``dag.test()``, in this process, and print the outcome as JSON on the last line.

Started by tests/dags/test_dag_run.py in a fresh interpreter (``python -I``)
whose environment configures Airflow as MWAA would (the stack's secrets
backend, AWS credentials): Airflow reads its configuration once, at import,
so each DAG run gets a process of its own and the test process keeps no
Airflow state. Usage: ``dag_test_runner.py DAG_FOLDER DAG_ID``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(folder: str, dag_id: str) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    if not (Path(os.environ["AIRFLOW_HOME"]) / "airflow.db").exists():
        initdb()
    started = time.monotonic()
    bag = DagBag(dag_folder=folder)
    parsed = time.monotonic()
    run = bag.dags[dag_id].test()
    finished = time.monotonic()

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        states = {
            ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
            for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        }
    outcome = {
        "state": str(run.state.value if hasattr(run.state, "value") else run.state),
        "tasks": states,
        "importErrors": {str(k): v for k, v in bag.import_errors.items()},
        "parseSeconds": round(parsed - started, 3),
        "testSeconds": round(finished - parsed, 3),
    }
    sys.stdout.flush()
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
