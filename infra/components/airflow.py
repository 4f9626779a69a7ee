"""Airflow connections and variables the training DAG uses, declared by the stack.

Two backends, chosen by ``airflow.backend``:

``secrets-manager`` (MWAA, the default)
    One Secrets Manager secret per connection (``<connectionsPrefix>/<conn_id>``)
    and per variable (``<variablesPrefix>/<name>``), plus an IAM policy that
    lets the MWAA execution role read them. ``configuration_options`` is what
    to set as the environment's ``airflow_configuration_options``.
``kubernetes-secret`` (self-hosted Airflow)
    One Secret in the Airflow namespace with ``AIRFLOW_CONN_<ID>`` and
    ``AIRFLOW_VAR_<NAME>`` keys, for the Airflow pods' ``envFrom``. Airflow
    reads environment variables when a process starts: pods started before a
    change keep the old values until they restart.

Connection values carry credentials, so each is a Pulumi secret from the
moment it is built. Variable values (job ids, versions, bundle URIs, the bucket) are not
credentials, but both providers store a secret's whole payload as a Pulumi
secret, so plans show them redacted too; ``modelVersions`` and
``trainingJobIds`` are the readable stack outputs. The contents are described
in ``infra.components.airflow_connections``.

Secret names are fixed (``<prefix>/<id>``), and Secrets Manager keeps a
deleted secret's name for its recovery window (``airflow.recoveryWindowDays``,
7 to 30 days): re-adding a model or connection removed within that window
fails with "... is scheduled for deletion". Either bring the old secret back
(``aws secretsmanager restore-secret --secret-id NAME``) and adopt it
(``pulumi import aws:secretsmanager/secret:Secret <logical name> <secret ARN>``
with ``--parent`` and ``--provider`` set to the URNs of the ``airflow``
component and the ``aws`` provider, listed by ``pulumi stack --show-urns``;
logical names are ``connection-<conn_id>`` and ``variable-<model>-<kind>``),
then ``pulumi up`` writes the new value; or, when the old value is of no
use, delete it for good (``aws secretsmanager delete-secret --secret-id NAME
--force-delete-without-recovery``) and ``pulumi up``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.airflow_connections import (
    AirflowConnection,
    configuration_options,
    model_variable_names,
    secret_name,
    stack_connections,
    variable_env_var,
)
from infra.components.iam_documents import secret_arn_base, secrets_reader_policy
from infra.config import StackConfig
from infra.layout import bundle_keys
from infra.naming import aws_tags, k8s_labels, physical_name


@dataclass(frozen=True)
class AirflowArgs:
    config: StackConfig
    bucket_name: pulumi.Input[str]
    job_ids: dict[str, pulumi.Output[str]]


@dataclass(frozen=True)
class AirflowVariable:
    """One Airflow variable of one model."""

    name: str
    value: pulumi.Input[str]
    model: str
    kind: str

    @property
    def resource_name(self) -> str:
        """Logical name: the model name as written, so a model's resources are easy to find in a diff."""
        return f"variable-{self.model}-{self.kind}"


def model_variables(
    cfg: StackConfig, bucket_name: pulumi.Input[str], job_ids: dict[str, pulumi.Output[str]]
) -> list[AirflowVariable]:
    """Per model: the training job id, the served version and bundle URI, and the bucket (the schedule is the DAG
    manifest's, infra/components/dag_files.py)."""
    variables: list[AirflowVariable] = []
    bucket = pulumi.Output.from_input(bucket_name)
    for model, model_cfg in cfg.models.items():
        names = model_variable_names(model)
        keys = bundle_keys(model, model_cfg.version)
        variables += [
            AirflowVariable(names.training_job_id, job_ids[model], model, "training-job-id"),
            AirflowVariable(names.version, model_cfg.version, model, "version"),
            AirflowVariable(names.bundle_uri, bucket.apply(keys.uri), model, "bundle-uri"),
            AirflowVariable(names.bundle_bucket, bucket, model, "bundle-bucket"),
        ]
    return variables


class AirflowConnections(pulumi.ComponentResource):
    """Connections and variables in Secrets Manager (MWAA) or a Kubernetes Secret."""

    configuration_options: pulumi.Output[dict]
    #: Policy granting read access to the stack's Airflow secrets (secrets-manager only):
    #: attach it to the MWAA execution role.
    reader_policy_arn: Optional[pulumi.Output[str]]

    def __init__(self, name: str, args: AirflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:airflow:AirflowConnections", name, None, opts)
        cfg = args.config
        connections = stack_connections(cfg)
        variables = model_variables(cfg, args.bucket_name, args.job_ids)
        self.reader_policy_arn = None
        if cfg.airflow.backend == "secrets-manager":
            self._declare_secrets_manager(cfg, connections, variables)
            self.configuration_options = pulumi.Output.from_input(configuration_options(cfg.airflow))
        else:
            self._declare_kubernetes_secret(cfg, connections, variables)
            self.configuration_options = pulumi.Output.from_input({})
        self.register_outputs(
            {"configurationOptions": self.configuration_options, "readerPolicyArn": self.reader_policy_arn}
        )

    def _declare_secrets_manager(
        self, cfg: StackConfig, connections: list[AirflowConnection], variables: list[AirflowVariable]
    ) -> None:
        airflow = cfg.airflow
        secrets = [
            self._secret(
                f"connection-{conn.conn_id}",
                secret_name(airflow.connections_prefix, conn.conn_id),
                pulumi.Output.secret(conn.to_json()),
                f"Airflow connection {conn.conn_id}",
                aws_tags(cfg),
                cfg,
            )
            for conn in connections
        ]
        for var in variables:
            self._secret(
                var.resource_name,
                secret_name(airflow.variables_prefix, var.name),
                var.value,
                f"Airflow variable {var.name}",
                aws_tags(cfg, var.model),
                cfg,
            )
        # The ARN prefix (partition, region, account) comes from a secret the stack created:
        # exact even when aws.accountId is unset, with no '*' account and no GetCallerIdentity call.
        prefixes = reader_policy_prefixes(cfg)
        kms_key_arn, region = airflow.kms_key_arn, cfg.aws.region
        policy = aws.iam.Policy(
            "secrets-reader",
            aws.iam.PolicyArgs(
                name=physical_name(cfg, "airflow-secrets-reader"),
                description="Read the Airflow connections and variables this stack declares (attach to the MWAA execution role).",
                policy=secrets[0].arn.apply(
                    lambda arn: secrets_reader_policy(secret_arn_base(arn), prefixes, kms_key_arn, region).to_json()
                ),
                tags=aws_tags(cfg),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.reader_policy_arn = policy.arn

    def _secret(
        self, name: str, physical: str, value: pulumi.Input[str], what: str, tags: dict[str, str], cfg: StackConfig
    ) -> aws.secretsmanager.Secret:
        secret = aws.secretsmanager.Secret(
            name,
            aws.secretsmanager.SecretArgs(
                name=physical,
                description=f"{what}; managed by Pulumi: change the stack file, not this secret.",
                kms_key_id=cfg.airflow.kms_key_arn,
                recovery_window_in_days=cfg.airflow.recovery_window_days,
                tags=tags,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        aws.secretsmanager.SecretVersion(
            name,
            aws.secretsmanager.SecretVersionArgs(secret_id=secret.id, secret_string=value),
            pulumi.ResourceOptions(parent=secret),
        )
        return secret

    def _declare_kubernetes_secret(
        self, cfg: StackConfig, connections: list[AirflowConnection], variables: list[AirflowVariable]
    ) -> None:
        airflow = cfg.airflow
        string_data: dict[str, pulumi.Input[str]] = {c.env_var: pulumi.Output.secret(c.to_json()) for c in connections}
        string_data.update({variable_env_var(v.name): v.value for v in variables})
        k8s.core.v1.Secret(
            airflow.secret_name,
            k8s.core.v1.SecretInitArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=airflow.secret_name, namespace=airflow.namespace, labels=secret_labels(cfg)
                ),
                type="Opaque",
                string_data=string_data,
            ),
            # A fixed name cannot be created before the old object is deleted.
            pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )


def secret_labels(cfg: StackConfig) -> dict[str, str]:
    """The stack's recommended labels for the Airflow Secret, which belongs to no single model version."""
    return k8s_labels(cfg, cfg.airflow.secret_name, version=None, component="airflow-connections")


def reader_policy_prefixes(cfg: StackConfig) -> tuple[str, str]:
    """Read access covers everything under both prefixes, not only the secrets declared here.

    Airflow asks the backend for every connection it looks up, and a denied
    lookup fails the task where a missing secret would fall back to the
    metadata database.
    """
    return cfg.airflow.connections_prefix, cfg.airflow.variables_prefix
