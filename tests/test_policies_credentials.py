"""no-plain-credentials, called directly: credentials belong in secret fields, never in plain inputs."""

from __future__ import annotations

import importlib
import inspect
import re

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
            "a URL with a password",
        ),
        (t.SM_SECRET, {"description": f"rotated {TOKEN}"}, "a Databricks personal access token"),
        (t.IAM_ROLE, {"tags": {"note": "AKIAABCDEFGHIJKLMNOP"}}, "an AWS access key id"),
    ],
    ids=["env-literal", "configmap", "spark-env", "uri", "token-shape", "aws-key"],
)
def test_credentials_in_plain_inputs_fail(resource_type, props, expected):
    found = violations(credentials.no_plain_credentials, resource(resource_type, props))
    assert len(found) == 1 and expected in found[0]


def test_additional_secret_outputs_exempt_nothing():
    """They hide a value from Pulumi's state only: the cluster still stores the Deployment's env in plain text."""
    env = deployment_env({"name": "DATABRICKS_TOKEN", "value": TOKEN})
    hidden = resource(t.K8S_DEPLOYMENT, env, additional_secret_outputs=["spec"])
    found = violations(credentials.no_plain_credentials, hidden)
    assert "spec.template.spec.containers[0].env[0] sets DATABRICKS_TOKEN to a literal value" in found[0]
    custom = resource("custom:index:Thing", {"kind": "X", "apiToken": "abc"}, additional_secret_outputs=["apiToken"])
    assert violations(credentials.no_plain_credentials, custom) == ["apiToken holds a credential in plain text"]


def test_a_databricks_secret_holds_its_value_in_a_secret_field():
    secret = resource(t.DB_SECRET, {"scope": "ml", "key": "api-token", "stringValue": TOKEN})
    assert violations(credentials.no_plain_credentials, secret) == []


def _sdk_class(token: str) -> type:
    """The SDK class of a type token (``aws:secretsmanager/secretVersion:SecretVersion``, ``pulumi:providers:aws``)."""
    if token.startswith("pulumi:providers:"):
        return importlib.import_module(f"pulumi_{token.rsplit(':', 1)[1]}").Provider
    package, module, name = token.split(":")
    if package == "kubernetes":
        module = module.replace("/", ".")  # core/v1 -> pulumi_kubernetes.core.v1
    else:
        module = module.split("/")[0]  # secretsmanager/secretVersion -> secretsmanager; index/secret -> index
    path = f"pulumi_{package}" if module == "index" else f"pulumi_{package}.{module}"
    return getattr(importlib.import_module(path), name)


def _sdk_secret_inputs(token: str) -> set[str]:
    """The inputs the installed SDK marks secret for ``token``: generated from the provider schema's secret fields."""
    source = inspect.getsource(_sdk_class(token))
    found = re.search(r"additional_secret_outputs=\[([^\]]*)\]", source)
    return set(re.findall(r'"([^"]+)"', found[1])) if found else set()


@pytest.mark.parametrize("token", sorted(credentials.SECRET_BY_SCHEMA))
def test_the_exempt_fields_are_exactly_those_the_provider_schema_marks_secret(token):
    assert credentials.SECRET_BY_SCHEMA[token] == _sdk_secret_inputs(token)


def test_messages_never_show_the_credential():
    found = violations(
        credentials.no_plain_credentials,
        resource(t.K8S_DEPLOYMENT, deployment_env({"name": "DB_PASSWORD", "value": "hunter2"})),
    )
    assert found and all("hunter2" not in f for f in found)
