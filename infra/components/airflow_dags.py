"""The training DAG, delivered to Airflow by ``pulumi up``: a new model in the stack file gets its DAG, no other step.

The files are infra/documents/dag_package.py's (the package ``model_platform_dags``
and its manifest). Where they go follows ``airflow.backend``:

``secrets-manager`` (MWAA)
    one S3 object per file under ``<airflow.dags.folder>/model_platform_dags/``
    in the environment's bucket (``airflow.dags.bucket``); MWAA syncs the DAG
    folder from there. The stack's deploy role needs ``s3:PutObject``,
    ``s3:GetObject`` and ``s3:DeleteObject`` on those keys.
``kubernetes-secret`` (self-hosted Airflow)
    one ConfigMap (``airflow.dags.configMap`` in ``airflow.namespace``), one key
    per file, to mount at ``<DAG folder>/model_platform_dags`` in the Airflow pods
    that parse and run DAGs (kubelet refreshes a mounted ConfigMap in about a minute).

The DAG's ``verify_bundle`` task reads each run's version through the
``aws_default`` connection: the component declares the policy that allows it
(``airflowBundlesReaderPolicyArn``: get the objects of the models' versions,
and decrypt them with the store's key under SSE-KMS), to attach to the role
Airflow's tasks run as (MWAA's execution role, or ``airflow.awsRoleArn``).

None of the files holds a version, so a release (a new ``version`` and
``bundleSha256``) changes none of these resources; adding a model or changing
a schedule changes only the manifest (and the policy, which lists the models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.documents.dag_package import PACKAGE
from infra.components.moves import moved_from
from infra.config import AirflowDagsConfig
from infra.documents.iam import bundles_reader_policy

__all__ = ["AirflowDags", "AirflowDagsArgs", "DagDelivery", "bundles_reader_policy", "content_type", "object_key"]

#: Logical name of the ConfigMap (kubernetes-secret backend): fixed (the default ``airflow.dags.configMap``),
#: so renaming the ConfigMap in config updates the one resource (infra/components/moves.py).
CONFIG_MAP = "model-platform-dags"


def content_type(name: str) -> str:
    if name.endswith(".py"):
        return "text/x-python; charset=utf-8"
    if name.endswith(".json"):
        return "application/json"
    return "text/plain; charset=utf-8"


def object_key(dags: AirflowDagsConfig, name: str) -> str:
    """``<folder>/model_platform_dags/<name>``: the file's key in the MWAA environment's bucket."""
    return f"{dags.folder}/{PACKAGE}/{name}"


def object_resource_name(name: str) -> str:
    """Logical name of a file's object: ``dag-<file name>`` (``dag-manifest.json``), stable across models."""
    return f"dag-{name.lstrip('.')}"


@dataclass(frozen=True, kw_only=True)
class DagDelivery:
    """Where the DAG package goes (``airflow.dags``, by ``airflow.backend``) and what it holds."""

    dags: AirflowDagsConfig
    backend: Literal["secrets-manager", "kubernetes-secret"]
    #: The Airflow namespace (kubernetes-secret backend).
    namespace: str
    #: The package's files by name (infra/documents/dag_package.py).
    files: Mapping[str, str]
    config_map_labels: Mapping[str, str]
    #: The models whose versions the DAG reads, and the name of the policy that allows it.
    models: Sequence[str]
    reader_policy_name: str
    region: str


@dataclass(frozen=True, kw_only=True)
class AirflowDagsArgs:
    #: None when ``airflow.dags`` is unset: nothing is delivered.
    delivery: Optional[DagDelivery]
    bucket_arn: pulumi.Input[str]
    kms_key_arn: Optional[pulumi.Input[str]]


class AirflowDags(pulumi.ComponentResource):
    """The DAG package in the MWAA bucket or a ConfigMap (nothing when ``airflow.dags`` is unset)."""

    #: Where the package went: ``s3://bucket/<folder>/model_platform_dags/`` or ``configmap/<namespace>/<name>``.
    location: Optional[str]
    #: The policy the DAG's tasks need to read the runs' versions (attach it to the role they run as).
    bundles_reader_policy_arn: Optional[pulumi.Output[str]]

    def __init__(self, name: str, args: AirflowDagsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:airflow:AirflowDags", name, None, opts)
        delivery = args.delivery
        self.location = None
        self.bundles_reader_policy_arn = None
        if delivery is not None:
            if delivery.backend == "secrets-manager":
                self._objects(delivery)
            else:
                self._config_map(delivery)
            self.bundles_reader_policy_arn = self._reader_policy(delivery, args)
        self.register_outputs({"location": self.location, "bundlesReaderPolicyArn": self.bundles_reader_policy_arn})

    def _reader_policy(self, delivery: DagDelivery, args: AirflowDagsArgs) -> pulumi.Output[str]:
        models, region = sorted(delivery.models), delivery.region
        document = pulumi.Output.all(args.bucket_arn, args.kms_key_arn).apply(
            lambda values: bundles_reader_policy(values[0], models, values[1], region).to_json()
        )
        policy = aws.iam.Policy(
            "airflow-bundles-reader",
            aws.iam.PolicyArgs(
                name=delivery.reader_policy_name,
                description="Read the bundle store's model versions, as the training DAG checks each run's "
                "(attach to the role Airflow's tasks run as).",
                policy=document,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        return policy.arn

    def _objects(self, delivery: DagDelivery) -> None:
        dags = delivery.dags
        assert dags.bucket is not None  # the config requires it with this backend
        for file_name, text in delivery.files.items():
            aws.s3.BucketObjectv2(
                object_resource_name(file_name),
                aws.s3.BucketObjectv2Args(
                    bucket=dags.bucket,
                    key=object_key(dags, file_name),
                    content=text,
                    content_type=content_type(file_name),
                ),
                pulumi.ResourceOptions(parent=self),
            )
        self.location = f"s3://{dags.bucket}/{dags.folder}/{PACKAGE}/"

    def _config_map(self, delivery: DagDelivery) -> None:
        dags, namespace = delivery.dags, delivery.namespace
        k8s.core.v1.ConfigMap(
            CONFIG_MAP,
            k8s.core.v1.ConfigMapInitArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=dags.config_map, namespace=namespace, labels=dict(delivery.config_map_labels)
                ),
                data=dict(delivery.files),
            ),
            pulumi.ResourceOptions(
                parent=self,
                # A fixed name cannot be created before the old object is deleted.
                delete_before_replace=True,
                aliases=moved_from(dags.config_map, CONFIG_MAP),
            ),
        )
        self.location = f"configmap/{namespace}/{dags.config_map}"
