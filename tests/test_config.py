"""Typed stack config: every validation rule, good and bad, with exact key paths."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, StackConfig
from infra.stack_source import StackFile
from tests.conftest import del_path, set_path, stack_doc

M = "model-platform:models.days-to-sell"


def parse(doc, stack="staging") -> StackConfig:
    return StackFile.from_document(doc, f"stacks/Pulumi.{stack}.yaml").stack_config()


def problems(doc, stack="staging") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(doc, stack)
    assert info.value.source == f"stacks/Pulumi.{stack}.yaml"
    return [f"{info.value.source}: {p}" for p in info.value.problems]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_committed_stacks_parse(stack):
    cfg = parse(stack_doc(stack), stack)
    assert list(cfg.models) == ["days-to-sell"]
    assert cfg.environment.value == stack
    assert cfg.databricks_client_secret is not None


def test_prod_differs_where_production_should():
    staging, prod = parse(stack_doc("staging")), parse(stack_doc("prod"), "prod")
    assert prod.protect_data and not staging.protect_data
    assert not prod.discovery_cluster_enabled and staging.discovery_cluster_enabled
    assert prod.models["days-to-sell"].serving.replicas.min >= 2
    assert "@sha256:" in prod.kubernetes.images.serving and "@sha256:" not in staging.kubernetes.images.serving
    assert prod.models["days-to-sell"].training.schedule is not None
    assert staging.models["days-to-sell"].training.schedule is None


def test_replicas_min_greater_than_max_names_file_and_key():
    doc = set_path(stack_doc("prod"), f"{M}.serving.replicas", {"min": 12, "max": 10})
    assert problems(doc, "prod") == [
        "stacks/Pulumi.prod.yaml: model-platform:models.days-to-sell.serving.replicas.min: 12 is greater than max (10)"
    ]


def test_unknown_keys_are_rejected_at_every_level():
    doc = stack_doc("staging")
    set_path(doc, f"{M}.serving.replica", 3)
    set_path(doc, "model-platform:bundleStore.versioned", True)
    doc["config"]["model-platform:modles"] = {}
    found = problems(doc)
    assert "stacks/Pulumi.staging.yaml: model-platform:models.days-to-sell.serving.replica: unknown key (typo?)" in found
    assert "stacks/Pulumi.staging.yaml: model-platform:bundleStore.versioned: unknown key (typo?)" in found
    assert "stacks/Pulumi.staging.yaml: model-platform:modles: unknown key (typo?)" in found


def test_all_errors_are_reported_at_once():
    doc = stack_doc("staging")
    set_path(doc, f"{M}.version", "1.4")
    set_path(doc, f"{M}.bundleSha256", "abc")
    set_path(doc, "model-platform:bundleStore.noncurrentVersionDays", 0)
    set_path(doc, "model-platform:databricks.discoveryCluster.autoterminationMinutes", 5)
    found = problems(doc)
    assert len(found) == 4, found
    keys = [p.split(": ")[1] for p in found]
    assert sorted(keys) == sorted(
        [
            f"{M}.version",
            f"{M}.bundleSha256",
            "model-platform:bundleStore.noncurrentVersionDays",
            "model-platform:databricks.discoveryCluster.autoterminationMinutes",
        ]
    )


@pytest.mark.parametrize(
    "path,value,expected",
    [
        (f"{M}.version", "v1.4.0", "does not match"),
        (f"{M}.version", "1.4.0-rc.1", None),
        (f"{M}.bundleSha256", "A" * 64, "does not match"),
        (f"{M}.bundleSha256", "a" * 63, "does not match"),
        (f"{M}.bundleSha256", "0123456789abcdef" * 4, None),
        (f"{M}.serving.replicas.min", "two", "valid integer"),
        (f"{M}.serving.replicas.max", 0, "greater than or equal to 1"),
        (f"{M}.serving.targetCpuUtilization", 150, "less than or equal to 100"),
        (f"{M}.serving.resources.requests.cpu", "lots", "does not match"),
        (f"{M}.serving.resources.limits.memory", "512Mi", "is below requests.memory"),
        (f"{M}.training.package", "s3://a/b.tar.gz", "neither a .whl nor a .jar"),
        (f"{M}.training.package", "s3://a/b-1.0.whl", "must contain '{version}'"),
        (f"{M}.training.schedule", {"cron": "0 3 * * *"}, "not a Quartz cron"),
        (f"{M}.training.schedule", {"cron": "0 0 3 * * ?", "timezone": "Europe/London"}, None),
        (f"{M}.training.numWorkers", 9, "greater than databricks.clusterPolicy.maxWorkers (8)"),
        (f"{M}.training.nodeType", "m5.large", "is not in databricks.nodeTypes"),
        (f"{M}.canary", {"version": "1.4.0", "bundleSha256": "0" * 64}, "already served"),
        (f"{M}.canary", {"version": "1.5.0", "bundleSha256": "0" * 64, "replicas": 1}, None),
        ("model-platform:environment", "production", "Input should be 'dev', 'staging' or 'prod'"),
        ("model-platform:aws.region", "london", "does not match"),
        ("model-platform:aws.accountId", "1234", "does not match"),
        ("model-platform:bundleStore.kmsKeyArn", "arn:aws:kms:eu-west-2:111122223333:key/abc", "is set but encryption is 'sse-s3'"),
        ("model-platform:bundleStore.bucketName", "Bad_Bucket", "does not match"),
        ("model-platform:databricks.host", "http://dbc.example.com", "does not match"),
        ("model-platform:databricks.mleapVersion", "0.24.0", "needs Spark 4.0 / Scala 2.13"),
        ("model-platform:databricks.sparkVersion", "14.3.x-cpu-ml-scala2.12", "newer than 13.3 LTS ML"),
        ("model-platform:databricks.sparkVersion", "13.3.x-scala2.12", "not an ML runtime"),
        ("model-platform:databricks.sparkVersion", "12.2.x-cpu-ml-scala2.12", "needs Spark 3.4"),
        ("model-platform:databricks.discoveryCluster.autoterminationMinutes", 10001, "less than or equal to 10000"),
        ("model-platform:databricks.discoveryCluster.autoterminationMinutes", 10, None),
        ("model-platform:databricks.discoveryCluster.minWorkers", 5, "is greater than maxWorkers (4)"),
        ("model-platform:databricks.notificationEmails", ["not-an-email"], "is not an email address"),
        ("model-platform:databricks.auth", "token", "databricksToken: is required"),
        ("model-platform:airflow.backend", "vault", "Input should be"),
        ("model-platform:airflow.recoveryWindowDays", 3, "is not 0 or 7..30"),
        ("model-platform:airflow.connections", {"slack": {"connType": "slack", "extra": {"token": "xoxb"}}}, "is a credential"),
        ("model-platform:airflow.connections", {"slack": {"connType": "slack", "passwordKey": "slackToken"}}, "not a secure key"),
        ("model-platform:kubernetes.version", "1.27", "older than the oldest supported"),
        ("model-platform:kubernetes.version", "1.29", None),
        ("model-platform:kubernetes.oidcProviderArn", "arn:aws:iam::1:role/x", "does not match"),
        ("model-platform:models", {"Days_To_Sell": {}}, "must be a DNS label"),
    ],
)
def test_validation_rule(path, value, expected):
    doc = set_path(stack_doc("staging"), path, value)
    if expected is None:
        parse(doc)
        return
    found = problems(doc)
    assert any(expected in p for p in found), found
    assert all(p.startswith("stacks/Pulumi.staging.yaml: model-platform:") for p in found)


def test_required_keys_are_named():
    doc = del_path(stack_doc("staging"), f"{M}.bundleSha256")
    del_path(doc, "model-platform:kubernetes")
    found = problems(doc)
    assert f"stacks/Pulumi.staging.yaml: {M}.bundleSha256: is required" in found
    assert "stacks/Pulumi.staging.yaml: model-platform:kubernetes: is required" in found


@pytest.mark.parametrize(
    "path,value,expected",
    [
        ("model-platform:kubernetes.images.serving", "registry.example.com/mleap:0.23.0", "must be pinned by digest"),
        (f"{M}.serving.image", "registry.example.com/mleap:latest", "must be pinned by digest"),
        (f"{M}.serving.replicas", {"min": 1, "max": 4}, "below 2, the prod minimum"),
        ("model-platform:bundleStore.protect", False, "cannot be false in prod"),
        ("model-platform:airflow.recoveryWindowDays", 0, "cannot be 0 in prod"),
    ],
)
def test_prod_only_requirements(path, value, expected):
    doc = set_path(stack_doc("prod"), path, value)
    found = problems(doc, "prod")
    assert any(expected in p for p in found), found
    # the same value is fine outside prod
    staging = set_path(stack_doc("staging"), path, value)
    parse(staging)


def test_plain_text_credential_is_refused():
    doc = stack_doc("staging")
    doc["config"]["model-platform:databricksClientSecret"] = "s3cr3t-in-plain-text"
    found = problems(doc)
    assert found == [
        "stacks/Pulumi.staging.yaml: model-platform:databricksClientSecret: is a credential in plain text: "
        "set it with 'pulumi config set --secret databricksClientSecret'"
    ]
    assert not any("s3cr3t" in p for p in found)


def test_credential_inside_structured_config_is_refused():
    doc = set_path(stack_doc("staging"), "model-platform:databricks.token", "dapi123")
    found = problems(doc)
    assert any("model-platform:databricks.token: is a credential" in p for p in found)
    assert not any("dapi123" in p for p in found)


def test_secure_key_named_by_password_key_is_accepted():
    doc = set_path(stack_doc("staging"), "model-platform:airflow.connections", {"slack": {"connType": "slack", "passwordKey": "slackToken"}})
    doc["config"]["model-platform:slackToken"] = {"secure": "v1:abc"}
    cfg = parse(doc)
    assert cfg.extra_secrets["slackToken"].reveal() == "[secret]"
    assert cfg.airflow.connections["slack"].password_key == "slackToken"


def test_unknown_secure_key_is_only_allowed_as_extra_secret():
    doc = stack_doc("staging")
    doc["config"]["model-platform:webhookToken"] = "plain"
    assert any("webhookToken: is a credential in plain text" in p for p in problems(doc))


def test_config_is_frozen():
    cfg = parse(stack_doc("staging"))
    with pytest.raises(Exception):
        cfg.models["days-to-sell"].version = "9.9.9"  # type: ignore[misc]


def test_secret_value_never_prints():
    from infra.config import SecretValue

    value = SecretValue("hunter2-very-secret")
    assert "hunter2" not in repr(value) and "hunter2" not in str(value) and "hunter2" not in f"{value}"
    assert value.reveal() == "hunter2-very-secret"


def test_secure_values_are_placeholders_offline():
    cfg = parse(stack_doc("staging"))
    assert cfg.databricks_client_secret.reveal() == "[secret]"
