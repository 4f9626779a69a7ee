"""What the training DAG's Airflow connections and variables contain: pure values, no resources, no Pulumi.

Connections, each serialized in Airflow's JSON connection format (Airflow >= 2.3),
which both Secrets Manager (MWAA) and ``AIRFLOW_CONN_*`` variables accept:

``databricks_default``
    ``host`` = the workspace URL. With ``databricks.auth: token`` the personal
    access token is the ``password`` and ``login`` stays empty (the provider's
    token auth). With ``oauth-m2m`` the service principal's ``clientId`` is the
    ``login``, its OAuth secret the ``password``, and ``extra`` holds
    ``{"service_principal_oauth": true}`` (the Databricks provider's M2M flow).
``aws_default``
    ``conn_type`` aws; ``extra.region_name`` = ``aws.region`` and, when
    ``airflow.awsRoleArn`` is set, ``extra.role_arn`` (the role Airflow assumes).
``<conn_id>`` from ``airflow.connections``
    as declared; the password comes from the secure key named in ``passwordKey``.

Variables, one set per model; names are snake_case (the model name with '-'
turned into '_', which model names never contain otherwise) so they are valid
environment variable names too:

``<model>_training_job_id``   the Databricks job id of the model's training job
``<model>_version``           the model version the stack serves (each training run writes a new one)
``<model>_bundle_uri``        ``s3://<bucket>/<model>/<version>/bundle.zip`` of the served version
``<model>_bundle_bucket``     the bundle store's bucket name (where runs publish, ``<model>/released.json``)

The DAG reads them in its tasks, at run time. Its schedule is no variable: the
scheduler needs it each time it parses the DAG file (every 30 seconds or so),
and a variable there would be a Secrets Manager call per model per parse. The
stack writes the schedule into the DAG's manifest instead
(infra/documents/dag_package.py), beside the DAG file, so a parse reads a local
file and a schedule change reaches the DAG with the next ``pulumi up``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Mapping, Optional, TypeVar

from infra.contract.airflow import AWS_CONN_ID, DATABRICKS_CONN_ID, conn_env_var

if TYPE_CHECKING:  # the config's types, as annotations only: nothing here needs the config package loaded
    from infra.config import AirflowConnectionConfig, ScheduleConfig, SecretValue

#: A variable's value: plain text, or a value known at deploy time that these functions pass through untouched.
V = TypeVar("V")

#: The MWAA secrets backend, and the configuration keys MWAA takes it in.
SECRETS_MANAGER_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
BACKEND_OPTION = "secrets.backend"
BACKEND_KWARGS_OPTION = "secrets.backend_kwargs"

#: Prefix Airflow's EnvironmentVariablesBackend looks variables up under (connections: the contract's ``CONN_ENV_PREFIX``).
VAR_ENV_PREFIX = "AIRFLOW_VAR_"


@dataclass(frozen=True)
class AirflowConnection:
    """One Airflow connection; its repr never shows the password."""

    conn_id: str
    conn_type: str
    host: Optional[str] = None
    login: Optional[str] = None
    password: Optional[SecretValue] = None
    schema: Optional[str] = None
    port: Optional[int] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Airflow's JSON connection format, password revealed: wrap the result in a Pulumi secret."""
        document: dict[str, Any] = {"conn_type": self.conn_type}
        for key in ("host", "login", "schema", "port"):
            value = getattr(self, key)
            if value is not None:
                document[key] = value
        if self.password is not None:
            document["password"] = self.password.reveal()
        if self.extra:
            document["extra"] = dict(self.extra)
        return json.dumps(document, sort_keys=True)

    @property
    def env_var(self) -> str:
        """The environment variable Airflow reads this connection from."""
        return conn_env_var(self.conn_id)


def variable_env_var(name: str) -> str:
    """``AIRFLOW_VAR_<NAME>``, the name upper-cased as Airflow looks it up."""
    return VAR_ENV_PREFIX + name.upper()


def databricks_connection(
    *, host: str, auth: Literal["token", "oauth-m2m"], client_id: Optional[str], credential: SecretValue
) -> AirflowConnection:
    """``databricks_default``: a personal access token (``auth: token``), or service principal OAuth (M2M)."""
    if auth == "token":
        return AirflowConnection(DATABRICKS_CONN_ID, "databricks", host=host, password=credential)
    if not client_id:
        raise ValueError("oauth-m2m needs the service principal's client id")
    return AirflowConnection(
        DATABRICKS_CONN_ID,
        "databricks",
        host=host,
        login=client_id,
        password=credential,
        extra={"service_principal_oauth": True},
    )


def aws_connection(*, region: str, role_arn: Optional[str]) -> AirflowConnection:
    """``aws_default``: region, and the role to assume when one is configured."""
    extra: dict[str, Any] = {"region_name": region}
    if role_arn:
        extra["role_arn"] = role_arn
    return AirflowConnection(AWS_CONN_ID, "aws", extra=extra)


def declared_connection(conn_id: str, conn: AirflowConnectionConfig, secrets: Mapping[str, SecretValue]) -> AirflowConnection:
    """A connection listed under ``airflow.connections``."""
    return AirflowConnection(
        conn_id,
        conn.conn_type,
        host=conn.host,
        login=conn.login,
        password=secrets[conn.password_key] if conn.password_key else None,
        schema=conn.schema_,
        port=conn.port,
        extra=conn.extra,
    )


def stack_connections(
    *,
    databricks: AirflowConnection,
    aws: AirflowConnection,
    declared: Mapping[str, AirflowConnectionConfig],
    secrets: Mapping[str, SecretValue],
) -> list[AirflowConnection]:
    """Every connection the stack declares: the two built-in ones, then the configured ones."""
    return [databricks, aws, *(declared_connection(cid, conn, secrets) for cid, conn in declared.items())]


@dataclass(frozen=True)
class ModelVariableNames:
    """Names of the Airflow variables one model's DAG reads."""

    training_job_id: str
    version: str
    bundle_uri: str
    bundle_bucket: str


def model_variable_names(model: str) -> ModelVariableNames:
    stem = model.replace("-", "_")
    return ModelVariableNames(
        f"{stem}_training_job_id",
        f"{stem}_version",
        f"{stem}_bundle_uri",
        f"{stem}_bundle_bucket",
    )


def airflow_schedule(schedule: Optional[ScheduleConfig]) -> Optional[tuple[str, str]]:
    """(cron, timezone) a model's DAG runs on, when Airflow schedules its training; None otherwise."""
    if schedule is None or not schedule.by_airflow:
        return None
    return schedule.cron, schedule.timezone


@dataclass(frozen=True)
class AirflowVariable(Generic[V]):
    """One Airflow variable of one model."""

    name: str
    value: V
    model: str
    kind: str

    @property
    def resource_name(self) -> str:
        """Logical name: the model name as written, so a model's resources are easy to find in a diff."""
        return f"variable-{self.model}-{self.kind}"


def model_variables(model: str, *, job_id: V, version: str, bundle_uri: V, bucket: V) -> list[AirflowVariable[Any]]:
    """One model's variables: its training job id, the served version and its bundle URI, and the bucket
    (the schedule is the DAG manifest's, infra/documents/dag_package.py)."""
    names = model_variable_names(model)
    return [
        AirflowVariable(names.training_job_id, job_id, model, "training-job-id"),
        AirflowVariable(names.version, version, model, "version"),
        AirflowVariable(names.bundle_uri, bundle_uri, model, "bundle-uri"),
        AirflowVariable(names.bundle_bucket, bucket, model, "bundle-bucket"),
    ]


@dataclass(frozen=True, kw_only=True)
class SecretPrefixes:
    """Where Airflow's Secrets Manager backend looks: ``<connections>/<conn id>`` and ``<variables>/<name>``
    (``airflow.connectionsPrefix``, ``airflow.variablesPrefix``).

    The execution role may read everything under both, not only the secrets a
    stack declares: Airflow asks the backend for every connection it looks up,
    and a denied lookup fails the task where a missing secret would fall back
    to the metadata database.
    """

    connections: str
    variables: str


def configuration_options(prefixes: SecretPrefixes) -> dict[str, str]:
    """MWAA ``airflow_configuration_options`` that point Airflow at the stack's secrets."""
    kwargs = {"connections_prefix": prefixes.connections, "variables_prefix": prefixes.variables}
    return {BACKEND_OPTION: SECRETS_MANAGER_BACKEND, BACKEND_KWARGS_OPTION: json.dumps(kwargs, sort_keys=True)}

