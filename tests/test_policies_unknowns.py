"""Rules judge a preview of a new stack: ids the cloud assigns on create are unknown, the rest is judged.

``pulumi preview`` (and ``modelctl check``) sends such a value as the engine's
unknown sentinel. A rule that touches one would make pulumi_policy report
"can't run policy ... during preview" and judge nothing else of the resource;
these rules read around them: an unknown id is an id that is set, joins go by
the engine's property dependencies, and everything known is still judged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as UNKNOWN

from model_platform_policy import airflow, credentials, databricks, s3, stack_config
from model_platform_policy import types as t
from model_platform_policy.testing import resource, violations

BUCKET = "model-platform-prod-bundles-444455556666"


@pytest.fixture
def stack_objects(monkeypatch) -> dict[str, Any]:
    """The stack config objects rules read (``airflow``, ``bundleStore``), empty unless a test sets them."""
    values: dict[str, Any] = {}
    monkeypatch.setattr(stack_config, "stack_object", lambda key: values.get(key, {}))
    return values


def test_an_unknown_id_is_no_credential_but_the_rest_of_the_resource_is_still_read():
    version = resource(t.SM_SECRET_VERSION, {"secretId": UNKNOWN, "secretString": "[secret]"})
    assert violations(credentials.no_plain_credentials, version) == []
    leaky = resource(
        "databricks:index/permissions:Permissions",
        {"jobId": UNKNOWN, "description": "token dapi" + "0" * 32, "accessControls": [UNKNOWN]},
    )
    assert violations(credentials.no_plain_credentials, leaky) == [
        "description contains what looks like a Databricks personal access token"
    ]


def test_a_cluster_under_a_policy_created_in_the_same_update_is_under_a_policy():
    cluster = resource(t.DB_CLUSTER, {"policyId": UNKNOWN, "autoterminationMinutes": 30})
    assert violations(databricks.under_policy, cluster) == []
    assert violations(databricks.under_policy, resource(t.DB_CLUSTER, {"autoterminationMinutes": 30})) == [
        "cluster has no policyId"
    ]


def _policy(max_workers: int) -> Any:
    definition = {
        "num_workers": {"type": "range", "maxValue": max_workers},
        "autoscale.max_workers": {"type": "range", "maxValue": max_workers},
    }
    return resource(t.DB_CLUSTER_POLICY, {"definition": json.dumps(definition)}, name="training-policy")


def test_a_job_cluster_joins_its_policy_by_dependency_when_the_policy_id_is_unknown():
    policy = _policy(4)
    job = resource(
        t.DB_JOB,
        {"jobClusters": [{"jobClusterKey": "training", "newCluster": {"policyId": UNKNOWN, "numWorkers": 6}}]},
        name="days-to-sell-training",
        dependencies={"jobClusters": [policy]},
    )
    assert violations(databricks.workers_capped, [policy, job], {"maxWorkers": 32}) == [
        "days-to-sell-training: job cluster 'training' asks for 6 workers, above its policy's 4"
    ]


def test_a_secret_version_joins_its_secret_by_dependency_when_the_secret_id_is_unknown(stack_objects):
    resources = []
    for conn_id in ("databricks_default", "aws_default"):
        secret = resource(t.SM_SECRET, {"name": f"airflow/connections/{conn_id}"}, name=f"connection-{conn_id}")
        version = resource(
            t.SM_SECRET_VERSION,
            {"secretId": UNKNOWN, "secretString": "[secret]"},
            name=f"connection-{conn_id}",
            dependencies={"secretId": [secret]},
        )
        resources += [secret, version]
    assert violations(airflow.connection_secrets, resources) == []
    unjoined = [r for r in resources if r.resource_type == t.SM_SECRET] + [
        resource(t.SM_SECRET_VERSION, {"secretId": UNKNOWN, "secretString": "[secret]"}, name="stray")
    ]
    assert len(violations(airflow.connection_secrets, unjoined)) == 2, "an unknown id joins nothing by value"


def test_sse_kms_with_the_key_the_stack_creates_is_a_customer_managed_key(stack_objects):
    bucket = resource(t.BUCKET, {"bucket": BUCKET}, name="bundle-store-bucket")
    encryption = resource(
        t.BUCKET_ENCRYPTION,
        {"bucket": BUCKET, "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN}}]},
    )
    assert violations(s3.bucket_encrypted, [bucket, encryption], {"requireKms": True}) == []
    aws_managed = resource(
        t.BUCKET_ENCRYPTION,
        {"bucket": BUCKET, "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/aws/s3"}}]},
    )
    assert violations(s3.bucket_encrypted, [bucket, aws_managed], {"requireKms": True})
