"""Typed stack configuration: parsed once, validated completely, then frozen.

Every key a stack file may set is declared here, with its type, range and
default; nothing else in the program reads ``pulumi.Config``. The schema is
the single home of every default (``modelctl config-doc`` prints them), and
every error names the stack file and the full key path, e.g.::

    stacks/Pulumi.prod.yaml: model-platform:models.days-to-sell.serving.replicas.min: 12 is greater than max (10)
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal, Mapping, Optional

from pulumi import RunError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from infra.mleap_compat import check_runtime_mleap_pair

PROJECT = "model-platform"

SEMVER = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
SHA256 = r"^[0-9a-f]{64}$"
MODEL_NAME = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
QUANTITY_CPU = r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$"
QUANTITY_MEM = r"^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$"
BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
ARN = r"^arn:aws[a-z-]*:"
IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

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


def _err(subpath: str, message: str) -> PydanticCustomError:
    """A cross-field error pointing at ``subpath`` below the model that raised it."""
    return PydanticCustomError("cross_field", message, {"subpath": subpath})


class _Model(BaseModel):
    """Base for every config block: camelCase keys, unknown keys rejected, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


class Block(_Model):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=_camel, populate_by_name=True
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
        None, description="protect + retain_on_delete on the bucket. Default: true in prod, false elsewhere."
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
        for e in v:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", e):
                raise ValueError(f"{e!r} is not an email address")
        return v

    @model_validator(mode="after")
    def _cross(self) -> "DatabricksConfig":
        if self.auth == "oauth-m2m" and not self.client_id:
            raise _err("clientId", "is required when auth is 'oauth-m2m'")
        problem = check_runtime_mleap_pair(self.spark_version, self.mleap_version)
        if problem:
            raise _err(problem.key, problem.message)
        for key, node in (("driverNodeType", self.driver_node_type), ("discoveryCluster.nodeType", self.discovery_cluster.node_type)):
            if node and node not in self.node_types:
                raise _err(key, f"{node!r} is not in nodeTypes {self.node_types}")
        if self.discovery_cluster.max_workers > self.cluster_policy.max_workers:
            raise _err(
                "discoveryCluster.maxWorkers",
                f"{self.discovery_cluster.max_workers} is greater than clusterPolicy.maxWorkers ({self.cluster_policy.max_workers})",
            )
        if (self.discovery_cluster.autotermination_minutes or 0) > self.cluster_policy.autotermination_minutes:
            raise _err(
                "discoveryCluster.autoterminationMinutes",
                f"{self.discovery_cluster.autotermination_minutes} is greater than clusterPolicy.autoterminationMinutes "
                f"({self.cluster_policy.autotermination_minutes}), the longest the policy allows",
            )
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
        def walk(node: Any, path: str) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if _CREDENTIAL_FIELD.search(str(key)):
                        raise ValueError(f"{path}.{key} is a credential: put it in a secure key and name it in passwordKey")
                    walk(value, f"{path}.{key}")
            elif isinstance(node, list):
                for item in node:
                    walk(item, path)

        walk(v, "extra")
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
    recovery_window_days: int = Field(7, ge=0, le=30, description="Secrets Manager recovery window (0 = delete at once; else 7..30).")
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
        if 0 < self.recovery_window_days < 7:
            raise _err("recoveryWindowDays", f"{self.recovery_window_days} is not 0 or 7..30 (Secrets Manager's allowed values)")
        for conn_id in self.connections:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", conn_id):
                raise _err(f"connections.{conn_id}", "conn_id may hold only letters, digits, '_' and '-'")
            if conn_id in ("databricks_default", "aws_default"):
                raise _err(f"connections.{conn_id}", "is declared by the stack itself; choose another conn_id")
            if self.backend == "kubernetes-secret" and "-" in conn_id:
                raise _err(
                    f"connections.{conn_id}",
                    "Airflow looks the connection up as AIRFLOW_CONN_<CONN_ID>, and '-' is not allowed in an environment "
                    "variable name: use '_' in the conn_id with the kubernetes-secret backend",
                )
        return self


# --------------------------------------------------------------------------- Kubernetes


class ImagesConfig(Block):
    serving: str = Field(
        "combustml/mleap-spring-boot:0.21.0",
        min_length=1,
        description="MLeap serving image (HTTP on servingPort). Build your own for MLeap >= 0.22; pin by digest in prod.",
    )
    init: str = Field(
        "public.ecr.aws/aws-cli/aws-cli:2.22.35",
        min_length=1,
        description="Init image with the AWS CLI that downloads and verifies the bundle; pin by digest in prod.",
    )


class KubernetesConfig(Block):
    context: Optional[str] = Field(None, description="kubeconfig context Pulumi deploys with (default: the current context).")
    cluster_name: str = Field(min_length=1, description="EKS cluster name (labels, documentation).")
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
        for ns in v:
            if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", ns):
                raise ValueError(f"{ns!r} is not a namespace name (DNS label)")
        return v

    @field_validator("allowed_pod_labels")
    @classmethod
    def _pod_labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not re.fullmatch(r"([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", key):
                raise ValueError(f"{key!r} is not a label key")
            if not re.fullmatch(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?", value):
                raise ValueError(f"{key}: {value!r} is not a label value")
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
        return v

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if key in PLATFORM_TASK_PARAMETERS:
                raise ValueError(f"{key!r} is set by the platform (reserved: {', '.join(PLATFORM_TASK_PARAMETERS)})")
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
                raise ValueError(f"{key!r} is not a parameter name (letters, digits, '_' and '-')")
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
        if not self.requests.cpu:
            raise _err("requests.cpu", "is required: the HPA scales on CPU utilization of the request")
        if _mem_bytes(self.limits.memory) < _mem_bytes(self.requests.memory):
            raise _err("limits.memory", f"{self.limits.memory} is below requests.memory ({self.requests.memory})")
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


class StackConfig(Block):
    """The whole of one stack's configuration (keys under ``model-platform:``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=_camel, populate_by_name=True, arbitrary_types_allowed=True
    )

    environment: Environment = Field(description="dev, staging or prod; prod turns on production requirements.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags/labels on every resource (e.g. team, cost-centre).")
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


def _cross_stack_problems(cfg: StackConfig) -> list[tuple[str, str]]:
    """Rules spanning blocks, and the production requirements."""
    out: list[tuple[str, str]] = []
    db = cfg.databricks
    if db.auth == "token" and cfg.databricks_token is None:
        out.append(("databricksToken", "is required when databricks.auth is 'token' (pulumi config set --secret databricksToken)"))
    if db.auth == "oauth-m2m" and cfg.databricks_client_secret is None:
        out.append(
            ("databricksClientSecret", "is required when databricks.auth is 'oauth-m2m' (pulumi config set --secret databricksClientSecret)")
        )
    for conn_id, conn in cfg.airflow.connections.items():
        if conn.password_key and conn.password_key not in cfg.extra_secrets:
            out.append(
                (f"airflow.connections.{conn_id}.passwordKey", f"names {conn.password_key!r}, which is not a secure key of this stack")
            )
    for name, model in cfg.models.items():
        node = model.training.node_type
        if node and node not in db.node_types:
            out.append((f"models.{name}.training.nodeType", f"{node!r} is not in databricks.nodeTypes {db.node_types}"))
        if model.training.num_workers > db.cluster_policy.max_workers:
            out.append(
                (f"models.{name}.training.numWorkers", f"{model.training.num_workers} is greater than databricks.clusterPolicy.maxWorkers ({db.cluster_policy.max_workers})")
            )
    if cfg.production:
        images = {"kubernetes.images.serving": cfg.kubernetes.images.serving, "kubernetes.images.init": cfg.kubernetes.images.init}
        images.update({f"models.{n}.serving.image": m.serving.image for n, m in cfg.models.items() if m.serving.image})
        for path, image in images.items():
            if not IMAGE_DIGEST.search(image):
                out.append((path, f"{image!r} must be pinned by digest (…@sha256:<64 hex>) in prod"))
        for name, model in cfg.models.items():
            if model.serving.replicas.min < 2:
                out.append((f"models.{name}.serving.replicas.min", f"{model.serving.replicas.min} is below 2, the prod minimum"))
        if cfg.bundle_store.protect is False:
            out.append(("bundleStore.protect", "cannot be false in prod: the bundles are the only copy of every model"))
        if cfg.airflow.recovery_window_days == 0:
            out.append(("airflow.recoveryWindowDays", "cannot be 0 in prod: keep a recovery window of 7..30 days"))
    return out


# --------------------------------------------------------------------------- Parsing


def _format_loc(loc: tuple[Any, ...], ctx: Mapping[str, Any] | None) -> str:
    parts = [str(p) for p in loc]
    if ctx and ctx.get("subpath"):
        parts.append(str(ctx["subpath"]))
    return f"{PROJECT}:" + ".".join(parts)


def _describe(error: Mapping[str, Any]) -> str:
    kind, msg, value = error["type"], error["msg"], error.get("input")
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        if _CREDENTIAL_FIELD.search(key):
            return "is a credential: set it as a secure top-level key (pulumi config set --secret ...), never in plain text"
        return "unknown key (typo?)"
    if kind == "missing":
        return "is required"
    if kind == "cross_field":
        return msg
    if kind == "string_pattern_mismatch" and isinstance(value, str):
        return f"{value!r} does not match {error['ctx']['pattern']}"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if isinstance(value, (str, int, float, bool)) and not isinstance(value, dict):
        return f"{value!r}: {msg}"
    return msg


def parse_stack_config(
    values: Mapping[str, Any], secret_keys: frozenset[str] | set[str], source: str
) -> StackConfig:
    """Parse the project-namespace config of one stack.

    ``values`` maps keys without the ``model-platform:`` prefix to decoded values
    (objects already JSON-decoded); ``secret_keys`` names those that were secure.
    Raises ConfigError listing every problem, each with its full key path.
    """
    problems: list[str] = []
    data: dict[str, Any] = {}
    extra: dict[str, SecretValue] = {}
    known = set(StackConfig.model_fields) | {f.alias for f in StackConfig.model_fields.values() if f.alias}
    for key, value in values.items():
        path = f"{PROJECT}:{key}"
        if key in secret_keys:
            if not isinstance(value, str) or not value:
                problems.append(f"{path}: a secure value must be a non-empty string")
            elif key in CREDENTIAL_KEYS:
                data[key] = SecretValue(value)
            else:
                extra[key] = SecretValue(value)
            continue
        if key in CREDENTIAL_KEYS or (key not in known and _CREDENTIAL_FIELD.search(key)):
            problems.append(f"{path}: is a credential in plain text: set it with 'pulumi config set --secret {key}'")
            continue
        if key == "extraSecrets" or key not in known:
            problems.append(f"{path}: unknown key (typo?)")
            continue
        data[key] = value
    models = data.get("models")
    if isinstance(models, Mapping):
        for name in models:
            if not re.fullmatch(MODEL_NAME, str(name)):
                problems.append(
                    f"{PROJECT}:models.{name}: model name must be a DNS label: lowercase letters, digits and '-', "
                    "at most 40 characters"
                )
    data["extraSecrets"] = extra
    try:
        cfg = StackConfig.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(f"{_format_loc(error['loc'], error.get('ctx'))}: {_describe(error)}")
        raise ConfigError(source, problems) from None
    plain = {p.split(":", 2)[1] for p in problems}  # keys already reported as plain-text credentials
    problems += [f"{PROJECT}:{path}: {msg}" for path, msg in _cross_stack_problems(cfg) if path not in plain]
    if problems:
        raise ConfigError(source, problems)
    return cfg
