"""The training DAG, delivered to Airflow by ``pulumi up``: a new model in the stack file gets its DAG, no other step.

The files are infra/components/dag_files.py's (the package ``model_platform_dags``
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
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.dag_files import PACKAGE, dag_files
from infra.components.iam_documents import Condition, PolicyDocument, Statement, version_objects_arn
from infra.config import AirflowDagsConfig, StackConfig
from infra.naming import aws_tags, k8s_labels, physical_name


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


def bundles_reader_policy(
    bucket_arn: str, models: Sequence[str], kms_key_arn: Optional[str], region: str
) -> PolicyDocument:
    """What the DAG reads of a run: the objects of the models' versions (``<model>/*/*``), decrypted through S3."""
    statements = [
        Statement(
            sid="ReadRunVersions",
            effect="Allow",
            actions=("s3:GetObject",),
            resources=tuple(version_objects_arn(bucket_arn, model) for model in models),
        )
    ]
    if kms_key_arn:
        statements.append(
            Statement(
                sid="DecryptRunVersions",
                effect="Allow",
                actions=("kms:Decrypt",),
                resources=(kms_key_arn,),
                conditions=(Condition("StringEquals", "kms:ViaService", (f"s3.{region}.amazonaws.com",)),),
            )
        )
    return PolicyDocument(tuple(statements))


@dataclass(frozen=True)
class AirflowDagsArgs:
    config: StackConfig
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
        cfg = args.config
        dags = cfg.airflow.dags
        self.location = None
        self.bundles_reader_policy_arn = None
        if dags is not None:
            files = dag_files(cfg)
            if cfg.airflow.backend == "secrets-manager":
                self._objects(cfg, dags, files)
            else:
                self._config_map(cfg, dags, files)
            self.bundles_reader_policy_arn = self._reader_policy(cfg, args)
        self.register_outputs({"location": self.location, "bundlesReaderPolicyArn": self.bundles_reader_policy_arn})

    def _reader_policy(self, cfg: StackConfig, args: AirflowDagsArgs) -> pulumi.Output[str]:
        models, region = sorted(cfg.models), cfg.aws.region
        document = pulumi.Output.all(args.bucket_arn, args.kms_key_arn).apply(
            lambda values: bundles_reader_policy(values[0], models, values[1], region).to_json()
        )
        policy = aws.iam.Policy(
            "airflow-bundles-reader",
            aws.iam.PolicyArgs(
                name=physical_name(cfg, "airflow-bundles-reader"),
                description="Read the bundle store's model versions, as the training DAG checks each run's "
                "(attach to the role Airflow's tasks run as).",
                policy=document,
                tags=aws_tags(cfg),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        return policy.arn

    def _objects(self, cfg: StackConfig, dags: AirflowDagsConfig, files: dict[str, str]) -> None:
        assert dags.bucket is not None  # the config requires it with this backend
        for file_name, text in files.items():
            aws.s3.BucketObjectv2(
                object_resource_name(file_name),
                aws.s3.BucketObjectv2Args(
                    bucket=dags.bucket,
                    key=object_key(dags, file_name),
                    content=text,
                    content_type=content_type(file_name),
                    tags=aws_tags(cfg),
                ),
                pulumi.ResourceOptions(parent=self),
            )
        self.location = f"s3://{dags.bucket}/{dags.folder}/{PACKAGE}/"

    def _config_map(self, cfg: StackConfig, dags: AirflowDagsConfig, files: dict[str, str]) -> None:
        namespace = cfg.airflow.namespace
        k8s.core.v1.ConfigMap(
            dags.config_map,
            k8s.core.v1.ConfigMapInitArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=dags.config_map,
                    namespace=namespace,
                    labels=k8s_labels(cfg, dags.config_map, version=None, component="airflow-dags"),
                ),
                data=files,
            ),
            # A fixed name cannot be created before the old object is deleted.
            pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.location = f"configmap/{namespace}/{dags.config_map}"
