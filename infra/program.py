"""The program: parse the stack config, build the components, export outputs.

``pulumi up`` runs it through ``infra/__main__.py``; ``modelctl`` runs the very
same ``main()`` under Pulumi's mock engine.

This is the one place that reads the whole ``StackConfig``: each ``*_args``
function below picks what one component depends on (a model's own settings,
the names and the few stack facts it needs), so a component's signature says
what it depends on. Every component gets its explicit providers here; the
stack's AWS tags are the AWS provider's ``default_tags`` (infra/providers.py).
"""

from __future__ import annotations

import pulumi

from infra.components.airflow import AirflowArgs, AirflowConnections, KubernetesSecretStore, SecretsManagerStore
from infra.components.airflow_dags import AirflowDags, AirflowDagsArgs, DagDelivery
from infra.components.bundle_reader import ServingIdentity, fit_role_name
from infra.components.bundle_store import BundleStore, BundleStoreArgs, ServedVersion, StoreProtection, StoreReader
from infra.components.discovery_cluster import DiscoverySettings
from infra.components.model_serving import Ingress, ModelServingArgs, Rollout
from infra.components.serving import Serving, ServingArgs, ServingNamespace
from infra.components.training import Training, TrainingArgs
from infra.components.training_identity import IdentitySettings, PassRoleGrant, package_object_arns
from infra.components.training_job import TrainingJobSettings
from infra.components.training_policy import TeamClusterPolicyArgs
from infra.config import ModelConfig, StackConfig, parse_stack_config
from infra.documents.airflow import SecretPrefixes, aws_connection, databricks_connection, stack_connections
from infra.documents.dag_package import dag_files
from infra.documents.databricks import ClusterPolicyLimits, ClusterShape
from infra.documents.kubernetes import ServerSettings, Track, resource_amounts
from infra.documents.serving import Autoscaling, Callers, IngressRoute
from infra.contract.layout import bundle_keys
from infra.contract.naming import required_labels
from infra.naming import aws_tags, k8s_labels, physical_name, service_account_name, training_role_name
from infra.providers import make_providers
from infra.stack_source import read_runtime_config, stack_file_label


def load_config() -> StackConfig:
    """The stack's typed config, or ConfigError listing every problem."""
    values, secret_keys = read_runtime_config()
    stack = pulumi.get_stack()
    return parse_stack_config(values, secret_keys, source=stack_file_label(stack), stack=stack)


def build(cfg: StackConfig) -> None:
    """Declare every resource of the stack and export its outputs."""
    providers = make_providers(cfg)

    store = BundleStore("bundle-store", bundle_store_args(cfg), pulumi.ResourceOptions(providers=[providers.aws]))
    training = Training(
        "training",
        training_args(cfg, bucket_name=store.bucket_name, writer_policy_arn=store.writer_policy_arn),
        pulumi.ResourceOptions(providers=[providers.aws, providers.databricks]),
    )
    airflow = AirflowConnections(
        "airflow",
        airflow_args(cfg, bucket_name=store.bucket_name, job_ids=training.job_ids),
        pulumi.ResourceOptions(providers=[providers.aws, providers.kubernetes]),
    )
    dags = AirflowDags(
        "airflow-dags",
        AirflowDagsArgs(delivery=dag_delivery(cfg), bucket_arn=store.bucket_arn, kms_key_arn=store.kms_key_arn),
        pulumi.ResourceOptions(providers=[providers.aws, providers.kubernetes]),
    )
    serving = Serving(
        "serving",
        serving_args(cfg, bucket_name=store.bucket_name, reader_role_arns=store.reader_role_arns),
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


# --------------------------------------------------------------------------- bundle store


def serving_identity(cfg: StackConfig, model: str) -> ServingIdentity:
    k = cfg.kubernetes
    return ServingIdentity(
        oidc_provider_arn=k.oidc_provider_arn,
        oidc_issuer=k.oidc_issuer,
        namespace=k.namespace,
        service_account=service_account_name(model),
    )


def bundle_store_args(cfg: StackConfig) -> BundleStoreArgs:
    store = cfg.bundle_store
    return BundleStoreArgs(
        bucket_name=cfg.bucket_name,
        region=cfg.aws.region,
        account_id=cfg.aws.account_id,
        protection=StoreProtection(
            encryption=store.encryption,
            kms_key_arn=store.kms_key_arn,
            noncurrent_version_days=store.noncurrent_version_days,
            abort_multipart_days=store.abort_multipart_days,
            work_expiration_days=store.work_expiration_days,
            protect=cfg.protect_data,
        ),
        writer_policy_name=physical_name(cfg, "bundles-writer"),
        key_alias_name=physical_name(cfg, "bundles"),
        writer_role_name=training_role_name(cfg),
        served={m: ServedVersion(version=c.version, bundle_sha256=c.bundle_sha256) for m, c in cfg.models.items()},
        readers={
            m: StoreReader(role_name=fit_role_name(physical_name(cfg, m, "reader")), identity=serving_identity(cfg, m))
            for m in cfg.models
        },
    )


# --------------------------------------------------------------------------- training


def cluster_shape(cfg: StackConfig) -> ClusterShape:
    db = cfg.databricks
    return ClusterShape(
        spark_version=db.spark_version,
        mleap_version=db.mleap_version,
        default_node_type=db.default_node_type,
        driver_node_type=db.driver_node_type_or_default,
    )


def training_args(cfg: StackConfig, *, bucket_name: pulumi.Input[str], writer_policy_arn: pulumi.Input[str]) -> TrainingArgs:
    db, shape = cfg.databricks, cluster_shape(cfg)
    discovery = db.discovery_cluster
    return TrainingArgs(
        policy=TeamClusterPolicyArgs(
            policy_name=physical_name(cfg, "training"),
            description=f"Clusters of {db.team_group} for {cfg.environment.value} model training (managed by Pulumi).",
            team_group=db.team_group,
            limits=ClusterPolicyLimits(
                spark_version=db.spark_version,
                node_types=tuple(db.node_types),
                default_node_type=db.default_node_type,
                driver_node_type=db.driver_node_type_or_default,
                max_workers=db.cluster_policy.max_workers,
                autotermination_minutes=db.cluster_policy.autotermination_minutes,
                custom_tags=aws_tags(cfg),
            ),
        ),
        identity=IdentitySettings(
            role_name=training_role_name(cfg),
            package_arns=package_object_arns((m.training.package for m in cfg.models.values()), cfg.aws.region),
            pass_role=PassRoleGrant(
                cross_account_role_name=db.cross_account_role_name, policy_name=physical_name(cfg, "pass-training-role")
            )
            if db.cross_account_role_name
            else None,
        ),
        discovery=DiscoverySettings(
            cluster_name=physical_name(cfg, "discovery"),
            shape=shape,
            node_type=discovery.node_type or db.default_node_type,
            min_workers=discovery.min_workers,
            max_workers=discovery.max_workers,
            autotermination_minutes=db.discovery_autotermination_minutes,
            single_user_name=discovery.single_user_name,
            team_group=db.team_group,
            custom_tags=aws_tags(cfg),
        )
        if cfg.discovery_cluster_enabled
        else None,
        jobs={
            model: TrainingJobSettings(
                job_name=physical_name(cfg, model, "training"),
                training=m.training,
                shape=shape,
                custom_tags=aws_tags(cfg, model),
                notification_emails=tuple(db.notification_emails),
                runner_service_principal=db.airflow_service_principal,
                team_group=db.team_group,
            )
            for model, m in cfg.models.items()
        },
        bucket_name=bucket_name,
        writer_policy_arn=writer_policy_arn,
    )


# --------------------------------------------------------------------------- airflow


def airflow_args(
    cfg: StackConfig, *, bucket_name: pulumi.Input[str], job_ids: dict[str, pulumi.Output[str]]
) -> AirflowArgs:
    db, airflow = cfg.databricks, cfg.airflow
    credential = cfg.databricks_token if db.auth == "token" else cfg.databricks_client_secret
    assert credential is not None  # enforced by the config parser
    connections = stack_connections(
        databricks=databricks_connection(host=db.host, auth=db.auth, client_id=db.client_id, credential=credential),
        aws=aws_connection(region=cfg.aws.region, role_arn=airflow.aws_role_arn),
        declared=airflow.connections,
        secrets=cfg.extra_secrets,
    )
    store: SecretsManagerStore | KubernetesSecretStore
    if airflow.backend == "secrets-manager":
        store = SecretsManagerStore(
            prefixes=SecretPrefixes(connections=airflow.connections_prefix, variables=airflow.variables_prefix),
            kms_key_arn=airflow.kms_key_arn,
            recovery_window_days=airflow.recovery_window_days,
            reader_policy_name=physical_name(cfg, "airflow-secrets-reader"),
            region=cfg.aws.region,
        )
    else:
        store = KubernetesSecretStore(
            namespace=airflow.namespace,
            secret_name=airflow.secret_name,
            # The Secret belongs to no single model version.
            labels=k8s_labels(cfg, airflow.secret_name, version=None, component="airflow-connections"),
        )
    return AirflowArgs(
        store=store,
        connections=connections,
        served_versions={model: m.version for model, m in cfg.models.items()},
        bucket_name=bucket_name,
        job_ids=job_ids,
    )



def dag_delivery(cfg: StackConfig) -> DagDelivery | None:
    dags = cfg.airflow.dags
    if dags is None:
        return None
    return DagDelivery(
        dags=dags,
        backend=cfg.airflow.backend,
        namespace=cfg.airflow.namespace,
        files=dag_files(
            environment=cfg.environment.value,
            release=cfg.airflow.release,
            trainings={model: settings.training for model, settings in cfg.models.items()},
        ),
        config_map_labels=k8s_labels(cfg, dags.config_map, version=None, component="airflow-dags"),
        models=tuple(cfg.models),
        reader_policy_name=physical_name(cfg, "airflow-bundles-reader"),
        region=cfg.aws.region,
    )


# --------------------------------------------------------------------------- serving


def serving_args(
    cfg: StackConfig, *, bucket_name: pulumi.Input[str], reader_role_arns: dict[str, pulumi.Output[str]]
) -> ServingArgs:
    k = cfg.kubernetes
    namespace = ServingNamespace(
        name=k.namespace,
        create=k.create_namespace,
        labels={
            **required_labels(environment=cfg.environment.value),
            # The serving pods meet the "restricted" Pod Security Standard; enforce it.
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": f"v{k.version}",
        },
        protect=cfg.protect_data,
    )
    bucket = pulumi.Output.from_input(bucket_name)
    return ServingArgs(
        namespace=namespace,
        models={
            model: model_serving_args(cfg, model, m, bucket=bucket, reader_role_arn=reader_role_arns[model])
            for model, m in cfg.models.items()
        },
    )


def model_serving_args(
    cfg: StackConfig, model: str, m: ModelConfig, *, bucket: pulumi.Output[str], reader_role_arn: pulumi.Output[str]
) -> ModelServingArgs:
    k, serving = cfg.kubernetes, m.serving

    def rollout(track: Track, version: str, sha256: str, replicas: int | None) -> Rollout:
        return Rollout(
            track=track,
            version=version,
            bundle_sha256=sha256,
            pod_labels=k8s_labels(cfg, model, version=version),
            replicas=replicas,
            bundle_uri=bucket.apply(bundle_keys(model, version).uri),
        )

    res = serving.resources
    ingress = serving.ingress
    return ModelServingArgs(
        model=model,
        namespace=k.namespace,
        service_account_name=service_account_name(model),
        labels=k8s_labels(cfg, model, version=None),
        stable=rollout(Track.stable, m.version, m.bundle_sha256, None),
        canary=rollout(Track.canary, m.canary.version, m.canary.bundle_sha256, m.canary.replicas) if m.canary else None,
        server=ServerSettings(
            image=serving.image or k.images.serving,
            port=k.serving_port,
            max_ram_percentage=serving.max_ram_percentage,
            startup_timeout_seconds=serving.startup_timeout_seconds,
            resources={
                "requests": resource_amounts(res.requests.cpu, res.requests.memory),
                "limits": resource_amounts(res.limits.cpu, res.limits.memory),
            },
        ),
        fetch_image=k.images.init,
        region=cfg.aws.region,
        run_as_user=k.run_as_user,
        autoscaling=Autoscaling(
            min_replicas=serving.replicas.min,
            max_replicas=serving.replicas.max,
            target_cpu_utilization=serving.target_cpu_utilization,
            scale_down_stabilization_seconds=serving.scale_down_stabilization_seconds,
        ),
        callers=Callers(
            namespaces=(k.namespace, *k.allowed_namespaces),
            pod_labels=k.allowed_pod_labels,
            ingress_controller_namespace=ingress.controller_namespace if ingress else None,
        ),
        ingress=Ingress(
            route=IngressRoute(host=ingress.host, class_name=ingress.class_name, tls_secret=ingress.tls_secret),
            annotations=ingress.annotations,
        )
        if ingress
        else None,
        progress_deadline_seconds=serving.progress_deadline_seconds,
        min_ready_seconds=serving.min_ready_seconds,
        reader_role_arn=reader_role_arn,
    )
