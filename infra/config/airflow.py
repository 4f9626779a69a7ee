"""``model-platform:airflow``: the training DAG's connections and variables, the DAG itself and its release.

Conn ids, prefixes and secret names follow ``infra.contract.airflow``, which
the policy pack checks the declared secrets with.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from infra.config.base import Block, Problem, _raise_problems
from infra.config.types import (
    BucketName,
    DnsSubdomain,
    GithubRepository,
    IamArn,
    KmsKeyArn,
    PlainText,
    RelativePath,
    SecretPrefix,
    WorkloadNamespace,
    credential_problems,
)
from infra.contract.airflow import BUILT_IN_CONNECTIONS, CONN_ID, DEFAULT_CONNECTIONS_PREFIX, DEFAULT_VARIABLES_PREFIX
from infra.contract.limits import RECOVERY_WINDOW_DAYS


class AirflowConnectionConfig(Block):
    conn_type: str = Field(min_length=1, description="Airflow connection type, e.g. http, postgres, slack.")
    host: Optional[PlainText] = Field(None, description="Host (or URL, without a password) of the connection.")
    port: Optional[int] = Field(None, ge=1, le=65535, description="Port.")
    login: Optional[PlainText] = Field(None, description="Login (not a credential).")
    schema_: Optional[PlainText] = Field(None, alias="schema", description="Schema / database.")
    extra: dict[str, Any] = Field(default_factory=dict, description="Extra JSON (no credentials: use passwordKey).")
    password_key: Optional[str] = Field(
        None, description="Name of a secure top-level config key (pulumi config set --secret NAME) holding the password."
    )

    @field_validator("extra")
    @classmethod
    def _no_credentials(cls, v: dict[str, Any]) -> dict[str, Any]:
        # Reported as extra.<path> on the field itself: extra is one JSON document to Airflow.
        found = credential_problems(v, "put it in a secure key and name it in passwordKey")
        _raise_problems(("", f"extra.{path} {message}") for path, message in found)
        return v


#: Connection types whose host and password the release step reads: Airflow's HTTP and GitHub connections.
RELEASE_CONN_TYPES = ("http", "github")


class AirflowDagsConfig(Block):
    bucket: Optional[BucketName] = Field(
        None,
        description="MWAA (backend secrets-manager): the environment's S3 bucket (its source bucket); required with that "
        "backend. The stack writes the training DAG package there, under <folder>/model_platform_dags/.",
    )
    folder: RelativePath = Field(
        "dags",
        description="MWAA: the environment's DAG folder in that bucket (its DAG code path, e.g. dags), without '/' at "
        "either end.",
    )
    config_map: DnsSubdomain = Field(
        "model-platform-dags",
        description="Self-hosted Airflow (backend kubernetes-secret): the ConfigMap in airflow.namespace holding the DAG "
        "package; mount it at <the DAG folder>/model_platform_dags.",
    )


class AirflowReleaseConfig(Block):
    repository: GithubRepository = Field(
        description="The GitHub repository of this project (owner/name), e.g. acme/model-platform."
    )
    base_branch: RelativePath = Field("main", description="Branch the release pull requests target.")
    stack_file: RelativePath = Field(
        description="This stack's file in the repository, e.g. stacks/Pulumi.staging.yaml: the file the pull request changes.",
    )
    conn_id: str = Field(
        min_length=1,
        description="The Airflow connection of the GitHub REST API, declared under airflow.connections: connType http, "
        "host https://api.github.com (GitHub Enterprise Server: https://HOST/api/v3), passwordKey naming the secure key "
        "that holds the token (Contents and Pull requests: write on the repository). Never a variable.",
    )

    @field_validator("stack_file")
    @classmethod
    def _yaml(cls, v: str) -> str:
        if not v.endswith((".yaml", ".yml")):
            raise ValueError(f"{v!r} is not a stack file (a .yaml file, e.g. stacks/Pulumi.staging.yaml)")
        return v


class AirflowConfig(Block):
    backend: Literal["secrets-manager", "kubernetes-secret"] = Field(
        "secrets-manager", description="secrets-manager (MWAA) or kubernetes-secret (self-hosted Airflow)."
    )
    connections_prefix: SecretPrefix = Field(
        DEFAULT_CONNECTIONS_PREFIX, description="Secrets Manager prefix for connections (no trailing '/')."
    )
    variables_prefix: SecretPrefix = Field(
        DEFAULT_VARIABLES_PREFIX, description="Secrets Manager prefix for variables (no trailing '/')."
    )
    kms_key_arn: Optional[KmsKeyArn] = Field(
        None,
        description="ARN of the customer-managed KMS key of the Secrets Manager secrets (default: aws/secretsmanager); "
        "the secrets-reader policy may decrypt with this key only.",
    )
    recovery_window_days: int = Field(
        RECOVERY_WINDOW_DAYS[0],
        ge=0,
        le=RECOVERY_WINDOW_DAYS[1],
        description="Secrets Manager recovery window (0 = delete at once; else 7..30). A removed secret keeps its name "
        "this many days: re-adding it sooner needs `aws secretsmanager restore-secret` + `pulumi import`, or a "
        "force-delete (see infra/components/airflow.py).",
    )
    namespace: WorkloadNamespace = Field(
        "airflow", description="Namespace of the Airflow Secret (kubernetes-secret); not a system namespace."
    )
    secret_name: DnsSubdomain = Field(
        "airflow-connections", description="Name of the Airflow Secret (kubernetes-secret)."
    )
    aws_role_arn: Optional[IamArn] = Field(None, description="Role the aws_default connection assumes.")
    connections: dict[str, AirflowConnectionConfig] = Field(
        default_factory=dict, description="Extra connections, keyed by conn_id."
    )
    dags: Optional[AirflowDagsConfig] = Field(
        None,
        description="Deliver the training DAG (one DAG per model) with every `pulumi up`: to the MWAA environment's bucket "
        "(secrets-manager) or as a ConfigMap (kubernetes-secret). Unset: the stack delivers no DAG.",
    )
    release: Optional[AirflowReleaseConfig] = Field(
        None,
        description="The training DAG's last step: pin the run's version and digest in this stack's file on a new branch "
        "and open a pull request (needs dags). Unset: the DAG stops once the version is checked, and a person releases it.",
    )

    @model_validator(mode="after")
    def _window(self) -> "AirflowConfig":
        problems: list[Problem] = []
        low, high = RECOVERY_WINDOW_DAYS
        if 0 < self.recovery_window_days < low:
            problems.append(
                ("recoveryWindowDays", f"{self.recovery_window_days} is not 0 or {low}..{high} (Secrets Manager's allowed values)")
            )
        for conn_id in self.connections:
            if not CONN_ID.fullmatch(conn_id):
                problems.append((f"connections.{conn_id}", "conn_id may hold only letters, digits, '_' and '-'"))
            if conn_id in BUILT_IN_CONNECTIONS:
                problems.append((f"connections.{conn_id}", "is declared by the stack itself; choose another conn_id"))
            if self.backend == "kubernetes-secret" and "-" in conn_id:
                problems.append((
                    f"connections.{conn_id}",
                    "Airflow looks the connection up as AIRFLOW_CONN_<CONN_ID>, and '-' is not allowed in an environment "
                    "variable name: use '_' in the conn_id with the kubernetes-secret backend",
                ))
        problems += self._dags_problems() + self._release_problems()
        _raise_problems(problems)
        return self

    def _dags_problems(self) -> list[Problem]:
        if self.dags is None:
            return []
        if self.backend == "secrets-manager" and self.dags.bucket is None:
            return [(
                "dags.bucket",
                "is required with the secrets-manager backend (MWAA): the S3 bucket of the MWAA environment, where the "
                "stack writes the training DAG",
            )]
        if self.backend == "kubernetes-secret" and self.dags.bucket is not None:
            return [(
                "dags.bucket",
                "applies to MWAA (backend secrets-manager) only: with kubernetes-secret the stack delivers the DAG as the "
                "ConfigMap dags.configMap; remove bucket",
            )]
        return []

    def _release_problems(self) -> list[Problem]:
        release = self.release
        if release is None:
            return []
        problems: list[Problem] = []
        if self.dags is None:
            problems.append(("release", "opens pull requests from the training DAG the stack delivers: set airflow.dags too"))
        conn = self.connections.get(release.conn_id)
        how = (
            f"declare it under airflow.connections.{release.conn_id} with connType http, host https://api.github.com "
            "and passwordKey naming the secure key of the GitHub token"
        )
        if conn is None:
            problems.append(("release.connId", f"{release.conn_id!r} is not a connection of airflow.connections: {how}"))
        elif conn.conn_type not in RELEASE_CONN_TYPES:
            problems.append((
                "release.connId",
                f"{release.conn_id!r} has connType {conn.conn_type!r}; the release step calls the GitHub REST API through "
                f"an {' or '.join(RELEASE_CONN_TYPES)} connection",
            ))
        elif not conn.password_key:
            problems.append((
                "release.connId",
                f"{release.conn_id!r} has no passwordKey: the GitHub token is the connection's password, read from the "
                "secure key passwordKey names (pulumi config set --secret NAME), never a variable",
            ))
        return problems
