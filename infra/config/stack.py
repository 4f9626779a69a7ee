"""The whole of one stack's configuration (``StackConfig``), and the values it is made of.

One block per section of the stack file, each in its own module; this one
puts them together and answers the questions that span sections (is the data
protected, what is the bucket called).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

from pydantic import Field
from pydantic_core import core_schema

from infra.config.airflow import AirflowConfig
from infra.config.aws import AwsConfig
from infra.config.base import Block
from infra.config.bundle_store import BundleStoreConfig
from infra.config.databricks import DatabricksConfig
from infra.config.kubernetes import KubernetesConfig
from infra.config.models import ModelConfig
from infra.config.tags import Tags
from infra.contract.naming import MAX_USER_TAGS, PLATFORM_TAG_KEYS, PROJECT
from infra.stack_source import SECRET_PLACEHOLDER  # noqa: F401 - re-exported: what a secure value reads as offline

#: Config namespaces a stack file may use besides the project's: those of the providers and of Pulumi itself.
#: Any other namespace is a typo (``model-platfrom:``) whose keys nothing would read.
FOREIGN_NAMESPACES = ("aws", "kubernetes", "databricks", "pulumi")
#: Config keys (under the project namespace) that hold credentials. They are
#: accepted only as secure values (``pulumi config set --secret KEY``).
CREDENTIAL_KEYS = ("databricksToken", "databricksClientSecret")


class Environment(str, Enum):
    dev = "dev"
    staging = "staging"
    prod = "prod"


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
    tags: Tags = Field(
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
