"""Typed stack configuration: parsed once, validated completely, then frozen.

Every key a stack file may set is declared here, with its type, range and
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

from pulumi import RunError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from infra.mleap_compat import check_runtime_mleap_pair

PROJECT = "model-platform"
#: Config namespaces a stack file may use besides the project's: those of the providers and of Pulumi itself.
#: Any other namespace is a typo (``model-platfrom:``) whose keys nothing would read.
FOREIGN_NAMESPACES = ("aws", "kubernetes", "databricks", "pulumi")
#: What a secure value reads as offline (``modelctl``); never decrypted.
SECRET_PLACEHOLDER = "[secret]"

SEMVER = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
SHA256 = r"^[0-9a-f]{64}$"
MODEL_NAME = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
QUANTITY_CPU = r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$"
QUANTITY_MEM = r"^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$"
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

#: Config keys (under the project namespace) that hold credentials. They are
#: accepted only as secure values (``pulumi config set --secret KEY``).
CREDENTIAL_KEYS = ("databricksToken", "databricksClientSecret")
#: Field names that look like credentials anywhere in structured config.
_CREDENTIAL_FIELD = re.compile(r"(token|password|secret|credential|apikey|api_key)$", re.I)


class ConfigError(RunError):
    """Every problem found in one stack file, reported together.

    A ``RunError``, so ``pulumi up`` prints the messages without a traceback.
    """

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


#: A problem a validator found: (key path below the validated block or field, "" for the field itself; message).
Problem = tuple[str, str]


def _err(subpath: str, message: str) -> PydanticCustomError:
    """The error of a validator that has a single check: one problem at ``subpath``."""
    return PydanticCustomError("cross_field", "{summary}", {"problems": ((subpath, message),), "summary": message})


def _raise_problems(problems: Iterable[Problem]) -> None:
    """Raise every problem a validator found, as one error.

    Pydantic keeps one error per validator, so a validator that stopped at its
    first problem would hide the rest; the list travels in the error's context
    and ``parse_stack_config`` reports each with its own key path.
    """
    found = tuple(problems)
    if found:
        raise PydanticCustomError(
            "cross_field", "{summary}", {"problems": found, "summary": "; ".join(message for _, message in found)}
        )


class _Model(BaseModel):
    """Base for every config block: camelCase keys, unknown keys rejected, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


class Block(_Model):
    """A config block. Stack files spell keys in camelCase only: a snake_case key is unknown
    (and, if it looks like a credential, refused as one), so no key has two spellings."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=_camel, validate_by_alias=True, validate_by_name=False
    )


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
        _raise_problems(problems)
        return self


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


# --------------------------------------------------------------------------- Models


class ScheduleConfig(Block):
    cron: str = Field(min_length=1, description="Quartz cron expression, e.g. '0 0 3 * * ?'.")
    timezone: str = Field("UTC", min_length=1, description="Java timezone id of the schedule.")
    paused: bool = Field(False, description="Keep the schedule paused.")

    @field_validator("cron")
    @classmethod
    def _quartz(cls, v: str) -> str:
        if not 6 <= len(v.split()) <= 7:
            raise ValueError(f"{v!r} is not a Quartz cron expression (6 or 7 fields: sec min hour day month weekday [year])")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        import zoneinfo

        known = zoneinfo.available_timezones()
        if known and v not in known:  # no tz database on this machine: leave it to Databricks
            raise ValueError(f"{v!r} is not a timezone id such as 'UTC' or 'Europe/London'")
        return v


#: Named parameters the platform passes to every training task; ``training.parameters`` may not redefine them.
PLATFORM_TASK_PARAMETERS = ("model", "model-version", "bundle-uri", "digest-uri", "samples-uri")


class TrainingConfig(Block):
    package: str = Field(
        min_length=1,
        description="Wheel (.whl) or jar URI of the model's training code; '{version}' is replaced by the model version.",
    )
    package_name: Optional[str] = Field(None, description="Python package (wheel) or main class (jar). Default: model name with '_'.")
    node_type: Optional[str] = Field(None, description="Worker node type (default: the first allow-listed node type).")
    num_workers: int = Field(2, ge=1, le=1000, description="Workers of the job cluster.")
    schedule: Optional[ScheduleConfig] = Field(None, description="Databricks schedule; unset when Airflow triggers the job.")
    timeout_minutes: int = Field(120, ge=1, le=2880, description="Timeout of each task.")
    max_retries: int = Field(1, ge=0, le=10, description="Retries of each task.")
    retry_interval_minutes: int = Field(5, ge=0, le=180, description="Minutes between a failed task and its retry.")
    parameters: dict[str, str] = Field(default_factory=dict, description="Extra named parameters passed to every task.")

    @field_validator("package")
    @classmethod
    def _package(cls, v: str) -> str:
        if not (v.endswith(".whl") or v.endswith(".jar")):
            raise ValueError(f"{v!r} is neither a .whl nor a .jar")
        if "{version}" not in v:
            raise ValueError("must contain '{version}' so the package follows the model version")
        if v.startswith("s3://") and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^/].*[^/]", v):
            raise ValueError(f"{v!r} is not s3://<bucket>/<key of the package file>")
        return v

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, v: dict[str, str]) -> dict[str, str]:
        problems: list[Problem] = []
        for key in v:
            if key in PLATFORM_TASK_PARAMETERS:
                problems.append(("", f"{key!r} is set by the platform (reserved: {', '.join(PLATFORM_TASK_PARAMETERS)})"))
            elif not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
                problems.append(("", f"{key!r} is not a parameter name (letters, digits, '_' and '-')"))
        _raise_problems(problems)
        return v

    @model_validator(mode="after")
    def _main_class(self) -> "TrainingConfig":
        if not self.is_wheel and not self.package_name:
            raise _err("packageName", "is required for a jar: the main class the tasks run")
        return self

    @property
    def is_wheel(self) -> bool:
        return self.package.endswith(".whl")

    def package_uri(self, version: str) -> str:
        """The wheel or jar of ``version``: the package pinned to the model version."""
        return self.package.replace("{version}", version)

    def entry_package(self, model: str) -> str:
        """Wheel package name or jar main class (default for wheels: the model name with '_')."""
        return self.package_name or model.replace("-", "_")


class ReplicasConfig(Block):
    min: int = Field(2, ge=1, le=1000, description="HPA minimum replicas.")
    max: int = Field(4, ge=1, le=1000, description="HPA maximum replicas.")

    @model_validator(mode="after")
    def _order(self) -> "ReplicasConfig":
        if self.min > self.max:
            raise _err("min", f"{self.min} is greater than max ({self.max})")
        return self


class ResourceAmounts(Block):
    cpu: Optional[str] = Field(None, pattern=QUANTITY_CPU, description="CPU, e.g. 500m or 2.")
    memory: str = Field(pattern=QUANTITY_MEM, description="Memory, e.g. 2Gi.")


class ServingResources(Block):
    requests: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="500m", memory="1536Mi"), description="Requests (cpu required for the HPA)."
    )
    limits: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(memory="1536Mi"), description="Limits (memory required).")

    @model_validator(mode="after")
    def _cpu(self) -> "ServingResources":
        problems: list[Problem] = []
        if not self.requests.cpu:
            problems.append(("requests.cpu", "is required: the HPA scales on CPU utilization of the request"))
        if _mem_bytes(self.limits.memory) < _mem_bytes(self.requests.memory):
            problems.append(("limits.memory", f"{self.limits.memory} is below requests.memory ({self.requests.memory})"))
        _raise_problems(problems)
        return self


def _mem_bytes(q: str) -> int:
    m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?", q)
    assert m
    scale = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return int(m.group(1)) * scale[m.group(2)]


class IngressConfig(Block):
    host: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="Host name.")
    class_name: str = Field("nginx", description="IngressClass name.")
    tls_secret: Optional[str] = Field(None, description="Secret holding the TLS certificate.")
    controller_namespace: str = Field(
        "ingress-nginx",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Namespace of the ingress controller; the NetworkPolicy admits it on the serving port.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations for the Ingress controller, e.g. alb.ingress.kubernetes.io/healthcheck-path: "
        "/models/<name>/meta with className alb (MLeap serves nothing on '/').",
    )

    @field_validator("annotations")
    @classmethod
    def _annotation_keys(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not re.fullmatch(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", k)]
        if bad:
            raise ValueError(f"not valid annotation keys: {', '.join(repr(k) for k in bad)}")
        return v


class ServingConfig(Block):
    replicas: ReplicasConfig = Field(default_factory=ReplicasConfig, description="Autoscaling bounds.")
    target_cpu_utilization: int = Field(70, ge=10, le=100, description="HPA CPU utilization target (percent of request).")
    scale_down_stabilization_seconds: int = Field(300, ge=0, le=3600, description="HPA scale-down stabilization window.")
    resources: ServingResources = Field(default_factory=ServingResources, description="Container requests and limits.")
    image: Optional[str] = Field(None, description="Serving image for this model (default: kubernetes.images.serving).")
    ingress: Optional[IngressConfig] = Field(None, description="Expose the model through an Ingress.")
    max_ram_percentage: int = Field(75, ge=25, le=90, description="JVM heap as a percentage of the memory limit (-XX:MaxRAMPercentage).")
    startup_timeout_seconds: int = Field(
        300, ge=30, le=3600, description="Time a pod gets for JVM start and bundle load before it is restarted (startupProbe)."
    )
    progress_deadline_seconds: int = Field(
        600, ge=60, le=7200, description="A rollout that makes no progress for this long fails (and `pulumi up` with it)."
    )
    min_ready_seconds: int = Field(10, ge=0, le=600, description="Seconds a new pod must stay ready before the rollout moves on.")

    @model_validator(mode="after")
    def _rollout_timing(self) -> "ServingConfig":
        if self.startup_timeout_seconds + self.min_ready_seconds >= self.progress_deadline_seconds:
            raise _err(
                "progressDeadlineSeconds",
                f"{self.progress_deadline_seconds} leaves no time for a pod to start: it must exceed "
                f"startupTimeoutSeconds + minReadySeconds ({self.startup_timeout_seconds + self.min_ready_seconds})",
            )
        return self


class CanaryConfig(Block):
    version: str = Field(pattern=SEMVER, description="Candidate version.")
    bundle_sha256: str = Field(pattern=SHA256, description="sha256 of the candidate's bundle.zip.")
    replicas: int = Field(1, ge=1, le=100, description="Candidate replicas (traffic share = replicas / all replicas).")


class ModelConfig(Block):
    version: str = Field(pattern=SEMVER, description="Semantic version of the bundle to serve and train.")
    bundle_sha256: str = Field(pattern=SHA256, description="sha256 (64 lowercase hex) of <model>/<version>/bundle.zip.")
    training: TrainingConfig = Field(description="The Databricks training job.")
    serving: ServingConfig = Field(default_factory=ServingConfig, description="The Kubernetes serving.")
    canary: Optional[CanaryConfig] = Field(None, description="A candidate version served beside the main one.")

    @model_validator(mode="after")
    def _canary(self) -> "ModelConfig":
        if self.canary and self.canary.version == self.version:
            raise _err("canary.version", f"{self.version} is the version already served; promote by deleting the canary block")
        return self


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
        f"'-', '_' or '.', starting and ending with a letter or digit. Reserved: {', '.join(PLATFORM_TAG_KEYS)}.",
    )
    aws: AwsConfig = Field(description="AWS account and region.")
    bundle_store: BundleStoreConfig = Field(default_factory=BundleStoreConfig, description="The S3 bucket of MLeap bundles.")
    databricks: DatabricksConfig = Field(description="Databricks workspace, runtime and training defaults.")
    airflow: AirflowConfig = Field(default_factory=AirflowConfig, description="Airflow connections and variables.")
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


def _cross_stack_problems(parts: _Parts) -> list[Problem]:
    """Rules spanning blocks, and the production requirements; each runs when the blocks it reads validated."""
    return [
        *_credential_problems(parts),
        *_password_key_problems(parts),
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
