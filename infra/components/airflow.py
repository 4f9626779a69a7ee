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
in ``infra.documents.airflow``.

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
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.moves import moved_from
from infra.contract.airflow import secret_name
from infra.contract.naming import MODEL_TAG
from infra.documents.airflow import (
    AirflowConnection,
    AirflowVariable,
    SecretPrefixes,
    configuration_options,
    model_variables,
    variable_env_var,
)
from infra.documents.arns import secret_arn_base
from infra.documents.iam import secrets_reader_policy
from infra.contract.layout import bundle_keys

#: Logical name of the Kubernetes Secret (kubernetes-secret backend): fixed (the default ``airflow.secretName``),
#: so renaming the Secret in config updates the one resource instead of declaring another (infra/components/moves.py).
KUBERNETES_SECRET = "airflow-connections"


@dataclass(frozen=True, kw_only=True)
class SecretsManagerStore:
    """MWAA (``airflow.backend: secrets-manager``): a secret per connection and variable under the prefixes."""

    prefixes: SecretPrefixes
    #: The customer-managed key of the secrets (None: ``aws/secretsmanager``).
    kms_key_arn: Optional[str]
    #: Days a deleted secret stays recoverable (0: deleted at once).
    recovery_window_days: int
    #: The IAM policy that lets the MWAA execution role read them.
    reader_policy_name: str
    region: str


@dataclass(frozen=True, kw_only=True)
class KubernetesSecretStore:
    """Self-hosted Airflow (``airflow.backend: kubernetes-secret``): one Secret of ``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*``."""

    namespace: str
    secret_name: str
    labels: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class AirflowArgs:
    #: Where the connections and variables go; its type is the backend.
    store: SecretsManagerStore | KubernetesSecretStore
    #: Every connection the stack declares (``infra.documents.airflow.stack_connections``).
    connections: Sequence[AirflowConnection]
    #: Per model: the version the stack serves.
    served_versions: Mapping[str, str]
    bucket_name: pulumi.Input[str]
    job_ids: Mapping[str, pulumi.Output[str]]


def stack_variables(
    served_versions: Mapping[str, str], bucket_name: pulumi.Input[str], job_ids: Mapping[str, pulumi.Output[str]]
) -> list[AirflowVariable[Any]]:
    """Every model's variables; the bundle URI and the bucket wait for the bucket's name."""
    bucket = pulumi.Output.from_input(bucket_name)
    variables: list[AirflowVariable[Any]] = []
    for model, version in served_versions.items():
        keys = bundle_keys(model, version)
        variables += model_variables(
            model, job_id=job_ids[model], version=version, bundle_uri=bucket.apply(keys.uri), bucket=bucket
        )
    return variables


class AirflowConnections(pulumi.ComponentResource):
    """Connections and variables in Secrets Manager (MWAA) or a Kubernetes Secret."""

    configuration_options: pulumi.Output[dict]
    #: Policy granting read access to the stack's Airflow secrets (secrets-manager only):
    #: attach it to the MWAA execution role.
    reader_policy_arn: Optional[pulumi.Output[str]]

    def __init__(self, name: str, args: AirflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:airflow:AirflowConnections", name, None, opts)
        connections = list(args.connections)
        variables = stack_variables(args.served_versions, args.bucket_name, args.job_ids)
        self.reader_policy_arn = None
        if isinstance(args.store, SecretsManagerStore):
            self._declare_secrets_manager(args.store, connections, variables)
            self.configuration_options = pulumi.Output.from_input(configuration_options(args.store.prefixes))
        else:
            self._declare_kubernetes_secret(args.store, connections, variables)
            self.configuration_options = pulumi.Output.from_input({})
        self.register_outputs(
            {"configurationOptions": self.configuration_options, "readerPolicyArn": self.reader_policy_arn}
        )

    def _declare_secrets_manager(
        self, store: SecretsManagerStore, connections: list[AirflowConnection], variables: list[AirflowVariable[Any]]
    ) -> None:
        secrets = [
            self._secret(
                f"connection-{conn.conn_id}",
                secret_name(store.prefixes.connections, conn.conn_id),
                pulumi.Output.secret(conn.to_json()),
                f"Airflow connection {conn.conn_id}",
                None,
                store,
            )
            for conn in connections
        ]
        for var in variables:
            self._secret(
                var.resource_name,
                secret_name(store.prefixes.variables, var.name),
                var.value,
                f"Airflow variable {var.name}",
                {MODEL_TAG: var.model},
                store,
            )
        # The ARN prefix (partition, region, account) comes from a secret the stack created:
        # exact even when aws.accountId is unset, with no '*' account and no GetCallerIdentity call.
        prefixes = (store.prefixes.connections, store.prefixes.variables)  # all under both (SecretPrefixes)
        kms_key_arn, region = store.kms_key_arn, store.region
        policy = aws.iam.Policy(
            "secrets-reader",
            aws.iam.PolicyArgs(
                name=store.reader_policy_name,
                description="Read the Airflow connections and variables this stack declares (attach to the MWAA execution role).",
                policy=secrets[0].arn.apply(
                    lambda arn: secrets_reader_policy(secret_arn_base(arn), prefixes, kms_key_arn, region).to_json()
                ),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.reader_policy_arn = policy.arn

    def _secret(
        self,
        name: str,
        physical: str,
        value: pulumi.Input[str],
        what: str,
        tags: Optional[dict[str, str]],
        store: SecretsManagerStore,
    ) -> aws.secretsmanager.Secret:
        """A secret and its value; ``tags`` only where they add to the provider's default tags (a model's)."""
        secret = aws.secretsmanager.Secret(
            name,
            aws.secretsmanager.SecretArgs(
                name=physical,
                description=f"{what}; managed by Pulumi: change the stack file, not this secret.",
                kms_key_id=store.kms_key_arn,
                recovery_window_in_days=store.recovery_window_days,
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
        self, store: KubernetesSecretStore, connections: list[AirflowConnection], variables: list[AirflowVariable[Any]]
    ) -> None:
        string_data: dict[str, pulumi.Input[str]] = {c.env_var: pulumi.Output.secret(c.to_json()) for c in connections}
        string_data.update({variable_env_var(v.name): v.value for v in variables})
        k8s.core.v1.Secret(
            KUBERNETES_SECRET,
            k8s.core.v1.SecretInitArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=store.secret_name, namespace=store.namespace, labels=dict(store.labels)
                ),
                type="Opaque",
                string_data=string_data,
            ),
            pulumi.ResourceOptions(
                parent=self,
                # A fixed name cannot be created before the old object is deleted.
                delete_before_replace=True,
                # Stacks created when the logical name was the Secret's name move to the fixed one.
                aliases=moved_from(store.secret_name, KUBERNETES_SECRET),
            ),
        )
