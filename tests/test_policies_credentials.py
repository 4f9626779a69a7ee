"""no-plain-credentials, called directly: credentials belong in secret fields, never in plain inputs."""

from __future__ import annotations


import pytest


from model_platform_policy import credentials  # noqa: E402
from model_platform_policy import types as t  # noqa: E402
from model_platform_policy.testing import resource, violations  # noqa: E402

TOKEN = "dapi" + "0123456789abcdef" * 2  # shaped like a Databricks personal access token


def deployment_env(*env: dict) -> dict:
    return {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "mleap", "env": list(env)}]}}}}


@pytest.mark.parametrize(
    "resource_type, props",
    [
        (
            t.SM_SECRET_VERSION,
            {"secretId": "arn:aws:secretsmanager:eu-west-2:1:secret:x", "secretString": '{"password": "hunter2"}'},
        ),
        (
            t.K8S_SECRET,
            {"kind": "Secret", "stringData": {"AIRFLOW_CONN_DATABRICKS_DEFAULT": f"databricks://:{TOKEN}@host"}},
        ),
        (
            "pulumi:providers:databricks",
            {"host": "https://dbc.cloud.databricks.com", "clientSecret": "x", "password": "y"},
        ),
        (
            t.K8S_DEPLOYMENT,
            deployment_env({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}),
        ),
        (t.DB_JOB, {"tasks": [{"sparkEnvVars": {"API_TOKEN": "{{secrets/ml/api-token}}"}}]}),
        (t.SM_SECRET, {"name": "airflow/connections/databricks_default", "description": "token for the DAG"}),
        (
            t.K8S_DEPLOYMENT,
            {"kind": "Deployment", "spec": {"template": {"spec": {"automountServiceAccountToken": False}}}},
        ),
        ("pulumi:providers:aws", {"region": "eu-west-2", "skipCredentialsValidation": "false"}),
        (
            t.K8S_DEPLOYMENT,
            {"kind": "Deployment", "spec": {"template": {"spec": {"volumes": [{"secret": {"secretName": "tls"}}]}}}},
        ),
    ],
    ids=[
        "secret-version",
        "k8s-secret",
        "provider-secret",
        "env-from-secret",
        "databricks-secret-ref",
        "description",
        "bool",
        "flag",
        "secret-name",
    ],
)
def test_credentials_in_secret_fields_or_references_pass(resource_type, props):
    assert violations(credentials.no_plain_credentials, resource(resource_type, props)) == []


@pytest.mark.parametrize(
    "resource_type, props, expected",
    [
        (
            t.K8S_DEPLOYMENT,
            deployment_env({"name": "DATABRICKS_TOKEN", "value": "[secret]"}),
            "sets DATABRICKS_TOKEN to a literal value",
        ),
        (
            "kubernetes:core/v1:ConfigMap",
            {"kind": "ConfigMap", "data": {"db_password": "hunter2"}},
            "data.db_password holds a credential",
        ),
        (t.DB_JOB, {"tasks": [{"sparkEnvVars": {"API_TOKEN": "abc"}}]}, "tasks[0].sparkEnvVars.API_TOKEN"),
        (
            t.DB_JOB,
            {"parameters": [{"name": "uri", "default": "postgres://ml:hunter2@db:5432/x"}]},
            "a URI with a password",
        ),
        (t.SM_SECRET, {"description": f"rotated {TOKEN}"}, "a Databricks personal access token"),
        (t.IAM_ROLE, {"tags": {"note": "AKIAABCDEFGHIJKLMNOP"}}, "an AWS access key id"),
    ],
    ids=["env-literal", "configmap", "spark-env", "uri", "token-shape", "aws-key"],
)
def test_credentials_in_plain_inputs_fail(resource_type, props, expected):
    found = violations(credentials.no_plain_credentials, resource(resource_type, props))
    assert len(found) == 1 and expected in found[0]


def test_fields_the_resource_declares_secret_are_where_credentials_belong():
    props = {"kind": "X", "apiToken": "abc"}
    assert violations(credentials.no_plain_credentials, resource("custom:index:Thing", props))
    assert (
        violations(
            credentials.no_plain_credentials,
            resource("custom:index:Thing", props, additional_secret_outputs=["apiToken"]),
        )
        == []
    )


def test_messages_never_show_the_credential():
    found = violations(
        credentials.no_plain_credentials,
        resource(t.K8S_DEPLOYMENT, deployment_env({"name": "DB_PASSWORD", "value": "hunter2"})),
    )
    assert found and all("hunter2" not in f for f in found)
