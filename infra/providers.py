"""Explicit providers, configured from the typed stack config.

Explicit providers keep a stack from silently deploying with whatever
credentials or kube context happen to be ambient on the CI runner (or on a
laptop: `pulumi up -s prod` with the staging context current must not put
prod objects into the staging cluster). The stack files disable the default
providers (``pulumi:disable-default-providers``), so a resource declared
without one of these fails instead of falling back to ambient credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_databricks as databricks
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.naming import aws_tags

#: ExecCredential version `aws eks get-token` prints (AWS CLI v2).
EKS_EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


@dataclass(frozen=True)
class Providers:
    aws: aws.Provider
    databricks: databricks.Provider
    kubernetes: k8s.Provider

    def all(self) -> list[pulumi.ProviderResource]:
        return [self.aws, self.databricks, self.kubernetes]


def make_providers(cfg: StackConfig) -> Providers:
    aws_provider = aws.Provider(
        "aws",
        aws.ProviderArgs(
            region=cfg.aws.region,
            allowed_account_ids=[cfg.aws.account_id] if cfg.aws.account_id else None,
            # Every taggable AWS resource gets the stack's tags from here; a resource adds only its own (a model's).
            default_tags=aws.ProviderDefaultTagsArgs(tags=aws_tags(cfg)),
        ),
    )
    databricks_provider = databricks.Provider("databricks", _databricks_args(cfg))
    kubernetes_provider = k8s.Provider("kubernetes", kubernetes_provider_args(cfg, aws_provider))
    return Providers(aws_provider, databricks_provider, kubernetes_provider)


def _databricks_args(cfg: StackConfig) -> databricks.ProviderArgs:
    db = cfg.databricks
    if db.auth == "token":
        assert cfg.databricks_token is not None  # enforced by the config parser
        return databricks.ProviderArgs(host=db.host, token=pulumi.Output.secret(cfg.databricks_token.reveal()))
    assert cfg.databricks_client_secret is not None
    return databricks.ProviderArgs(
        host=db.host,
        client_id=db.client_id,
        client_secret=pulumi.Output.secret(cfg.databricks_client_secret.reveal()),
    )


def kubernetes_provider_args(cfg: StackConfig, aws_provider: aws.Provider) -> k8s.ProviderArgs:
    """Deploy to exactly the stack's cluster, never to whatever kube context is current.

    By default the kubeconfig is built for the EKS cluster ``kubernetes.clusterName``,
    looked up through the stack's own AWS provider (so in the stack's account and
    region; a missing cluster fails the preview). Its user runs
    ``aws eks get-token``: a short-lived token per use, nothing static in the state.
    ``kubernetes.context`` opts into a named context of the ambient kubeconfig
    instead (e.g. a local cluster).

    ``clusterIdentifier`` is the cluster name: a changed kubeconfig (a rotated CA,
    switching between a context and the generated kubeconfig) then updates the
    provider instead of replacing it, which would recreate every object it manages;
    naming another cluster still replaces them, as it must.
    """
    k = cfg.kubernetes
    common = {"cluster_identifier": k.cluster_name, "enable_server_side_apply": True}
    if k.context:
        return k8s.ProviderArgs(context=k.context, **common)
    cluster = aws.eks.get_cluster_output(name=k.cluster_name, opts=pulumi.InvokeOutputOptions(provider=aws_provider))
    kubeconfig = cluster.apply(
        lambda c: eks_kubeconfig(k.cluster_name, cfg.aws.region, c.endpoint, c.certificate_authorities[0].data)
    )
    return k8s.ProviderArgs(kubeconfig=kubeconfig, **common)


def eks_kubeconfig(cluster_name: str, region: str, endpoint: str, certificate_authority_data: str) -> str:
    """A kubeconfig with one cluster, one context and an ``aws eks get-token`` user, all named ``cluster_name``."""
    token_command = ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"]
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority_data}}
            ],
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": EKS_EXEC_API_VERSION,
                            "command": "aws",
                            "args": token_command,
                            "interactiveMode": "Never",  # CI has no terminal to prompt on
                        }
                    },
                }
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
        },
        sort_keys=True,
    )
