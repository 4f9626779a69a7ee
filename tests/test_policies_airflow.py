"""airflow-connection-secrets, called directly: every declared connection needs a secret with a value."""

from __future__ import annotations

from typing import Any

import pytest


from model_platform_policy import airflow, stack_config  # noqa: E402
from model_platform_policy import types as t  # noqa: E402
from model_platform_policy.testing import resource, violations  # noqa: E402
from pulumi_policy.proxy import UnknownValueError  # noqa: E402


@pytest.fixture
def stack_airflow(monkeypatch):
    """Set the stack config's ``model-platform:airflow`` object the rule reads."""
    values: dict[str, Any] = {}
    monkeypatch.setattr(stack_config, "stack_object", lambda key: values if key == "airflow" else {})
    return values


def secrets_manager(conn_id: str, prefix: str = "airflow/connections", value: Any = "[secret]") -> list:
    secret = resource(t.SM_SECRET, {"name": f"{prefix}/{conn_id}"}, name=f"connection-{conn_id}")
    version = resource(
        t.SM_SECRET_VERSION,
        {"secretId": "opaque-id", "secretString": value},
        name=f"connection-{conn_id}",
        parent=secret,
    )
    return [secret, version] if value is not None else [secret]


def builtins(prefix: str = "airflow/connections") -> list:
    return secrets_manager("databricks_default", prefix) + secrets_manager("aws_default", prefix)


def test_the_built_in_connections_in_secrets_manager_pass(stack_airflow):
    assert violations(airflow.connection_secrets, builtins()) == []


def test_a_missing_built_in_connection_fails(stack_airflow):
    found = violations(airflow.connection_secrets, secrets_manager("databricks_default"))
    assert found == [
        "connection 'aws_default' has no secret: no Secrets Manager secret 'airflow/connections/aws_default' and no "
        "Kubernetes Secret key 'AIRFLOW_CONN_AWS_DEFAULT'"
    ]


def test_a_secret_without_a_value_fails(stack_airflow):
    resources = secrets_manager("databricks_default", value=None) + secrets_manager("aws_default")
    found = violations(airflow.connection_secrets, resources)
    assert len(found) == 1 and "has no SecretVersion" in found[0]


def test_a_connection_declared_in_the_stack_config_needs_its_secret(stack_airflow):
    stack_airflow["connections"] = {"slack_alerts": {"connType": "slack"}}
    assert "slack_alerts" in violations(airflow.connection_secrets, builtins())[0]
    assert violations(airflow.connection_secrets, builtins() + secrets_manager("slack_alerts")) == []


def test_the_stack_configs_prefix_is_where_secrets_are_looked_for(stack_airflow):
    stack_airflow["connectionsPrefix"] = "mwaa/prod/connections"
    assert len(violations(airflow.connection_secrets, builtins())) == 2
    assert violations(airflow.connection_secrets, builtins("mwaa/prod/connections")) == []


def test_keys_of_a_kubernetes_secret_hold_connections_too(stack_airflow):
    k8s_secret = resource(
        t.K8S_SECRET,
        {
            "kind": "Secret",
            "stringData": {"AIRFLOW_CONN_DATABRICKS_DEFAULT": "[secret]", "AIRFLOW_CONN_AWS_DEFAULT": "[secret]"},
        },
    )
    assert violations(airflow.connection_secrets, k8s_secret) == []
    partial = resource(t.K8S_SECRET, {"kind": "Secret", "stringData": {"AIRFLOW_CONN_AWS_DEFAULT": "x"}})
    assert "databricks_default" in violations(airflow.connection_secrets, partial)[0]


def test_the_rule_reads_the_stack_config_the_cli_passes(monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG", '{"model-platform:airflow": "{\\"connections\\": {\\"pg\\": {}}}"}')
    assert set(stack_config.stack_object("airflow")["connections"]) == {"pg"}


def test_a_kubernetes_secret_whose_contents_are_redacted_cannot_be_judged(stack_airflow):
    redacted = resource(t.K8S_SECRET, {"kind": "Secret", "stringData": "[secret]"})
    with pytest.raises(UnknownValueError):
        violations(airflow.connection_secrets, redacted)
    assert violations(airflow.connection_secrets, [redacted, *builtins()]) == []


def test_without_a_prefix_in_the_stack_config_the_rule_uses_the_contracts_default(monkeypatch):
    """The default prefix is defined once, in infra.contract.airflow: the pack (and the config) follow it if it changes."""
    import importlib

    from infra.config import AirflowConfig
    from infra.contract import airflow as contract

    assert AirflowConfig.model_fields["connections_prefix"].default == contract.DEFAULT_CONNECTIONS_PREFIX
    monkeypatch.setattr(contract, "DEFAULT_CONNECTIONS_PREFIX", "mwaa/connections")
    monkeypatch.setattr(stack_config, "stack_object", lambda key: {})
    try:
        reloaded = importlib.reload(airflow)
        assert violations(reloaded.connection_secrets, builtins("mwaa/connections")) == []
        assert len(violations(reloaded.connection_secrets, builtins())) == 2
    finally:
        monkeypatch.undo()
        importlib.reload(airflow)
    assert violations(airflow.connection_secrets, builtins()) == []
