"""Airflow connections and variables: what the DAG reads, parsed by Airflow itself.

Plans (``modelctl``'s engine) show what a reviewer sees, secrets redacted. To
check the secret values themselves, ``declare`` runs a program under Pulumi
mocks that keep the secret inputs, so each connection can be handed to
Airflow's own ``Connection`` class.
"""

from __future__ import annotations

import fnmatch
import json
import os
from typing import Any

import pulumi
import pytest

from infra.components.airflow import AirflowConnections
from infra.config import PROJECT, ConfigError, StackConfig
from infra.contract.layout import bundle_keys
from infra.program import airflow_args
from infra.stack_source import SECRET_PLACEHOLDER, StackFile
from modelctl.engine import plan_stack_file
from tests.conftest import plan_doc, set_path, stack_doc, with_models
from tests.dags.declared import MOCK_ACCOUNT, MOCK_REGION, Declared, declare, is_secret, mock_arn, reveal, stack_file

SM_SECRET = "aws:secretsmanager/secret:Secret"
SM_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
K8S_SECRET = "kubernetes:core/v1:Secret"
DATABRICKS_JOB = "databricks:index/job:Job"
IAM_POLICY = "aws:iam/policy:Policy"
BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"

#: Real-looking credentials: they must reach Airflow and never a plan in clear.
CLIENT_SECRET = "dose0123456789abcdefREALCLIENTSECRET"
TOKEN = "dapi0123456789abcdefREALTOKEN42"
WAREHOUSE_PASSWORD = "pg-Pa$$w0rd/with:odd@chars"
GITHUB_TOKEN = "github_pat_11AAAAAAA0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTU"


# --------------------------------------------------------------------------- Airflow


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory):
    """Airflow reads AIRFLOW_HOME when imported: point it at a scratch dir (no DB is ever used)."""
    old = os.environ.get("AIRFLOW_HOME")
    os.environ["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("airflow-home"))
    yield
    if old is None:
        os.environ.pop("AIRFLOW_HOME", None)
    else:
        os.environ["AIRFLOW_HOME"] = old


@pytest.fixture(scope="session")
def Connection(airflow_home):  # noqa: N802 - it is Airflow's class
    from airflow.models.connection import Connection

    return Connection


# --------------------------------------------------------------------------- helpers


def parse(sf: StackFile) -> StackConfig:
    return sf.stack_config()


def declare_airflow(cfg: StackConfig, bucket: str = "bundles-bucket", job_ids: dict[str, str] | None = None) -> Declared:
    """Only the Airflow component, with known inputs."""
    ids = job_ids or {m: f"job-of-{m}" for m in cfg.models}

    def program():
        outputs = {m: pulumi.Output.from_input(i) for m, i in ids.items()}
        args = airflow_args(cfg, bucket_name=pulumi.Output.from_input(bucket), job_ids=outputs)
        component = AirflowConnections("airflow", args)
        return {"options": component.configuration_options}

    return declare(program)


def cfg_of(doc: dict, stack: str = "staging", **secrets: str) -> StackConfig:
    return parse(stack_file(doc, stack, secrets or {"databricksClientSecret": CLIENT_SECRET}))


def token_auth(doc: dict) -> dict:
    set_path(doc, "model-platform:databricks.auth", "token")
    del doc["config"]["model-platform:databricksClientSecret"]
    doc["config"]["model-platform:databricksToken"] = {"secure": "v1:AAAA"}
    return doc


def kubernetes_backend(doc: dict) -> dict:
    """Self-hosted Airflow: the Secret instead of Secrets Manager, the DAG as a ConfigMap instead of MWAA's bucket."""
    set_path(doc, "model-platform:airflow.backend", "kubernetes-secret")
    doc["config"]["model-platform:airflow"]["dags"].pop("bucket", None)
    return doc


def add_connections(doc: dict, connections: dict) -> dict:
    """``connections`` beside the stack's own (the GitHub connection of the release stays)."""
    doc["config"]["model-platform:airflow"].setdefault("connections", {}).update(connections)
    return doc


def sm_connection(declared: Declared, cfg: StackConfig, conn_id: str, Connection) -> Any:
    """The Secrets Manager secret of ``conn_id``, checked to be secret, parsed by Airflow."""
    name = f"connection-{conn_id}"
    secret = declared.of_type(SM_SECRET)[name]
    assert secret["name"] == f"{cfg.airflow.connections_prefix}/{conn_id}"
    value = declared.of_type(SM_VERSION)[name]["secretString"]
    assert is_secret(value), f"{conn_id} is stored in plain text"
    return Connection.from_json(reveal(value), conn_id=conn_id)


# --------------------------------------------------------------------------- Secrets Manager (MWAA)


def test_oauth_service_principal_connection_parses_in_airflow(Connection):
    cfg = cfg_of(stack_doc("staging"))
    conn = sm_connection(declare_airflow(cfg), cfg, "databricks_default", Connection)
    assert conn.conn_type == "databricks"
    assert conn.host == cfg.databricks.host
    assert conn.login == cfg.databricks.client_id
    assert conn.password == CLIENT_SECRET
    assert conn.extra_dejson == {"service_principal_oauth": True}


def test_token_auth_puts_the_token_in_password_with_an_empty_login(Connection):
    cfg = cfg_of(token_auth(stack_doc("staging")), databricksToken=TOKEN)
    conn = sm_connection(declare_airflow(cfg), cfg, "databricks_default", Connection)
    assert (conn.conn_type, conn.host, conn.password) == ("databricks", cfg.databricks.host, TOKEN)
    assert not conn.login  # the Databricks hook uses token auth only when login is empty
    assert "service_principal_oauth" not in conn.extra_dejson


def test_aws_connection_has_region_and_role(Connection):
    cfg = cfg_of(stack_doc("prod"), "prod")
    conn = sm_connection(declare_airflow(cfg), cfg, "aws_default", Connection)
    assert conn.conn_type == "aws"
    assert conn.password is None
    assert conn.extra_dejson == {"region_name": cfg.aws.region, "role_arn": cfg.airflow.aws_role_arn}


def test_aws_connection_without_role_uses_the_environment_credentials(Connection):
    doc = stack_doc("staging")
    del doc["config"]["model-platform:airflow"]["awsRoleArn"]
    cfg = cfg_of(doc)
    conn = sm_connection(declare_airflow(cfg), cfg, "aws_default", Connection)
    assert conn.extra_dejson == {"region_name": cfg.aws.region}


def test_extra_connections_come_from_config_with_password_from_a_secure_key(Connection):
    doc = stack_doc("staging")
    add_connections(
        doc,
        {
            "feature_store": {
                "connType": "postgres",
                "host": "db.internal",
                "port": 5432,
                "login": "airflow",
                "schema": "features",
                "passwordKey": "featureStorePassword",
            },
            "slack_alerts": {"connType": "http", "host": "https://hooks.example.com", "extra": {"timeout": 10}},
        },
    )
    cfg = cfg_of(doc, databricksClientSecret=CLIENT_SECRET, featureStorePassword=WAREHOUSE_PASSWORD, githubReleaseToken=GITHUB_TOKEN)
    declared = declare_airflow(cfg)
    pg = sm_connection(declared, cfg, "feature_store", Connection)
    assert (pg.conn_type, pg.host, pg.port, pg.login, pg.schema) == ("postgres", "db.internal", 5432, "airflow", "features")
    assert pg.password == WAREHOUSE_PASSWORD
    http = sm_connection(declared, cfg, "slack_alerts", Connection)
    assert (http.conn_type, http.host, http.password) == ("http", "https://hooks.example.com", None)
    assert http.extra_dejson == {"timeout": 10}


def test_the_release_connection_holds_the_github_token_as_its_password(Connection):
    """The training DAG opens the release pull request with this connection: GitHub's API as host, the token as password."""
    cfg = cfg_of(stack_doc("staging"), "staging", databricksClientSecret=CLIENT_SECRET, githubReleaseToken=GITHUB_TOKEN)
    assert cfg.airflow.release is not None
    conn = sm_connection(declare_airflow(cfg), cfg, cfg.airflow.release.conn_id, Connection)
    assert (conn.conn_type, conn.host, conn.password) == ("http", "https://api.github.com", GITHUB_TOKEN)
    assert not conn.login


def test_prod_opens_no_release_pull_request_and_holds_no_github_token():
    """Prod serves only what `modelctl promote` brings from staging: its DAG trains and checks, nothing more."""
    cfg = cfg_of(stack_doc("prod"), "prod", databricksClientSecret=CLIENT_SECRET)
    assert cfg.airflow.release is None
    assert "githubReleaseToken" not in json.dumps(stack_doc("prod"))
    names = {name for (_, name) in declare_airflow(cfg).inputs}
    assert not any("github" in n for n in names), names


PROD_KEY = "arn:aws:kms:eu-west-2:444455556666:key/1b2c3d4e-0000-4f5a-9b6c-7d8e9f0a1b2c"


def test_secrets_use_the_configured_prefixes_kms_key_window_and_tags():
    doc = stack_doc("prod")
    set_path(doc, "model-platform:airflow.connectionsPrefix", "mwaa/prod/connections")
    set_path(doc, "model-platform:airflow.variablesPrefix", "mwaa/prod/variables")
    set_path(doc, "model-platform:airflow.kmsKeyArn", PROD_KEY)
    cfg = cfg_of(doc, "prod")
    declared = declare_airflow(cfg)
    secrets = declared.of_type(SM_SECRET)
    assert secrets["connection-databricks_default"]["name"] == "mwaa/prod/connections/databricks_default"
    assert secrets["variable-days-to-sell-version"]["name"] == "mwaa/prod/variables/days_to_sell_version"
    for name, secret in secrets.items():
        assert secret["kmsKeyId"] == PROD_KEY, name
        assert secret["recoveryWindowInDays"] == cfg.airflow.recovery_window_days == 30, name
        # The stack's tags come from the AWS provider's default_tags (tests/test_providers.py); a secret adds only
        # its model's.
        expected = {"model": "days-to-sell"} if name.startswith("variable-") else None
        assert secret.get("tags") == expected, name
    assert declared.outputs["options"] == {
        "secrets.backend": BACKEND,
        "secrets.backend_kwargs": json.dumps(
            {"connections_prefix": "mwaa/prod/connections", "variables_prefix": "mwaa/prod/variables"}, sort_keys=True
        ),
    }


def test_secret_names_are_where_airflows_backend_looks(airflow_home):
    from airflow.secrets import BaseSecretsBackend

    cfg = cfg_of(stack_doc("staging"))
    secrets = declare_airflow(cfg).of_type(SM_SECRET)
    assert secrets["connection-aws_default"]["name"] == BaseSecretsBackend.build_path(
        cfg.airflow.connections_prefix, "aws_default"
    )
    assert secrets["variable-days-to-sell-bundle-uri"]["name"] == BaseSecretsBackend.build_path(
        cfg.airflow.variables_prefix, "days_to_sell_bundle_uri"
    )


def test_reader_policy_covers_both_prefixes_in_the_secrets_own_account_and_the_kms_key():
    key = "arn:aws:kms:eu-west-2:111122223333:key/0a1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b"
    doc = set_path(stack_doc("staging"), "model-platform:airflow.kmsKeyArn", key)
    declared = declare_airflow(cfg_of(doc))
    (policy,) = declared.of_type(IAM_POLICY).values()
    statements = json.loads(policy["policy"])["Statement"]
    read = next(s for s in statements if "secretsmanager:GetSecretValue" in s["Action"])
    base = f"arn:aws:secretsmanager:{MOCK_REGION}:{MOCK_ACCOUNT}:secret:"
    assert read["Resource"] == [f"{base}airflow/connections/*", f"{base}airflow/variables/*"]
    for name, secret in declared.of_type(SM_SECRET).items():
        arn = mock_arn(SM_SECRET, name, secret)
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in read["Resource"]), f"Airflow cannot read {name}"
    (decrypt,) = [s for s in statements if s["Action"] == "kms:Decrypt"]
    assert decrypt["Resource"] == key, "decrypt with the secrets' own key only"


@pytest.mark.parametrize("account_id", ["111122223333", None], ids=["accountId-set", "accountId-unset"])
def test_reader_policy_names_the_account_the_stack_deploys_to_never_a_wildcard(account_id):
    """With aws.accountId unset the account is still the real one (no '*'), and no extra config is needed."""
    doc = stack_doc("staging")
    if account_id is None:
        del doc["config"][f"{PROJECT}:aws"]["accountId"]
    plan = plan_doc(doc, "staging")
    account = plan.outputs["writerPolicyArn"].split(":")[4]  # the account IAM resources are created in
    assert account == (account_id or account)
    (policy,) = [r for r in plan.by_type(IAM_POLICY) if "AirflowConnections" in r.urn]
    (read,) = json.loads(policy.inputs["policy"])["Statement"]
    for arn in read["Resource"]:
        assert arn.split(":")[:6] == ["arn", "aws", "secretsmanager", "eu-west-2", account, "secret"], arn
    assert "*" not in arn.split(":")[4]


def test_kms_key_must_be_a_key_arn():
    from infra.config import ConfigError

    doc = set_path(stack_doc("staging"), "model-platform:airflow.kmsKeyArn", "alias/airflow")
    with pytest.raises(ConfigError) as info:
        cfg_of(doc)
    assert any(p.startswith("model-platform:airflow.kmsKeyArn: 'alias/airflow' does not match") for p in info.value.problems)


# --------------------------------------------------------------------------- variables


def test_variables_carry_each_models_job_id_served_version_bundle_uri_and_bucket():
    cfg = cfg_of(with_models(stack_doc("staging"), ["days-to-sell", "price-band"]))
    job_ids = {"days-to-sell": "1111", "price-band": "2222"}
    declared = declare_airflow(cfg, bucket="the-bundles", job_ids=job_ids)
    secrets, versions = declared.of_type(SM_SECRET), declared.of_type(SM_VERSION)
    for model, stem in (("days-to-sell", "days_to_sell"), ("price-band", "price_band")):
        version = cfg.models[model].version
        expected = {
            "training-job-id": (f"{stem}_training_job_id", job_ids[model]),
            "version": (f"{stem}_version", version),
            "bundle-uri": (f"{stem}_bundle_uri", bundle_keys(model, version).uri("the-bundles")),
            "bundle-bucket": (f"{stem}_bundle_bucket", "the-bundles"),
        }
        for kind, (variable, value) in expected.items():
            assert secrets[f"variable-{model}-{kind}"]["name"] == f"airflow/variables/{variable}"
            assert reveal(versions[f"variable-{model}-{kind}"]["secretString"]) == value
    connections = [name for name in secrets if name.startswith("connection-")]
    assert len(secrets) == 2 * len(expected) + len(connections), "four variables per model, nothing else"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_no_schedule_variables_the_dag_manifest_holds_the_schedule(stack):
    """The scheduler parses the DAG file every few seconds: a variable there would be a Secrets Manager call each time."""
    doc = stack_doc(stack)
    names = [secret["name"] for secret in declare_airflow(cfg_of(doc, stack), bucket="the-bundles").of_type(SM_SECRET).values()]
    assert not [n for n in names if n.endswith(("_schedule", "_timezone"))], names


@pytest.fixture(scope="module")
def whole_program() -> Declared:
    """The real program with two models, every component wired as ``pulumi up`` wires it."""
    from infra.program import main

    doc = with_models(stack_doc("staging"), ["days-to-sell", "price-band"])
    sf = stack_file(doc, "staging", {"databricksClientSecret": CLIENT_SECRET})
    return declare(main, sf.config, sf.secret_keys)


def test_job_id_variables_hold_the_id_of_each_models_own_training_job(whole_program):
    jobs = {name: whole_program.ids[(DATABRICKS_JOB, name)] for name in whole_program.of_type(DATABRICKS_JOB)}
    assert jobs, "the training component declares a Databricks job per model"
    versions = whole_program.of_type(SM_VERSION)
    for model in ("days-to-sell", "price-band"):
        (job_id,) = [rid for name, rid in jobs.items() if name.startswith(model)]
        assert reveal(versions[f"variable-{model}-training-job-id"]["secretString"]) == job_id


def test_bundle_uri_variables_point_into_the_bundle_store(whole_program):
    buckets = [reveal(b)["bucket"] for b in whole_program.of_type("aws:s3/bucket:Bucket").values() if "bucket" in b]
    assert len(buckets) == 1, "the bundle store declares one named bucket"
    versions = whole_program.of_type(SM_VERSION)
    uri = reveal(versions["variable-price-band-bundle-uri"]["secretString"])
    assert uri == bundle_keys("price-band", "1.4.0").uri(buckets[0])


# --------------------------------------------------------------------------- Kubernetes Secret


def test_kubernetes_secret_backend_serves_connections_and_variables_through_airflows_env_lookup(Connection, monkeypatch):
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend

    cfg = cfg_of(kubernetes_backend(stack_doc("staging")))
    declared = declare_airflow(cfg, bucket="the-bundles", job_ids={"days-to-sell": "4242"})
    assert not declared.of_type(SM_SECRET) and not declared.of_type(IAM_POLICY)
    assert declared.outputs["options"] == {}
    (secret,) = declared.of_type(K8S_SECRET).values()
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == ("airflow-connections", "airflow")
    assert secret["metadata"]["labels"]["app.kubernetes.io/part-of"] == PROJECT
    assert is_secret(secret["stringData"])
    for key, value in reveal(secret["stringData"]).items():
        monkeypatch.setenv(key, value)

    backend = EnvironmentVariablesBackend()
    backend._set_connection_class(Connection)
    databricks = backend.get_connection("databricks_default")
    assert (databricks.conn_type, databricks.host) == ("databricks", cfg.databricks.host)
    assert databricks.login == cfg.databricks.client_id
    assert databricks.password == CLIENT_SECRET
    assert databricks.extra_dejson == {"service_principal_oauth": True}
    aws = backend.get_connection("aws_default")
    assert (aws.conn_type, aws.extra_dejson["region_name"]) == ("aws", "eu-west-2")
    assert backend.get_variable("days_to_sell_training_job_id") == "4242"
    assert backend.get_variable("days_to_sell_version") == "1.4.0"
    assert backend.get_variable("days_to_sell_bundle_uri") == "s3://the-bundles/days-to-sell/1.4.0/bundle.zip"
    assert backend.get_variable("days_to_sell_bundle_bucket") == "the-bundles"
    assert backend.get_variable("days_to_sell_schedule") is None, "staging has no schedule"


def test_kubernetes_backend_refuses_conn_ids_airflow_could_not_look_up():
    doc = kubernetes_backend(stack_doc("staging"))
    add_connections(doc, {"feature-store": {"connType": "postgres"}})
    with pytest.raises(ConfigError) as info:
        plan_doc(doc, "staging")
    assert any(p.startswith("model-platform:airflow.connections.feature-store:") for p in info.value.problems)


# --------------------------------------------------------------------------- secrets never in clear


@pytest.mark.parametrize("backend", ["secrets-manager", "kubernetes-secret"])
@pytest.mark.parametrize("auth", ["oauth-m2m", "token"])
def test_credentials_never_appear_in_the_plan(backend, auth):
    doc = stack_doc("staging")
    if backend == "kubernetes-secret":
        kubernetes_backend(doc)
    feature_store = {"connType": "postgres", "passwordKey": "featureStorePassword"}
    add_connections(doc, {"feature_store": feature_store})
    secrets = {"featureStorePassword": WAREHOUSE_PASSWORD, "githubReleaseToken": GITHUB_TOKEN}
    if auth == "token":
        token_auth(doc)
        secrets["databricksToken"] = TOKEN
    else:
        secrets["databricksClientSecret"] = CLIENT_SECRET
    plan = plan_stack_file(stack_file(doc, "staging", secrets), "staging")
    text = json.dumps(plan.to_json())
    for value in secrets.values():
        assert value not in text and json.dumps(value)[1:-1] not in text
    if backend == "secrets-manager":
        assert plan.get(SM_VERSION, "connection-databricks_default").to_json()["inputs"]["secretString"] == SECRET_PLACEHOLDER
    else:
        # The map holds the training jobs' ids, which Databricks assigns on create: in a plan of a new
        # stack the whole (secret) map is unknown, as in `pulumi preview`; its values are never shown.
        (secret,) = plan.by_type(K8S_SECRET)
        assert secret.to_json()["inputs"]["stringData"] == SECRET_PLACEHOLDER


@pytest.mark.parametrize(
    "key, value",
    [
        ("model-platform:databricksToken", TOKEN),
        ("model-platform:databricksClientSecret", CLIENT_SECRET),
    ],
)
def test_a_plain_text_credential_in_a_stack_file_is_refused(key, value):
    doc = stack_doc("staging")
    doc["config"][key] = value
    with pytest.raises(ConfigError) as info:
        plan_doc(doc, "staging")
    assert any(p.startswith(f"{key}: is a credential in plain text") for p in info.value.problems)
    assert value not in str(info.value)


def test_a_password_written_into_a_connection_is_refused():
    doc = stack_doc("staging")
    feature_store = {"connType": "postgres", "password": WAREHOUSE_PASSWORD}
    add_connections(doc, {"feature_store": feature_store})
    set_path(doc, "model-platform:airflow.connections.slack_alerts", {"connType": "http", "extra": {"auth": {"token": "xoxb-1"}}})
    with pytest.raises(ConfigError) as info:
        plan_doc(doc, "staging")
    found = "\n".join(info.value.problems)
    assert "model-platform:airflow.connections.feature_store.password: is a credential" in found
    assert "extra.auth.token is a credential" in found


# --------------------------------------------------------------------------- stable names


def test_adding_a_model_leaves_the_other_models_airflow_resources_alone(real_plan):
    def airflow_urns(plan) -> set[str]:
        return {r.urn for r in plan.resources if "AirflowConnections" in r.urn}

    one = airflow_urns(real_plan("staging"))
    two = airflow_urns(plan_doc(with_models(stack_doc("staging"), ["days-to-sell", "price-band"]), "staging"))
    assert one < two
    assert all("price-band" in urn for urn in two - one)
