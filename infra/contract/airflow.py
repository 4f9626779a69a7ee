"""How Airflow finds the connections the stack declares: conn ids, secret names, environment variables.

Part of ``infra.contract``. The program writes each connection where Airflow
looks it up, and the policy pack checks that every declared connection is
there: both spell the places with these rules, from plain values.
"""

from __future__ import annotations

import re

#: The Databricks connection the training DAG runs jobs through; the stack always declares it.
DATABRICKS_CONN_ID = "databricks_default"
#: The AWS connection the training DAG reads the bundle store through; the stack always declares it.
AWS_CONN_ID = "aws_default"
#: Connections every stack declares itself; ``airflow.connections`` may not redefine them.
BUILT_IN_CONNECTIONS = (DATABRICKS_CONN_ID, AWS_CONN_ID)
#: A conn id: letters, digits, '_' and '-'.
CONN_ID = re.compile(r"[A-Za-z0-9_-]+")
#: Secrets Manager prefixes (MWAA) when the stack config names none.
DEFAULT_CONNECTIONS_PREFIX = "airflow/connections"
DEFAULT_VARIABLES_PREFIX = "airflow/variables"
#: Self-hosted Airflow reads a connection from the environment variable ``AIRFLOW_CONN_<CONN_ID>``.
CONN_ENV_PREFIX = "AIRFLOW_CONN_"


def conn_env_var(conn_id: str) -> str:
    """``AIRFLOW_CONN_<CONN_ID>``: Airflow upper-cases the id and changes nothing else."""
    return CONN_ENV_PREFIX + conn_id.upper()


def secret_name(prefix: str, secret_id: str) -> str:
    """The Secrets Manager secret of a connection or variable: ``<prefix>/<id>``, as Airflow's backend looks it up
    (``/`` is the SecretsManagerBackend's default separator, which the stacks keep)."""
    return f"{prefix}/{secret_id}"
