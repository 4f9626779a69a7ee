"""model-platform training DAGs: one per model of the stack, built from manifest.json beside this file.

Delivered by the stack (``pulumi up``) into Airflow's DAG folder as
``model_platform_dags/``; change the stack file, not this folder. Parsing reads
only the local manifest (no variable, no connection): runtime values are read
by the tasks when they run.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# The package is imported by its folder's name; Airflow puts the DAG folder on sys.path, and this keeps the
# package importable when its folder sits deeper (a ConfigMap mounted below the DAG folder).
if str(_HERE.parent) not in sys.path:
    sys.path.append(str(_HERE.parent))

from model_platform_dags.factory import build_dags  # noqa: E402
from model_platform_dags.manifest import read_manifest  # noqa: E402

for _dag_id, _dag in build_dags(read_manifest(_HERE / "manifest.json")).items():
    globals()[_dag_id] = _dag
