"""Typed stack configuration: parsed once, validated completely, then frozen.

Every key a stack file may set is declared in this package, one module per
section of the stack file, with its type, range and default; nothing else in
the program reads ``pulumi.Config``. The schema is the single home of every
default (``modelctl config-doc`` prints them), and every error names the
stack file and the full key path (``parse``). The facts the config shares
with the policy pack and the DAG (grammars, names, thresholds) come from
``infra.contract``.

``types``         domain types, each rule declared once (bucket name, quantity, versions, digest, ARNs, ...)
``base``          the base block, ``ConfigError`` and how validators report problems
``aws``, ``bundle_store``, ``databricks``, ``airflow``, ``kubernetes``, ``tags``   the stack-wide sections
``training``, ``serving``, ``models``   a model's entry (``models.<name>``)
``stack``         ``StackConfig``: the sections together
``rules``         rules spanning sections, and the production requirements
``parse``         ``parse_stack_config``: runtime config to ``StackConfig`` or ``ConfigError``

Every name is importable from ``infra.config`` itself.
"""

from infra.config.airflow import (
    RELEASE_CONN_TYPES,
    AirflowConfig,
    AirflowConnectionConfig,
    AirflowDagsConfig,
    AirflowReleaseConfig,
)
from infra.config.aws import AwsConfig
from infra.config.base import Block, ConfigError, Problem
from infra.config.bundle_store import BundleStoreConfig
from infra.config.databricks import (
    DEFAULT_DISCOVERY_AUTOTERMINATION_MINUTES,
    ClusterPolicyConfig,
    DatabricksConfig,
    DiscoveryClusterConfig,
)
from infra.config.kubernetes import DEFAULT_SERVING_IMAGE, ImagesConfig, KubernetesConfig
from infra.config.models import CanaryConfig, ModelConfig
from infra.config.parse import parse_stack_config
from infra.config.serving import IngressConfig, ReplicasConfig, ResourceAmounts, ServingConfig, ServingResources
from infra.config.stack import (
    CREDENTIAL_KEYS,
    FOREIGN_NAMESPACES,
    SECRET_PLACEHOLDER,
    Environment,
    SecretValue,
    StackConfig,
)
from infra.config.training import (
    PACKAGE_VERSION_PLACEHOLDER,
    PLATFORM_TASK_PARAMETERS,
    ScheduleConfig,
    TrainingConfig,
)
from infra.config.types import ARN, BUCKET_NAME, GITHUB_REPOSITORY, RELATIVE_PATH, SECRET_PREFIX
from infra.contract.mleap_compat import IMAGE_VERSION_TAG, SEMVER, image_mleap_line, mleap_line
from infra.contract.model_version import IMAGE_DIGEST, MODEL_NAME, SHA256
from infra.contract.naming import (
    CANARY_SUFFIX,
    LABEL_NAME,
    LABEL_VALUE,
    MAX_USER_TAGS,
    PLATFORM_TAG_KEYS,
    PROJECT,
)

__all__ = [
    "ARN",
    "BUCKET_NAME",
    "CANARY_SUFFIX",
    "CREDENTIAL_KEYS",
    "DEFAULT_DISCOVERY_AUTOTERMINATION_MINUTES",
    "DEFAULT_SERVING_IMAGE",
    "FOREIGN_NAMESPACES",
    "GITHUB_REPOSITORY",
    "IMAGE_DIGEST",
    "IMAGE_VERSION_TAG",
    "LABEL_NAME",
    "LABEL_VALUE",
    "MAX_USER_TAGS",
    "MODEL_NAME",
    "PACKAGE_VERSION_PLACEHOLDER",
    "PLATFORM_TAG_KEYS",
    "PLATFORM_TASK_PARAMETERS",
    "PROJECT",
    "RELATIVE_PATH",
    "RELEASE_CONN_TYPES",
    "SECRET_PLACEHOLDER",
    "SECRET_PREFIX",
    "SEMVER",
    "SHA256",
    "AirflowConfig",
    "AirflowConnectionConfig",
    "AirflowDagsConfig",
    "AirflowReleaseConfig",
    "AwsConfig",
    "Block",
    "BundleStoreConfig",
    "CanaryConfig",
    "ClusterPolicyConfig",
    "ConfigError",
    "DatabricksConfig",
    "DiscoveryClusterConfig",
    "Environment",
    "ImagesConfig",
    "IngressConfig",
    "KubernetesConfig",
    "ModelConfig",
    "Problem",
    "ReplicasConfig",
    "ResourceAmounts",
    "ScheduleConfig",
    "SecretValue",
    "ServingConfig",
    "ServingResources",
    "StackConfig",
    "TrainingConfig",
    "image_mleap_line",
    "mleap_line",
    "parse_stack_config",
]
