"""Airflow connections and variables: what the DAG reads, and Airflow itself reading it.

Plans (``modelctl``'s engine) show what a reviewer sees, secrets redacted. To
check the secret values themselves, ``declare`` runs a program under Pulumi
mocks that keep the secret inputs. Each connection's test reads the JSON
document the stack stores; ``test_airflow_reads_every_stored_connection_...``
hands every one of them to Airflow's own ``Connection`` class, and the
Kubernetes Secret's test to Airflow's environment lookup: importing Airflow
costs seconds, so two tests, side by side, do it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
from typing import Any, Callable

import pulumi
import pytest

from infra.components.airflow import AirflowConnections
from infra.config import PROJECT, ConfigError, StackConfig
from infra.contract.airflow import AWS_CONN_ID, DATABRICKS_CONN_ID
from infra.contract.layout import bundle_keys
from infra.documents.airflow import model_variables
from infra.program import airflow_args
from infra.stack_source import SECRET_PLACEHOLDER
from modelctl.engine import plan_stack_file
from tests.conftest import plan_doc, set_path, stack_doc, with_models
from tests.dags.declared import TWO_MODELS, declared_two_models
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
    return stack_file(doc, stack, secrets or {"databricksClientSecret": CLIENT_SECRET}).stack_config()


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


def without_aws_role(doc: dict) -> dict:
    del doc["config"]["model-platform:airflow"]["awsRoleArn"]
    return doc


def with_extra_connections(doc: dict) -> dict:
    """Two declared connections: every field of Airflow's JSON format, a password from a secure key, an extra."""
    feature_store = {
        "connType": "postgres",
        "host": "db.internal",
        "port": 5432,
        "login": "airflow",
        "schema": "features",
        "passwordKey": "featureStorePassword",
    }
    slack_alerts = {"connType": "http", "host": "https://hooks.example.com", "extra": {"timeout": 10}}
    return add_connections(doc, {"feature_store": feature_store, "slack_alerts": slack_alerts})


#: The stacks whose Airflow component is declared once per process (``stored``): name -> (stack, its document
#: as edited, the secrets it is given). Together they store every shape of connection the stack writes.
OAUTH_SECRETS = {"databricksClientSecret": CLIENT_SECRET, "githubReleaseToken": GITHUB_TOKEN}
SCENARIOS: dict[str, tuple[str, Callable[[], dict], dict[str, str]]] = {
    "oauth-m2m": ("staging", lambda: stack_doc("staging"), OAUTH_SECRETS),
    "token": ("staging", lambda: token_auth(stack_doc("staging")), {"databricksToken": TOKEN, "githubReleaseToken": GITHUB_TOKEN}),
    "no-aws-role": ("staging", lambda: without_aws_role(stack_doc("staging")), OAUTH_SECRETS),
    "extra-connections": (
        "staging",
        lambda: with_extra_connections(stack_doc("staging")),
        {**OAUTH_SECRETS, "featureStorePassword": WAREHOUSE_PASSWORD},
    ),
    "prod": ("prod", lambda: stack_doc("prod"), {"databricksClientSecret": CLIENT_SECRET}),
}


@functools.cache
def stored(scenario: str) -> tuple[StackConfig, Declared]:
    """The scenario's config and its Airflow component, declared once: several tests read each (never edit them)."""
    stack, doc, secrets = SCENARIOS[scenario]
    cfg = stack_file(doc(), stack, secrets).stack_config()
    return cfg, declare_airflow(cfg)


def stored_text(scenario: str, conn_id: str) -> str:
    """What the stack stores for ``conn_id`` in Secrets Manager, checked to be a secret under the prefix."""
    cfg, declared = stored(scenario)
    name = f"connection-{conn_id}"
    assert declared.of_type(SM_SECRET)[name]["name"] == f"{cfg.airflow.connections_prefix}/{conn_id}"
    value = declared.of_type(SM_VERSION)[name]["secretString"]
    assert is_secret(value), f"{conn_id} is stored in plain text"
    return reveal(value)


def stored_connection(scenario: str, conn_id: str) -> dict[str, Any]:
    """The stored connection as a document (Airflow's JSON connection format)."""
    return json.loads(stored_text(scenario, conn_id))


def as_airflow_reads_it(conn: Any) -> dict[str, Any]:
    """The fields of Airflow's parsed ``Connection`` under the JSON format's keys; unset ones left out, as the stack
    leaves them out of the document (an empty login Airflow read as '' would show, and differ)."""
    fields = {
        "conn_type": conn.conn_type,
        "host": conn.host,
        "login": conn.login,
        "password": conn.password,
        "schema": conn.schema,
        "port": conn.port,
        "extra": conn.extra_dejson,
    }
    return {key: value for key, value in fields.items() if value is not None and value != {}}


# --------------------------------------------------------------------------- Secrets Manager (MWAA)


def test_oauth_service_principal_connection_holds_the_client_id_and_its_secret():
    cfg, _ = stored("oauth-m2m")
    assert stored_connection("oauth-m2m", "databricks_default") == {
        "conn_type": "databricks",
        "host": cfg.databricks.host,
        "login": cfg.databricks.client_id,
        "password": CLIENT_SECRET,
        "extra": {"service_principal_oauth": True},
    }


def test_token_auth_puts_the_token_in_password_with_an_empty_login():
    cfg, _ = stored("token")
    # No login: the Databricks hook uses token auth only when login is empty. No service_principal_oauth extra.
    assert stored_connection("token", "databricks_default") == {
        "conn_type": "databricks",
        "host": cfg.databricks.host,
        "password": TOKEN,
    }


def test_aws_connection_has_region_and_role():
    cfg, _ = stored("prod")
    assert cfg.airflow.aws_role_arn
    assert stored_connection("prod", "aws_default") == {
        "conn_type": "aws",
        "extra": {"region_name": cfg.aws.region, "role_arn": cfg.airflow.aws_role_arn},
    }


def test_aws_connection_without_role_uses_the_environment_credentials():
    cfg, _ = stored("no-aws-role")
    assert stored_connection("no-aws-role", "aws_default") == {"conn_type": "aws", "extra": {"region_name": cfg.aws.region}}


def test_extra_connections_come_from_config_with_password_from_a_secure_key():
    assert stored_connection("extra-connections", "feature_store") == {
        "conn_type": "postgres",
        "host": "db.internal",
        "port": 5432,
        "login": "airflow",
        "schema": "features",
        "password": WAREHOUSE_PASSWORD,
    }
    assert stored_connection("extra-connections", "slack_alerts") == {
        "conn_type": "http",
        "host": "https://hooks.example.com",
        "extra": {"timeout": 10},
    }


def test_the_release_connection_holds_the_github_token_as_its_password():
    """The training DAG opens the release pull request with this connection: GitHub's API as host, the token as password."""
    cfg, _ = stored("oauth-m2m")
    assert cfg.airflow.release is not None
    assert stored_connection("oauth-m2m", cfg.airflow.release.conn_id) == {
        "conn_type": "http",
        "host": "https://api.github.com",
        "password": GITHUB_TOKEN,
    }


def test_prod_opens_no_release_pull_request_and_holds_no_github_token():
    """Prod serves only what `modelctl promote` brings from staging: its DAG trains and checks, nothing more."""
    cfg, declared = stored("prod")
    assert cfg.airflow.release is None
    assert "githubReleaseToken" not in json.dumps(stack_doc("prod"))
    names = {name for (_, name) in declared.inputs}
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
def test_reader_policy_names_the_account_the_stack_deploys_to_never_a_wildcard(real_plan, account_id):
    """With aws.accountId unset the account is still the real one (no '*'), and no extra config is needed."""
    doc = stack_doc("staging")
    if account_id is None:
        del doc["config"][f"{PROJECT}:aws"]["accountId"]
        plan = plan_doc(doc, "staging")
    else:
        assert doc["config"][f"{PROJECT}:aws"]["accountId"] == account_id
        plan = real_plan("staging")  # the committed stack's plan, which other tests read too
    account = plan.outputs["writerPolicyArn"].split(":")[4]  # the account IAM resources are created in
    assert account.isdigit() and len(account) == 12, account  # a real account, never '*'
    if account_id is not None:
        assert account == account_id
    (policy,) = [r for r in plan.by_type(IAM_POLICY) if "AirflowConnections" in r.urn]
    (read,) = json.loads(policy.inputs["policy"])["Statement"]
    for arn in read["Resource"]:
        assert arn.split(":")[:6] == ["arn", "aws", "secretsmanager", "eu-west-2", account, "secret"], arn


def test_kms_key_must_be_a_key_arn():
    from infra.config import ConfigError

    doc = set_path(stack_doc("staging"), "model-platform:airflow.kmsKeyArn", "alias/airflow")
    with pytest.raises(ConfigError) as info:
        cfg_of(doc)
    assert any(p.startswith("model-platform:airflow.kmsKeyArn: 'alias/airflow' is not a KMS key's ARN") for p in info.value.problems)


# --------------------------------------------------------------------------- variables


def test_variables_carry_each_models_job_id_served_version_bundle_uri_and_bucket():
    cfg = cfg_of(with_models(stack_doc("staging"), list(TWO_MODELS)))
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


@pytest.mark.parametrize("scenario", ["oauth-m2m", "prod"])
def test_no_schedule_variables_the_dag_manifest_holds_the_schedule(scenario):
    """The scheduler parses the DAG file every few seconds: a variable there would be a Secrets Manager call each time."""
    cfg, declared = stored(scenario)
    names = [secret["name"] for secret in declared.of_type(SM_SECRET).values()]
    assert [n for n in names if n.startswith(f"{cfg.airflow.variables_prefix}/")], "the scenario stores variables"
    assert not [n for n in names if n.endswith(("_schedule", "_timezone"))], names


def test_job_id_variables_hold_the_id_of_each_models_own_training_job():
    whole_program = declared_two_models("staging")  # the real program, two models, wired as `pulumi up` wires it
    jobs = {name: whole_program.ids[(DATABRICKS_JOB, name)] for name in whole_program.of_type(DATABRICKS_JOB)}
    assert jobs, "the training component declares a Databricks job per model"
    versions = whole_program.of_type(SM_VERSION)
    for model in TWO_MODELS:
        (job_id,) = [rid for name, rid in jobs.items() if name.startswith(model)]
        assert reveal(versions[f"variable-{model}-training-job-id"]["secretString"]) == job_id


def test_bundle_uri_variables_point_into_the_bundle_store():
    whole_program = declared_two_models("staging")
    buckets = [reveal(b)["bucket"] for b in whole_program.of_type("aws:s3/bucket:Bucket").values() if "bucket" in b]
    assert len(buckets) == 1, "the bundle store declares one named bucket"
    versions = whole_program.of_type(SM_VERSION)
    uri = reveal(versions["variable-price-band-bundle-uri"]["secretString"])
    assert uri == bundle_keys("price-band", "1.4.0").uri(buckets[0])


# --------------------------------------------------------------------------- Kubernetes Secret


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


def test_adding_a_model_leaves_the_other_models_airflow_resources_alone():
    """Same component, same logical names (so the same URNs), same inputs: ``pulumi up`` adds, and touches nothing else."""
    one = declare_airflow(cfg_of(stack_doc("staging")))
    two = declare_airflow(cfg_of(with_models(stack_doc("staging"), list(TWO_MODELS))))
    assert one.inputs.keys() < two.inputs.keys()
    assert all("price-band" in name for (_, name) in two.inputs.keys() - one.inputs.keys())
    for resource, inputs in one.inputs.items():
        assert reveal(two.inputs[resource]) == reveal(inputs), resource


# --------------------------------------------------------------------------- Airflow itself
# Both tests import Airflow (seconds): side by side, so the quick suite's workers rarely both pay it.


def test_airflow_reads_every_stored_connection_as_written_where_its_secrets_backend_looks(Connection):
    """Airflow's own parser and path rule, on every connection and variable of every scenario: the tests above
    read the documents, this one proves Airflow reads each field of them as the stack meant it."""
    from airflow.secrets import BaseSecretsBackend

    parsed: set[str] = set()
    for scenario in SCENARIOS:
        cfg, declared = stored(scenario)
        secrets = declared.of_type(SM_SECRET)
        for name in secrets:
            if not name.startswith("connection-"):
                continue
            conn_id = name.removeprefix("connection-")
            assert secrets[name]["name"] == BaseSecretsBackend.build_path(cfg.airflow.connections_prefix, conn_id)
            conn = Connection.from_json(stored_text(scenario, conn_id), conn_id=conn_id)
            assert as_airflow_reads_it(conn) == stored_connection(scenario, conn_id), (scenario, conn_id)
            parsed.add(conn_id)
        for model in cfg.models:
            for variable in model_variables(model, job_id="", version="", bundle_uri="", bucket=""):
                path = BaseSecretsBackend.build_path(cfg.airflow.variables_prefix, variable.name)
                assert secrets[variable.resource_name]["name"] == path, (scenario, variable.name)
    release = stored("oauth-m2m")[0].airflow.release
    assert release is not None
    assert parsed == {DATABRICKS_CONN_ID, AWS_CONN_ID, release.conn_id, "feature_store", "slack_alerts"}


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
