"""The Pulumi program: parse the stack config, build the components, export outputs.

``pulumi up`` runs it through ``infra/__main__.py``; ``modelctl`` runs the very
same ``main()`` under Pulumi's mock engine.
"""

from __future__ import annotations

import pulumi

from infra.components.airflow import AirflowArgs, AirflowConnections
from infra.components.airflow_dags import AirflowDags, AirflowDagsArgs
from infra.components.bundle_store import BundleStore, BundleStoreArgs
from infra.components.serving import Serving, ServingArgs
from infra.components.training import Training, TrainingArgs
from infra.config import StackConfig, parse_stack_config
from infra.providers import make_providers
from infra.stack_source import read_runtime_config, stack_file_label


def load_config() -> StackConfig:
    """The stack's typed config, or ConfigError listing every problem."""
    values, secret_keys = read_runtime_config()
    return parse_stack_config(values, secret_keys, source=stack_file_label(pulumi.get_stack()))


def build(cfg: StackConfig) -> None:
    """Declare every resource of the stack and export its outputs."""
    providers = make_providers(cfg)
    aws_opts = pulumi.ResourceOptions(providers=[providers.aws])

    store = BundleStore("bundle-store", BundleStoreArgs(cfg), aws_opts)
    training = Training(
        "training",
        TrainingArgs(cfg, bucket_name=store.bucket_name, writer_policy_arn=store.writer_policy_arn),
        pulumi.ResourceOptions(providers=[providers.aws, providers.databricks]),
    )
    airflow = AirflowConnections(
        "airflow",
        AirflowArgs(cfg, bucket_name=store.bucket_name, job_ids=training.job_ids),
        pulumi.ResourceOptions(providers=[providers.aws, providers.kubernetes]),
    )
    dags = AirflowDags(
        "airflow-dags",
        AirflowDagsArgs(cfg, bucket_arn=store.bucket_arn, kms_key_arn=store.kms_key_arn),
        pulumi.ResourceOptions(providers=[providers.aws, providers.kubernetes]),
    )
    serving = Serving(
        "serving",
        ServingArgs(cfg, bucket_name=store.bucket_name, reader_role_arns=store.reader_role_arns),
        pulumi.ResourceOptions(providers=[providers.kubernetes]),
    )

    pulumi.export("environment", cfg.environment.value)
    pulumi.export("bucketName", store.bucket_name)
    pulumi.export("bucketArn", store.bucket_arn)
    pulumi.export("kmsKeyArn", store.kms_key_arn)
    pulumi.export("writerPolicyArn", store.writer_policy_arn)
    pulumi.export("readerRoleArns", store.reader_role_arns)
    pulumi.export("clusterPolicyId", training.policy_id)
    pulumi.export("discoveryClusterId", training.cluster_id)
    pulumi.export("trainingJobIds", training.job_ids)
    pulumi.export("airflowConfigurationOptions", airflow.configuration_options)
    pulumi.export("airflowSecretsReaderPolicyArn", airflow.reader_policy_arn)
    pulumi.export("airflowDags", dags.location)
    pulumi.export("airflowBundlesReaderPolicyArn", dags.bundles_reader_policy_arn)
    pulumi.export("modelVersions", {name: m.version for name, m in cfg.models.items()})
    pulumi.export("servingEndpoints", serving.endpoints)


def main() -> None:
    """Entry point shared by ``pulumi up`` and ``modelctl``."""
    build(load_config())
