"""model-platform's CrossGuard policies, importable without starting the pack.

``policies/__main__.py`` hands :data:`POLICIES` to ``PolicyPack`` (which
serves the Analyzer protocol and blocks); tests and tools import the rule
modules directly.
"""

from __future__ import annotations

from pulumi_policy import Policy

from infra.contract.naming import PROJECT

from model_platform_policy import (
    airflow,
    credentials,
    databricks,
    iam,
    iam_reach,
    k8s_exposure,
    k8s_isolation,
    kubernetes,
    principals,
    s3,
    tags,
)

#: The pack is named after the project it guards.
PACK_NAME = PROJECT
DESCRIPTION = (
    "Keeps MLeap bundles safe and model serving healthy: S3, IAM, resource policies, Kubernetes, Databricks, "
    "Airflow, credentials, tags."
)

#: Every policy of the pack, grouped by concern.
POLICIES: list[Policy] = [
    *s3.POLICIES,
    *iam.POLICIES,
    *iam_reach.POLICIES,
    *principals.POLICIES,
    *kubernetes.POLICIES,
    *k8s_isolation.POLICIES,
    *k8s_exposure.POLICIES,
    *databricks.POLICIES,
    *airflow.POLICIES,
    *credentials.POLICIES,
    *tags.POLICIES,
]
