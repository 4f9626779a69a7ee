"""Airflow connection and variable documents (infra/documents/airflow.py), called directly.

tests/test_airflow.py parses what the stack stores with Airflow's own
Connection class, through a plan; here the documents themselves.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.config import AirflowConnectionConfig, SecretValue
from infra.contract.airflow import conn_env_var
from infra.documents.airflow import (
    aws_connection,
    databricks_connection,
    declared_connection,
    model_variable_names,
    model_variables,
    stack_connections,
    variable_env_var,
)

HOST = "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com"
SECRET = SecretValue("dose0123456789abcdefREALCLIENTSECRET")


def test_token_auth_puts_the_token_in_password_with_no_login():
    conn = databricks_connection(host=HOST, auth="token", client_id=None, credential=SECRET)
    assert json.loads(conn.to_json()) == {"conn_type": "databricks", "host": HOST, "password": SECRET.reveal()}


def test_oauth_puts_the_client_id_in_login_and_asks_for_the_service_principal_flow():
    conn = databricks_connection(host=HOST, auth="oauth-m2m", client_id="6f1d", credential=SECRET)
    assert json.loads(conn.to_json()) == {
        "conn_type": "databricks",
        "host": HOST,
        "login": "6f1d",
        "password": SECRET.reveal(),
        "extra": {"service_principal_oauth": True},
    }
    with pytest.raises(ValueError):
        databricks_connection(host=HOST, auth="oauth-m2m", client_id=None, credential=SECRET)


@pytest.mark.parametrize(
    "role,extra",
    [(None, {"region_name": "eu-west-2"}), ("arn:aws:iam::1:role/a", {"region_name": "eu-west-2", "role_arn": "arn:aws:iam::1:role/a"})],
)
def test_aws_connection_has_the_region_and_the_role_when_one_is_named(role, extra):
    assert json.loads(aws_connection(region="eu-west-2", role_arn=role).to_json()) == {"conn_type": "aws", "extra": extra}


def test_declared_connections_follow_the_built_in_ones_and_take_their_password_from_a_secure_key():
    declared = {
        "warehouse": AirflowConnectionConfig.model_validate(
            {"connType": "postgres", "host": "db", "port": 5432, "passwordKey": "warehousePassword"}
        )
    }
    secrets = {"warehousePassword": SecretValue("pg-Pa$$w0rd")}
    databricks = databricks_connection(host=HOST, auth="token", client_id=None, credential=SECRET)
    aws = aws_connection(region="eu-west-2", role_arn=None)
    conns = stack_connections(databricks=databricks, aws=aws, declared=declared, secrets=secrets)
    assert [c.conn_id for c in conns] == ["databricks_default", "aws_default", "warehouse"]
    assert json.loads(conns[2].to_json()) == {"conn_type": "postgres", "host": "db", "port": 5432, "password": "pg-Pa$$w0rd"}
    assert declared_connection("x", AirflowConnectionConfig.model_validate({"connType": "http"}), {}).password is None


def test_a_connections_repr_never_shows_its_password():
    conn = databricks_connection(host=HOST, auth="token", client_id=None, credential=SECRET)
    assert SECRET.reveal() not in repr(conn)


@settings(max_examples=100, deadline=None)
@given(model=st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True))
def test_variable_names_are_valid_environment_variable_names_and_one_set_per_model(model):
    names = model_variable_names(model)
    variables = model_variables(model, job_id="42", version="1.4.0", bundle_uri="s3://b/k", bucket="b")
    assert [v.name for v in variables] == [names.training_job_id, names.version, names.bundle_uri, names.bundle_bucket]
    for v in variables:
        assert v.model == model and v.resource_name.startswith(f"variable-{model}-")
        env = variable_env_var(v.name)
        assert env.replace("_", "").isalnum() and env == env.upper(), env
    assert len({v.resource_name for v in variables}) == 4


def test_connection_env_vars_are_what_airflow_looks_up():
    assert conn_env_var("databricks_default") == "AIRFLOW_CONN_DATABRICKS_DEFAULT"
    assert variable_env_var("days_to_sell_version") == "AIRFLOW_VAR_DAYS_TO_SELL_VERSION"
