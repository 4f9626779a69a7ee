"""Explicit providers, configured from the typed stack config.

Explicit providers keep a stack from silently deploying with whatever
credentials or kube context happen to be ambient on the CI runner.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_databricks as databricks
import pulumi_kubernetes as k8s

from infra.config import StackConfig


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
        ),
    )
    db = cfg.databricks
    if db.auth == "token":
        assert cfg.databricks_token is not None  # enforced by the config parser
        db_args = databricks.ProviderArgs(host=db.host, token=pulumi.Output.secret(cfg.databricks_token.reveal()))
    else:
        assert cfg.databricks_client_secret is not None
        db_args = databricks.ProviderArgs(
            host=db.host,
            client_id=db.client_id,
            client_secret=pulumi.Output.secret(cfg.databricks_client_secret.reveal()),
        )
    databricks_provider = databricks.Provider("databricks", db_args)
    kubernetes_provider = k8s.Provider(
        "kubernetes",
        k8s.ProviderArgs(context=cfg.kubernetes.context, enable_server_side_apply=True),
    )
    return Providers(aws_provider, databricks_provider, kubernetes_provider)
