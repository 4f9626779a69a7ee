"""Typed stack configuration: parsed once, validated completely, then frozen.

Every key a stack file may set is declared here (the per-model blocks in
infra/config_models.py, the base block in infra/config_base.py), with its type, range and
default; nothing else in the program reads ``pulumi.Config``. The schema is
the single home of every default (``modelctl config-doc`` prints them), and
every error names the stack file and the full key path, e.g.::

    stacks/Pulumi.prod.yaml: model-platform:models.days-to-sell.serving.replicas.min: 12 is greater than max (10)
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Literal, Mapping, Optional

from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic_core import core_schema

from infra.config_base import Block, ConfigError, Problem, _camel, _err, _raise_problems
# The per-model blocks live in infra/config_models.py; their names are importable from here too.
from infra.config_models import (  # noqa: F401 - re-exported
    PACKAGE_VERSION_PLACEHOLDER,
    PLATFORM_TASK_PARAMETERS,
    SHA256,
    CanaryConfig,
    IngressConfig,
    ModelConfig,
    ReplicasConfig,
    ResourceAmounts,
    ScheduleConfig,
    ServingConfig,
    ServingResources,
    TrainingConfig,
)
from infra.mleap_compat import check_runtime_mleap_pair
from infra.model_version import MODEL_NAME  # noqa: F401 - re-exported; the grammar lives with the version's

PROJECT = "model-platform"
#: Config namespaces a stack file may use besides the project's: those of the providers and of Pulumi itself.
#: Any other namespace is a typo (``model-platfrom:``) whose keys nothing would read.
FOREIGN_NAMESPACES = ("aws", "kubernetes", "databricks", "pulumi")
#: What a secure value reads as offline (``modelctl``); never decrypted.
SECRET_PLACEHOLDER = "[secret]"

#: A semantic version: MLeap's. Model versions follow infra.model_version instead.
SEMVER = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
ARN = r"^arn:aws[a-z-]*:"
IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
#: An image tag that is a plain version, e.g. ``0.23.0``: read as the MLeap version the image serves.
IMAGE_VERSION_TAG = re.compile(r"(\d+)\.(\d+)\.(\d+)")
#: A label name (the part after ``model-platform/``): tags become Kubernetes labels as well as AWS tags.
LABEL_NAME = re.compile(r"[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?")
#: A label value: empty, or a label name's characters and length.
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?)?")
#: Tag keys the platform sets itself (``infra.naming.aws_tags``); a user tag must not override them.
PLATFORM_TAG_KEYS = ("project", "environment", "managed-by", "model")
#: Suffix of a model's canary Deployment name (``<model>-canary``).
CANARY_SUFFIX = "-canary"
#: User tags a stack may set: each model's ``released.json`` is an S3 object, which carries at most 10 tags,
#: and the platform sets ``PLATFORM_TAG_KEYS`` on it.
MAX_USER_TAGS = 10 - len(PLATFORM_TAG_KEYS)

#: Config keys (under the project namespace) that hold credentials. They are
#: accepted only as secure values (``pulumi config set --secret KEY``).
CREDENTIAL_KEYS = ("databricksToken", "databricksClientSecret")
#: Field names that look like credentials anywhere in structured config.
_CREDENTIAL_FIELD = re.compile(r"(token|password|secret|credential|apikey|api_key)$", re.I)


class Environment(str, Enum):
    dev = "dev"
    staging = "staging"
    prod = "prod"


# --------------------------------------------------------------------------- AWS


class AwsConfig(Block):
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region of the bundle store and IAM.")
    account_id: Optional[str] = Field(None, pattern=r"^\d{12}$", description="AWS account id; used in the default bucket name when set.")


class BundleStoreConfig(Block):
    bucket_name: Optional[str] = Field(
        None, pattern=BUCKET_NAME, description="Override the bucket name (default: <project>-<environment>-bundles[-<accountId>])."
    )
    encryption: Literal["sse-s3", "sse-kms"] = Field("sse-s3", description="Default encryption: SSE-S3, or SSE-KMS with a bucket key.")
    kms_key_arn: Optional[str] = Field(
        None, pattern=ARN + "kms:", description="With sse-kms: an existing key ARN. Unset: the stack creates a key."
    )
    noncurrent_version_days: int = Field(90, ge=1, le=3650, description="Days after which noncurrent bundle versions expire.")
    abort_multipart_days: int = Field(7, ge=1, le=365, description="Days after which incomplete multipart uploads are aborted.")
    work_expiration_days: int = Field(
        7,
        ge=1,
        le=365,
        description="Days after which a training run's scratch objects (_work/<model>/<version>/: data set, fitted Spark "
        "model, statistics before publishing) expire. Published versions never expire.",
    )
    protect: Optional[bool] = Field(
        None,
        description="protect + retain_on_delete on the bucket, its side resources and the KMS key the stack creates "
        "(the serving namespace is always retained, and protected too when this is on). Default: true in prod, false elsewhere.",
    )

    @model_validator(mode="after")
    def _kms(self) -> "BundleStoreConfig":
        if self.kms_key_arn and self.encryption != "sse-kms":
            raise _err("kmsKeyArn", "is set but encryption is 'sse-s3'; set encryption: sse-kms or remove the key")
        return self


# --------------------------------------------------------------------------- Databricks


class ClusterPolicyConfig(Block):
    max_workers: int = Field(8, ge=1, le=1000, description="Cap on workers for every cluster under the team policy.")
    autotermination_minutes: int = Field(
        30,
        ge=10,
        le=10000,
        description="Longest idle time (minutes) before a cluster under the policy stops, and its default; "
        "autotermination cannot be turned off.",
    )


#: Idle minutes before the discovery cluster stops, unless configured (or capped lower by the policy).
DEFAULT_DISCOVERY_AUTOTERMINATION_MINUTES = 30


class DiscoveryClusterConfig(Block):
    enabled: Optional[bool] = Field(None, description="Create the all-purpose discovery cluster. Default: false in prod, true elsewhere.")
    min_workers: int = Field(1, ge=0, le=1000, description="Autoscale lower bound.")
    max_workers: int = Field(4, ge=1, le=1000, description="Autoscale upper bound.")
    autotermination_minutes: Optional[int] = Field(
        None,
        ge=10,
        le=10000,
        description="Idle minutes before the cluster stops (10..10000, at most clusterPolicy.autoterminationMinutes). "
        "Default: 30, or the policy's limit when that is lower.",
    )
    node_type: Optional[str] = Field(None, description="Worker node type (default: the first allow-listed node type).")
    single_user_name: Optional[str] = Field(
        None,
        min_length=1,
        description="Dedicate the cluster to this workspace user (SINGLE_USER access mode). Unset: the team shares it without "
        "isolation, since DBR ML 13.3 and MLeap's Scala libraries do not run in shared (USER_ISOLATION) mode.",
    )

    @model_validator(mode="after")
    def _range(self) -> "DiscoveryClusterConfig":
        if self.min_workers > self.max_workers:
            raise _err("minWorkers", f"{self.min_workers} is greater than maxWorkers ({self.max_workers})")
        return self


class DatabricksConfig(Block):
    host: str = Field(pattern=r"^https://[a-z0-9.-]+$", description="Workspace URL, e.g. https://dbc-1234.cloud.databricks.com.")
    auth: Literal["token", "oauth-m2m"] = Field(
        "oauth-m2m",
        description="How Pulumi and Airflow authenticate: a service principal's OAuth client credentials (clientId + secure "
        "databricksClientSecret), or a personal access token (secure databricksToken).",
    )
    client_id: Optional[str] = Field(None, description="Service principal application id (auth: oauth-m2m).")
    spark_version: str = Field(description="Databricks runtime key, e.g. 13.3.x-cpu-ml-scala2.12.")
    mleap_version: str = Field(pattern=SEMVER, description="MLeap version the training jobs export with.")
    node_types: list[str] = Field(min_length=1, description="Node types allowed by the cluster policy; the first is the default.")
    driver_node_type: Optional[str] = Field(None, description="Driver node type (default: the first allow-listed node type).")
    team_group: str = Field("data-science", min_length=1, description="Workspace group that may use the policy and view jobs.")
    airflow_service_principal: str = Field(min_length=1, description="Application id of the service principal Airflow runs jobs as.")
    notification_emails: list[str] = Field(min_length=1, description="Addresses told about failed training runs.")
    cluster_policy: ClusterPolicyConfig = Field(default_factory=ClusterPolicyConfig, description="The team's cluster policy.")
    discovery_cluster: DiscoveryClusterConfig = Field(default_factory=DiscoveryClusterConfig, description="Notebook cluster.")
    cross_account_role_name: Optional[str] = Field(
        None,
        pattern=r"^[\w+=,.@-]{1,64}$",
        description="Name of the workspace's cross-account IAM role. Set: the stack lets it pass the training role "
        "(iam:PassRole), which Databricks needs to launch clusters with the instance profile. Unset: grant it outside the stack.",
    )

    @field_validator("notification_emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        _raise_problems(("", f"{e!r} is not an email address") for e in v if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", e))
        return v

    @model_validator(mode="after")
    def _cross(self) -> "DatabricksConfig":
        problems: list[Problem] = []
        if self.auth == "oauth-m2m" and not self.client_id:
            problems.append(("clientId", "is required when auth is 'oauth-m2m'"))
        incompatible = check_runtime_mleap_pair(self.spark_version, self.mleap_version)
        if incompatible:
            problems.append((incompatible.key, incompatible.message))
        for key, node in (("driverNodeType", self.driver_node_type), ("discoveryCluster.nodeType", self.discovery_cluster.node_type)):
            if node and node not in self.node_types:
                problems.append((key, f"{node!r} is not in nodeTypes {self.node_types}"))
        if self.discovery_cluster.max_workers > self.cluster_policy.max_workers:
            problems.append((
                "discoveryCluster.maxWorkers",
                f"{self.discovery_cluster.max_workers} is greater than clusterPolicy.maxWorkers ({self.cluster_policy.max_workers})",
            ))
        if (self.discovery_cluster.autotermination_minutes or 0) > self.cluster_policy.autotermination_minutes:
            problems.append((
                "discoveryCluster.autoterminationMinutes",
                f"{self.discovery_cluster.autotermination_minutes} is greater than clusterPolicy.autoterminationMinutes "
                f"({self.cluster_policy.autotermination_minutes}), the longest the policy allows",
            ))
        _raise_problems(problems)
        return self

    @property
    def default_node_type(self) -> str:
        return self.node_types[0]

    @property
    def driver_node_type_or_default(self) -> str:
        return self.driver_node_type or self.default_node_type

    @property
    def discovery_autotermination_minutes(self) -> int:
        """The discovery cluster's idle timeout: as configured, else 30 minutes within the policy's limit."""
        configured = self.discovery_cluster.autotermination_minutes
        return configured or min(DEFAULT_DISCOVERY_AUTOTERMINATION_MINUTES, self.cluster_policy.autotermination_minutes)


# --------------------------------------------------------------------------- Airflow


class AirflowConnectionConfig(Block):
    conn_type: str = Field(min_length=1, description="Airflow connection type, e.g. http, postgres, slack.")
    host: Optional[str] = Field(None, description="Host (or URL) of the connection.")
    port: Optional[int] = Field(None, ge=1, le=65535, description="Port.")
    login: Optional[str] = Field(None, description="Login (not a credential).")
    schema_: Optional[str] = Field(None, alias="schema", description="Schema / database.")
    extra: dict[str, Any] = Field(default_factory=dict, description="Extra JSON (no credentials: use passwordKey).")
    password_key: Optional[str] = Field(
        None, description="Name of a secure top-level config key (pulumi config set --secret NAME) holding the password."
    )

    @field_validator("extra")
    @classmethod
    def _no_credentials(cls, v: dict[str, Any]) -> dict[str, Any]:
        problems: list[Problem] = []

        def walk(node: Any, path: str) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if _CREDENTIAL_FIELD.search(str(key)):
                        problems.append(("", f"{path}.{key} is a credential: put it in a secure key and name it in passwordKey"))
                    else:
                        walk(value, f"{path}.{key}")
            elif isinstance(node, list):
                for item in node:
                    walk(item, path)

        walk(v, "extra")
        _raise_problems(problems)
        return v


#: A Secrets Manager name prefix: '/'-separated segments of the characters AWS allows, no trailing '/'.
SECRET_PREFIX = r"^[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*$"
#: A relative path (an S3 folder, a file in a repository, a branch): '/'-separated segments (none '.' or '..',
#: which ``_no_dot_segments`` refuses), no '/' at either end.
RELATIVE_PATH = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
#: A GitHub repository, owner/name.
GITHUB_REPOSITORY = r"^[A-Za-z0-9](-?[A-Za-z0-9])*/[A-Za-z0-9_.-]+$"
#: Connection types whose host and password the release step reads: Airflow's HTTP and GitHub connections.
RELEASE_CONN_TYPES = ("http", "github")


def _no_dot_segments(value: str) -> str:
    if any(segment in (".", "..") for segment in value.split("/")):
        raise ValueError(f"{value!r} has a '.' or '..' segment: write the path from the root, without them")
    return value


class AirflowDagsConfig(Block):
    bucket: Optional[str] = Field(
        None,
        pattern=BUCKET_NAME,
        description="MWAA (backend secrets-manager): the environment's S3 bucket (its source bucket); required with that "
        "backend. The stack writes the training DAG package there, under <folder>/model_platform_dags/.",
    )
    folder: str = Field(
        "dags",
        pattern=RELATIVE_PATH,
        description="MWAA: the environment's DAG folder in that bucket (its DAG code path, e.g. dags), without '/' at "
        "either end.",
    )
    config_map: str = Field(
        "model-platform-dags",
        pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        description="Self-hosted Airflow (backend kubernetes-secret): the ConfigMap in airflow.namespace holding the DAG "
        "package; mount it at <the DAG folder>/model_platform_dags.",
    )

    _folder = field_validator("folder")(_no_dot_segments)


class AirflowReleaseConfig(Block):
    repository: str = Field(
        pattern=GITHUB_REPOSITORY, description="The GitHub repository of this project (owner/name), e.g. acme/model-platform."
    )
    base_branch: str = Field("main", pattern=RELATIVE_PATH, description="Branch the release pull requests target.")
    stack_file: str = Field(
        pattern=RELATIVE_PATH,
        description="This stack's file in the repository, e.g. stacks/Pulumi.staging.yaml: the file the pull request changes.",
    )
    conn_id: str = Field(
        min_length=1,
        description="The Airflow connection of the GitHub REST API, declared under airflow.connections: connType http, "
        "host https://api.github.com (GitHub Enterprise Server: https://HOST/api/v3), passwordKey naming the secure key "
        "that holds the token (Contents and Pull requests: write on the repository). Never a variable.",
    )

    _paths = field_validator("base_branch", "stack_file")(_no_dot_segments)

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
    connections_prefix: str = Field(
        "airflow/connections", pattern=SECRET_PREFIX, description="Secrets Manager prefix for connections (no trailing '/')."
    )
    variables_prefix: str = Field(
        "airflow/variables", pattern=SECRET_PREFIX, description="Secrets Manager prefix for variables (no trailing '/')."
    )
    kms_key_arn: Optional[str] = Field(
        None,
        pattern=ARN + r"kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$",
        description="ARN of the customer-managed KMS key of the Secrets Manager secrets (default: aws/secretsmanager); "
        "the secrets-reader policy may decrypt with this key only.",
    )
    recovery_window_days: int = Field(
        7,
        ge=0,
        le=30,
        description="Secrets Manager recovery window (0 = delete at once; else 7..30). A removed secret keeps its name "
        "this many days: re-adding it sooner needs `aws secretsmanager restore-secret` + `pulumi import`, or a "
        "force-delete (see infra/components/airflow.py).",
    )
    namespace: str = Field("airflow", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="Namespace of the Airflow Secret (kubernetes-secret).")
    secret_name: str = Field(
        "airflow-connections", pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", description="Name of the Airflow Secret (kubernetes-secret)."
    )
    aws_role_arn: Optional[str] = Field(None, pattern=ARN + "iam::", description="Role the aws_default connection assumes.")
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
        if 0 < self.recovery_window_days < 7:
            problems.append(("recoveryWindowDays", f"{self.recovery_window_days} is not 0 or 7..30 (Secrets Manager's allowed values)"))
        for conn_id in self.connections:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", conn_id):
                problems.append((f"connections.{conn_id}", "conn_id may hold only letters, digits, '_' and '-'"))
            if conn_id in ("databricks_default", "aws_default"):
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


# --------------------------------------------------------------------------- Kubernetes


#: The serving image when a stack names none: the last public mleap-spring-boot image.
DEFAULT_SERVING_IMAGE = "combustml/mleap-spring-boot:0.21.0"


class ImagesConfig(Block):
    serving: str = Field(
        DEFAULT_SERVING_IMAGE,
        min_length=1,
        description="MLeap serving image (HTTP on servingPort); pin by digest in prod. A version tag (X.Y.Z, before any "
        "'@sha256:') must be on databricks.mleapVersion's major.minor line. The default is the last public image, which "
        "serves MLeap 0.21 bundles only: a stack exporting another MLeap line (0.23 on 13.3 LTS ML) is refused until it "
        "names an image built for that line.",
    )
    init: str = Field(
        "public.ecr.aws/aws-cli/aws-cli:2.22.35",
        min_length=1,
        description="Init image with the AWS CLI that downloads and verifies the bundle; pin by digest in prod.",
    )


class KubernetesConfig(Block):
    context: Optional[str] = Field(
        None,
        pattern=r"^[^\s]+$",
        description="Named kubeconfig context to deploy with instead of the kubeconfig generated for clusterName "
        "(e.g. a local cluster). Default: unset.",
    )
    cluster_name: str = Field(
        pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$",
        description="The EKS cluster (in aws.region) the stack deploys to: the Kubernetes provider's kubeconfig is "
        "built for exactly this cluster, authenticated with `aws eks get-token`.",
    )
    version: str = Field("1.31", pattern=r"^1\.\d+$", description="Kubernetes minor version of the cluster (1.29 or newer).")
    namespace: str = Field("models", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="Namespace the models are served in.")
    create_namespace: bool = Field(True, description="Create the serving namespace (false: it exists already).")
    oidc_provider_arn: str = Field(
        pattern=ARN + r"iam::\d{12}:oidc-provider/.+", description="The cluster's IAM OIDC provider ARN, for IRSA."
    )
    images: ImagesConfig = Field(default_factory=ImagesConfig, description="Container images.")
    serving_port: int = Field(65327, ge=1024, le=65535, description="HTTP port of the MLeap server.")
    allowed_namespaces: list[str] = Field(
        default_factory=list, description="Namespaces whose pods may call the models (NetworkPolicy). Empty: same namespace only."
    )
    allowed_pod_labels: dict[str, str] = Field(
        default_factory=dict,
        description="When set, only pods carrying all these labels (in the serving or an allowed namespace) may call the models.",
    )
    run_as_user: int = Field(
        10001, ge=1, le=2147483647, description="Numeric non-root UID/GID the serving pods run as (the images must not need root)."
    )

    @field_validator("allowed_namespaces")
    @classmethod
    def _namespaces(cls, v: list[str]) -> list[str]:
        _raise_problems(
            ("", f"{ns!r} is not a namespace name (DNS label)") for ns in v if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", ns)
        )
        return v

    @field_validator("allowed_pod_labels")
    @classmethod
    def _pod_labels(cls, v: dict[str, str]) -> dict[str, str]:
        problems: list[Problem] = []
        for key, value in v.items():
            if not re.fullmatch(r"([a-z0-9.-]{1,253}/)?" + LABEL_NAME.pattern, key):
                problems.append(("", f"{key!r} is not a label key"))
            if not LABEL_VALUE.fullmatch(value):
                problems.append(("", f"{key}: {value!r} is not a label value"))
        _raise_problems(problems)
        return v

    @field_validator("version")
    @classmethod
    def _min_version(cls, v: str) -> str:
        if int(v.split(".")[1]) < 29:
            raise ValueError(f"{v} is older than the oldest supported Kubernetes version (1.29)")
        return v

    @property
    def oidc_issuer(self) -> str:
        """Issuer host/path (the part IRSA trust conditions key on)."""
        return self.oidc_provider_arn.split(":oidc-provider/", 1)[1]


# --------------------------------------------------------------------------- Stack


class SecretValue:
    """A credential read from secure config; its repr never shows the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue([secret])"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        """Only the parser makes SecretValues (from secure keys): plain text is never accepted in their place."""
        return core_schema.is_instance_schema(cls)


class StackConfig(Block):
    """The whole of one stack's configuration (keys under ``model-platform:``)."""

    environment: Environment = Field(description="dev, staging or prod; prod turns on production requirements.")
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Extra tags on every AWS resource and Databricks cluster, and labels (model-platform/<key>) on every "
        "Kubernetes object (e.g. team, cost-centre). Keys and values follow label rules: at most 63 letters, digits, "
        f"'-', '_' or '.', starting and ending with a letter or digit. Reserved: {', '.join(PLATFORM_TAG_KEYS)}. "
        f"At most {MAX_USER_TAGS}: S3 objects carry at most 10 tags, the platform's included.",
    )
    aws: AwsConfig = Field(description="AWS account and region.")
    bundle_store: BundleStoreConfig = Field(default_factory=BundleStoreConfig, description="The S3 bucket of MLeap bundles.")
    databricks: DatabricksConfig = Field(description="Databricks workspace, runtime and training defaults.")
    airflow: AirflowConfig = Field(
        default_factory=AirflowConfig, description="Airflow: the training DAG's connections and variables, the DAG itself and its release."
    )
    kubernetes: KubernetesConfig = Field(description="The serving cluster.")
    models: dict[str, ModelConfig] = Field(min_length=1, description="Models keyed by name (DNS label).")
    # Credentials: top-level secure keys only.
    databricks_token: Optional[SecretValue] = Field(None, description="Secure. Databricks personal access token (auth: token).")
    databricks_client_secret: Optional[SecretValue] = Field(
        None, description="Secure. OAuth secret of the Databricks service principal (auth: oauth-m2m)."
    )
    extra_secrets: dict[str, SecretValue] = Field(
        default_factory=dict, exclude=True, description="Other secure keys, referenced by passwordKey."
    )

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        problems: list[Problem] = []
        if len(v) > MAX_USER_TAGS:
            problems.append((
                "",
                f"{len(v)} tags are more than {MAX_USER_TAGS}: each model's released.json is an S3 object, which carries "
                f"at most 10 tags, and the platform sets {len(PLATFORM_TAG_KEYS)} ({', '.join(PLATFORM_TAG_KEYS)})",
            ))
        for key, value in v.items():
            if not LABEL_NAME.fullmatch(key):
                problems.append((
                    "",
                    f"{key!r} is not a valid tag key: tags are Kubernetes labels too (model-platform/<key>), so a key is "
                    "1..63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                ))
            elif key.lower() in PLATFORM_TAG_KEYS:
                problems.append((key, f"is set by the platform on every resource (reserved: {', '.join(PLATFORM_TAG_KEYS)})"))
            if not LABEL_VALUE.fullmatch(value):
                problems.append((
                    key,
                    f"{value!r} is not a valid tag value: it is a Kubernetes label value too, so at most 63 letters, digits, "
                    "'-', '_' or '.', starting and ending with a letter or digit",
                ))
        _raise_problems(problems)
        return v

    @property
    def production(self) -> bool:
        return self.environment is Environment.prod

    @property
    def protect_data(self) -> bool:
        p = self.bundle_store.protect
        return self.production if p is None else p

    @property
    def discovery_cluster_enabled(self) -> bool:
        e = self.databricks.discovery_cluster.enabled
        return (not self.production) if e is None else e

    @property
    def bucket_name(self) -> str:
        if self.bundle_store.bucket_name:
            return self.bundle_store.bucket_name
        suffix = f"-{self.aws.account_id}" if self.aws.account_id else ""
        return f"{PROJECT}-{self.environment.value}-bundles{suffix}"


# --------------------------------------------------------------------------- Rules spanning blocks


@dataclass(frozen=True)
class _ModelParts:
    """The parts of one model's config that validated; None where invalid (reported already)."""

    training: Optional[TrainingConfig]
    serving: Optional[ServingConfig]


@dataclass(frozen=True)
class _Parts:
    """The blocks of a stack's config that validated; None where invalid (reported already).

    Rules spanning blocks run on these, so one bad field elsewhere does not hide
    them: every problem of a stack file is reported in one go.
    """

    environment: Optional[Environment]
    bundle_store: Optional[BundleStoreConfig]
    databricks: Optional[DatabricksConfig]
    airflow: Optional[AirflowConfig]
    kubernetes: Optional[KubernetesConfig]
    models: Mapping[str, _ModelParts]
    secure_keys: frozenset[str]

    @classmethod
    def of(cls, cfg: StackConfig) -> "_Parts":
        secure = set(cfg.extra_secrets)
        secure |= {k for k, v in (("databricksToken", cfg.databricks_token), ("databricksClientSecret", cfg.databricks_client_secret)) if v}
        return cls(
            cfg.environment,
            cfg.bundle_store,
            cfg.databricks,
            cfg.airflow,
            cfg.kubernetes,
            {name: _ModelParts(m.training, m.serving) for name, m in cfg.models.items()},
            frozenset(secure),
        )

    @classmethod
    def salvage(cls, data: Mapping[str, Any], secure_keys: frozenset[str]) -> "_Parts":
        """The parts of ``data`` (keyed as in the stack file) that validate on their own."""
        return cls(
            _valid_field("environment", data),
            _valid_field("bundle_store", data),
            _valid_field("databricks", data),
            _valid_field("airflow", data),
            _valid_field("kubernetes", data),
            _valid_models(data.get("models")),
            secure_keys,
        )


def _valid(adapter: TypeAdapter[Any], raw: Any) -> Any:
    try:
        return adapter.validate_python(raw)
    except ValidationError:
        return None


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _valid_field(name: str, data: Mapping[str, Any]) -> Any:
    """Top-level field ``name`` validated alone: its default when absent, None when invalid."""
    field = StackConfig.model_fields[name]
    if field.alias not in data:
        return None if field.is_required() else field.get_default(call_default_factory=True)
    return _valid(_adapter(field.annotation), data[field.alias])


def _valid_models(raw: Any) -> dict[str, _ModelParts]:
    """Each model, or failing that its training and serving blocks, validated alone."""
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, _ModelParts] = {}
    for name, model in raw.items():
        whole = _valid(_adapter(ModelConfig), model)
        if whole is not None:
            out[str(name)] = _ModelParts(whole.training, whole.serving)
            continue
        model = model if isinstance(model, Mapping) else {}
        out[str(name)] = _ModelParts(
            _valid(_adapter(TrainingConfig), model["training"]) if "training" in model else None,
            _valid(_adapter(ServingConfig), model.get("serving", {})),
        )
    return out


def mleap_line(version: str) -> str:
    """The major.minor line of a version: '0.23' for '0.23.1'."""
    major, minor = version.split(".")[:2]
    return f"{int(major)}.{int(minor)}"


def image_mleap_line(image: str) -> Optional[str]:
    """The MLeap line an image's tag names ('0.23' for '…/mleap-serving:0.23.0@sha256:…'), None if the tag is no version."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    _, colon, tag = name.rpartition(":")
    return mleap_line(tag) if colon and IMAGE_VERSION_TAG.fullmatch(tag) else None


def _credential_problems(parts: _Parts) -> list[Problem]:
    db = parts.databricks
    if db is None:
        return []
    out: list[Problem] = []
    if db.auth == "token" and "databricksToken" not in parts.secure_keys:
        out.append(("databricksToken", "is required when databricks.auth is 'token' (pulumi config set --secret databricksToken)"))
    if db.auth == "oauth-m2m" and "databricksClientSecret" not in parts.secure_keys:
        out.append(
            ("databricksClientSecret", "is required when databricks.auth is 'oauth-m2m' (pulumi config set --secret databricksClientSecret)")
        )
    return out


def _password_key_problems(parts: _Parts) -> list[Problem]:
    if parts.airflow is None:
        return []
    return [
        (f"airflow.connections.{conn_id}.passwordKey", f"names {conn.password_key!r}, which is not a secure key of this stack")
        for conn_id, conn in parts.airflow.connections.items()
        if conn.password_key and conn.password_key not in parts.secure_keys
    ]


def _training_compute_problems(parts: _Parts) -> list[Problem]:
    db = parts.databricks
    if db is None:
        return []
    out: list[Problem] = []
    for name, model in parts.models.items():
        if model.training is None:
            continue
        node = model.training.node_type
        if node and node not in db.node_types:
            out.append((f"models.{name}.training.nodeType", f"{node!r} is not in databricks.nodeTypes {db.node_types}"))
        if model.training.num_workers > db.cluster_policy.max_workers:
            out.append(
                (f"models.{name}.training.numWorkers", f"{model.training.num_workers} is greater than databricks.clusterPolicy.maxWorkers ({db.cluster_policy.max_workers})")
            )
    return out


def _serving_images(parts: _Parts) -> dict[str, str]:
    """Serving images by key path: the per-model ones, and the default when some model uses it."""
    images: dict[str, str] = {}
    k8s = parts.kubernetes
    if k8s is not None and (not parts.models or any(m.serving is None or not m.serving.image for m in parts.models.values())):
        images["kubernetes.images.serving"] = k8s.images.serving
    images.update({f"models.{n}.serving.image": m.serving.image for n, m in parts.models.items() if m.serving and m.serving.image})
    return images


def _serving_image_mleap_problems(parts: _Parts) -> list[Problem]:
    """An image tagged with an MLeap version serves that line's bundles only: it must match what training exports."""
    db = parts.databricks
    if db is None:
        return []
    line = mleap_line(db.mleap_version)
    out: list[Problem] = []
    for path, image in _serving_images(parts).items():
        tagged = image_mleap_line(image)
        if tagged is not None and tagged != line:
            default = " (the default)" if path == "kubernetes.images.serving" and image == DEFAULT_SERVING_IMAGE else ""
            out.append((
                path,
                f"{image!r}{default} is tagged for MLeap {tagged}, but databricks.mleapVersion is {db.mleap_version}: "
                f"serve the bundles with an image built for MLeap {line}",
            ))
    return out


def _production_problems(parts: _Parts) -> list[Problem]:
    if parts.environment is not Environment.prod:
        return []
    out: list[Problem] = []
    images: dict[str, str] = {}
    if parts.kubernetes is not None:
        images = {"kubernetes.images.serving": parts.kubernetes.images.serving, "kubernetes.images.init": parts.kubernetes.images.init}
    images.update({f"models.{n}.serving.image": m.serving.image for n, m in parts.models.items() if m.serving and m.serving.image})
    for path, image in images.items():
        if not IMAGE_DIGEST.search(image):
            out.append((path, f"{image!r} must be pinned by digest (…@sha256:<64 hex>) in prod"))
    for name, model in parts.models.items():
        if model.serving is not None and model.serving.replicas.min < 2:
            out.append((f"models.{name}.serving.replicas.min", f"{model.serving.replicas.min} is below 2, the prod minimum"))
    if parts.bundle_store is not None and parts.bundle_store.protect is False:
        out.append(("bundleStore.protect", "cannot be false in prod: the bundles are the only copy of every model"))
    if parts.airflow is not None and parts.airflow.recovery_window_days == 0:
        out.append(("airflow.recoveryWindowDays", "cannot be 0 in prod: keep a recovery window of 7..30 days"))
    return out


def _airflow_schedule_problems(parts: _Parts) -> list[Problem]:
    """An Airflow schedule is the training DAG's: the stack must deliver that DAG (airflow.dags)."""
    if parts.airflow is None or parts.airflow.dags is not None:
        return []
    return [
        (
            f"models.{name}.training.schedule.runBy",
            "is airflow, so the model's training DAG runs on this schedule, but the stack delivers no DAG: set "
            "airflow.dags (where the DAG goes), or runBy: databricks with a Quartz cron",
        )
        for name, model in parts.models.items()
        if model.training is not None and model.training.schedule is not None and model.training.schedule.by_airflow
    ]


def _cross_stack_problems(parts: _Parts) -> list[Problem]:
    """Rules spanning blocks, and the production requirements; each runs when the blocks it reads validated."""
    return [
        *_credential_problems(parts),
        *_password_key_problems(parts),
        *_airflow_schedule_problems(parts),
        *_training_compute_problems(parts),
        *_serving_image_mleap_problems(parts),
        *_production_problems(parts),
    ]


# --------------------------------------------------------------------------- Parsing


def _key_path(loc: tuple[Any, ...], subpath: str = "") -> str:
    return f"{PROJECT}:" + ".".join([str(p) for p in loc] + ([subpath] if subpath else []))


def _is_sensitive(error: Mapping[str, Any]) -> bool:
    """Whether the error's input may be a credential, which must never be echoed."""
    if error["type"] == "is_instance_of" and (error.get("ctx") or {}).get("class") == SecretValue.__name__:
        return True
    return any(isinstance(p, str) and _CREDENTIAL_FIELD.search(p) for p in error["loc"])


def _describe(error: Mapping[str, Any]) -> str:
    kind, msg = error["type"], error["msg"]
    value = None if _is_sensitive(error) else error.get("input")
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        if _CREDENTIAL_FIELD.search(key):
            return "is a credential: set it as a secure top-level key (pulumi config set --secret ...), never in plain text"
        if _camel(key) != key:
            return f"unknown key: stack files spell keys in camelCase ({_camel(key)})"
        return "unknown key (typo?)"
    if kind == "missing":
        return "is required"
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value!r} was read by YAML as a number, not text: quote it (\"{value}\")"
    if kind == "string_pattern_mismatch" and isinstance(value, str):
        return f"{value!r} does not match {error['ctx']['pattern']}"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if isinstance(value, (str, int, float, bool)):
        return f"{value!r}: {msg}"
    return msg


def _error_lines(error: Mapping[str, Any]) -> list[str]:
    """One line per problem of a pydantic error (a validator's error may carry several)."""
    if error["type"] == "cross_field":
        return [f"{_key_path(error['loc'], sub)}: {msg}" for sub, msg in error["ctx"]["problems"]]
    return [f"{_key_path(error['loc'])}: {_describe(error)}"]


def _split_key(key: str) -> tuple[str, str]:
    """(namespace, name) of a config key; a key without one is the project's, as in Pulumi."""
    namespace, colon, name = key.partition(":")
    return (namespace, name) if colon else (PROJECT, key)


def _namespace_problem(key: str, namespace: str) -> str:
    known = (PROJECT, *FOREIGN_NAMESPACES)
    close = difflib.get_close_matches(namespace, known, n=1)
    hint = f" (typo of {close[0]!r}?)" if close else ""
    return (
        f"{key}: unknown config namespace {namespace!r}{hint}: nothing would read this key. Stack files hold {PROJECT}:* "
        f"keys, and {', '.join(f'{ns}:*' for ns in FOREIGN_NAMESPACES)} for the providers and Pulumi"
    )


def _secret_paths(value: Any, path: str) -> list[str]:
    """Key paths inside ``value`` holding an (offline) secure value."""
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _secret_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secret_paths(v, f"{path}.{i}")]
    return [path] if value == SECRET_PLACEHOLDER else []


def _nested_secret_problems(key: str, value: Any) -> list[str]:
    """A secure value inside structured config (``pulumi config set --path --secret``): name where, say what to do.

    Offline, the stack file shows which nested value is secure; at run time the
    whole top-level key arrives secret and decrypted, so only the key is named.
    """
    advice = (
        "structured config cannot hold a secure value: set it as a top-level secure key "
        "(pulumi config set --secret NAME) and name that key in passwordKey"
    )
    nested = _secret_paths(value, f"{PROJECT}:{key}")
    if nested:
        return [f"{path}: is a secure value inside structured config (pulumi config set --path --secret); {advice}" for path in nested]
    return [f"{PROJECT}:{key}: is secret because a value inside it is (pulumi config set --path --secret); {advice}"]


@dataclass
class _ProjectKeys:
    """The project's top-level keys sorted out: plain data, secure values, and what is wrong with the rest."""

    data: dict[str, Any]
    secure: set[str]
    problems: list[str]
    #: Keys whose problem was reported here; rules spanning blocks stay silent about them.
    reported: set[str]


def _sort_project_keys(values: Mapping[str, Any], secret_keys: set[str]) -> _ProjectKeys:
    known = {f.alias for f in StackConfig.model_fields.values()} - {"extraSecrets"}
    out = _ProjectKeys({}, set(), [], set())
    extra: dict[str, SecretValue] = {}
    for key, value in values.items():
        path, camel = f"{PROJECT}:{key}", _camel(key)
        if key in secret_keys:
            if key not in known and camel != key and camel in known:
                out.problems.append(f"{path}: unknown key: stack files spell keys in camelCase ({camel})")
                out.reported.add(camel)
            elif isinstance(value, (Mapping, list)):
                out.problems += _nested_secret_problems(key, value)
                out.reported.add(key)
            elif not isinstance(value, str) or not value:
                out.problems.append(f"{path}: a secure value must be a non-empty string")
                out.reported.add(key)
            elif key in CREDENTIAL_KEYS:
                out.data[key] = SecretValue(value)
                out.secure.add(key)
            else:
                extra[key] = SecretValue(value)
                out.secure.add(key)
        elif key in CREDENTIAL_KEYS or (key not in known and _CREDENTIAL_FIELD.search(key)):
            name = camel if camel in CREDENTIAL_KEYS else key
            out.problems.append(f"{path}: is a credential in plain text: set it with 'pulumi config set --secret {name}'")
            out.reported |= {key, name}
        elif key not in known:
            hint = f": stack files spell keys in camelCase ({camel})" if camel != key and camel in known else " (typo?)"
            out.problems.append(f"{path}: unknown key{hint}")
        else:
            out.data[key] = value
    out.data["extraSecrets"] = extra
    return out


def _model_name_problems(models: Any) -> list[str]:
    """Model names become Kubernetes names: DNS labels, and none equal to another model's canary Deployment."""
    if not isinstance(models, Mapping):
        return []
    names = {str(n): None for n in models}  # ordered, with set lookups
    out: list[str] = []
    for name in names:
        if not re.fullmatch(MODEL_NAME, name):
            out.append(
                f"{PROJECT}:models.{name}: model name must be a DNS label: lowercase letters, digits and '-', at most 40 characters"
            )
        base = name.removesuffix(CANARY_SUFFIX)
        if base != name and base in names:
            out.append(
                f"{PROJECT}:models.{name}: collides with model {base!r}, whose canary Deployment is named {name!r}: "
                "rename one of the two models"
            )
    return out


def parse_stack_config(values: Mapping[str, Any], secret_keys: Iterable[str], source: str) -> StackConfig:
    """Parse one stack's config, as the Pulumi runtime hands it over.

    ``values`` maps every config key of the stack, namespace included
    (``model-platform:models``, ``aws:region``), to its decoded value (objects
    already JSON-decoded); ``secret_keys`` names those that were secure. Keys of
    the providers' and Pulumi's namespaces are theirs to read; a key in any
    other namespace (a misspelled ``model-platform``) would be read by no one,
    so it is refused. Raises ConfigError listing every problem, each with its
    full key path.
    """
    problems: list[str] = []
    project_values: dict[str, Any] = {}
    for key, value in values.items():
        namespace, name = _split_key(key)
        if namespace == PROJECT:
            project_values[name] = value
        elif namespace not in FOREIGN_NAMESPACES:
            problems.append(_namespace_problem(key, namespace))
    project_secrets = {name for namespace, name in map(_split_key, secret_keys) if namespace == PROJECT}
    keys = _sort_project_keys(project_values, project_secrets)
    problems += keys.problems
    problems += _model_name_problems(keys.data.get("models"))
    cfg: Optional[StackConfig] = None
    try:
        cfg = StackConfig.model_validate(keys.data)
        parts = _Parts.of(cfg)
    except ValidationError as exc:
        problems += [line for error in exc.errors() for line in _error_lines(error)]
        parts = _Parts.salvage(keys.data, frozenset(keys.secure))
    problems += [f"{PROJECT}:{path}: {msg}" for path, msg in _cross_stack_problems(parts) if path not in keys.reported]
    if problems or cfg is None:
        raise ConfigError(source, problems)
    return cfg
