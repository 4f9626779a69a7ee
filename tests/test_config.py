"""Typed stack config: every validation rule, good and bad, with exact key paths."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.config import ConfigError
import copy

from tests.conftest import del_path, set_path, stack_doc, with_models
from tests.conftest import parse_doc as parse

M = "model-platform:models.days-to-sell"


def copy_doc(doc: dict) -> dict:
    return copy.deepcopy(doc)



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
    assert "stacks/Pulumi.staging.yaml: model-platform:models.days-to-sell.serving.replica: unknown key (did you mean 'replicas'?)" in found
    assert "stacks/Pulumi.staging.yaml: model-platform:bundleStore.versioned: unknown key (typo?)" in found
    assert "stacks/Pulumi.staging.yaml: model-platform:modles: unknown key (did you mean 'models'?)" in found


def test_all_errors_are_reported_at_once():
    doc = stack_doc("staging")
    set_path(doc, f"{M}.version", "1.4+build.7")
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
        (f"{M}.version", "1.4.0+build.7", "'1.4.0+build.7' is not a model version: 1 to 63 letters"),
        (f"{M}.version", "-1.4.0", "is not a model version"),
        (f"{M}.version", "x" * 64, "is not a model version"),
        (f"{M}.version", 1.4, "1.4 was read by YAML as a number, not text: quote the model version"),
        (f"{M}.version", "1.4.0-rc.1", None),
        (f"{M}.version", "2026-12-02-884422123", None),
        (f"{M}.version", "v1.4.0", None),
        (f"{M}.bundleSha256", "A" * 64, "is not a sha256 digest (64 lowercase hex digits)"),
        (f"{M}.bundleSha256", "a" * 63, "is not a sha256 digest (64 lowercase hex digits)"),
        (f"{M}.bundleSha256", "0123456789abcdef" * 4, None),
        (f"{M}.serving.replicas.min", "two", "valid integer"),
        (f"{M}.serving.replicas.max", 0, "greater than or equal to 1"),
        (f"{M}.serving.targetCpuUtilization", 150, "less than or equal to 100"),
        (f"{M}.serving.resources.requests.cpu", "lots", "'lots' is not a CPU quantity: e.g. 500m or 2"),
        (f"{M}.serving.resources.limits.memory", "512Mi", "is below requests.memory"),
        (f"{M}.training.package", "s3://a/b.tar.gz", "neither a .whl nor a .jar"),
        (f"{M}.training.package", "s3://a/b-{version}.whl", "uses '{version}', which is no longer replaced"),
        (f"{M}.training.package", "s3://artifacts/b-1.0.whl", "packageVersion: is set, but package has no '{packageVersion}'"),
        (f"{M}.training.packageVersion", "1.4.0+local", "'1.4.0+local' is not a package version"),
        (f"{M}.training.packageVersion", "1.5.0", None),
        (f"{M}.training.schedule", {"cron": "0 3 * * *", "timezone": "Europe/London"}, None),
        (f"{M}.training.schedule", {"cron": "0 0 3 * * ?"}, "is not a 5-field cron expression"),
        (f"{M}.training.schedule", {"runBy": "databricks", "cron": "0 3 * * *"}, "is not a Quartz cron expression"),
        (f"{M}.training.schedule", {"runBy": "databricks", "cron": "0 0 3 * * ?", "paused": True}, None),
        (f"{M}.training.schedule", {"cron": "0 3 * * *", "paused": True}, "applies to a Databricks schedule only"),
        (f"{M}.training.schedule", {"runBy": "cron", "cron": "0 3 * * *"}, "Input should be 'airflow' or 'databricks'"),
        (f"{M}.training.numWorkers", 9, "greater than databricks.clusterPolicy.maxWorkers (8)"),
        (f"{M}.training.nodeType", "m5.large", "is not in databricks.nodeTypes"),
        (f"{M}.canary", {"version": "1.4.0", "bundleSha256": "0" * 64}, "already served"),
        (f"{M}.canary", {"version": "1.5.0", "bundleSha256": "0" * 64, "replicas": 1}, None),
        ("model-platform:environment", "production", "Input should be 'dev', 'staging' or 'prod'"),
        ("model-platform:aws.region", "london", "'london' is not an AWS region: e.g. eu-west-2"),
        ("model-platform:aws.accountId", "1234", "'1234' is not an AWS account id: 12 digits"),
        ("model-platform:bundleStore.kmsKeyArn", "arn:aws:kms:eu-west-2:111122223333:key/abc", "is set but encryption is 'sse-s3'"),
        ("model-platform:bundleStore.bucketName", "Bad_Bucket", "is not an S3 bucket name: 3 to 63 lowercase"),
        ("model-platform:databricks.host", "http://dbc.example.com", "is not a workspace URL: https://<host>"),
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
        ("model-platform:airflow.connections.slack", {"connType": "slack", "extra": {"token": "xoxb"}}, "is a credential"),
        ("model-platform:airflow.connections.slack", {"connType": "slack", "passwordKey": "slackToken"}, "not a secure key"),
        ("model-platform:kubernetes.version", "1.27", "older than the oldest supported"),
        ("model-platform:kubernetes.version", "1.29", None),
        ("model-platform:kubernetes.oidcProviderArn", "arn:aws:iam::1:role/x", "is not an IAM OIDC provider's ARN"),
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


def test_a_package_with_the_placeholder_needs_a_package_version():
    doc = del_path(stack_doc("staging"), f"{M}.training.packageVersion")
    assert problems(doc) == [
        f"stacks/Pulumi.staging.yaml: {M}.training.packageVersion: is required: package contains '{{packageVersion}}'"
    ]
    fixed = set_path(copy_doc(doc), f"{M}.training.package", "dbfs:/FileStore/wheels/days_to_sell-1.4.0-py3-none-any.whl")
    assert parse(fixed).models["days-to-sell"].training.package_uri.endswith("days_to_sell-1.4.0-py3-none-any.whl")


def test_a_package_still_using_the_model_version_placeholder_says_what_changed():
    package = "s3://pricing-artifacts/days-to-sell/days_to_sell-{version}-py3-none-any.whl"
    (problem,) = problems(set_path(stack_doc("staging"), f"{M}.training.package", package))
    assert problem.startswith(f"stacks/Pulumi.staging.yaml: {M}.training.package: ")
    assert "'{version}', which is no longer replaced" in problem
    assert "Write '{packageVersion}' instead and set training.packageVersion" in problem


@pytest.mark.parametrize("path", [f"{M}.version", f"{M}.canary.version"])
def test_one_message_for_a_bad_version_wherever_it_is_written(path):
    doc = set_path(stack_doc("staging"), f"{M}.canary", {"version": "1.5.0", "bundleSha256": "c" * 64})
    set_path(doc, path, "1.5.0+build.7")
    (problem,) = problems(doc)
    assert problem == (
        f"stacks/Pulumi.staging.yaml: {path}: '1.5.0+build.7' is not a model version: 1 to 63 letters, digits, '.', "
        "'_' or '-', starting and ending with a letter or digit (e.g. 1.4.0 or 2026-12-02-884422)"
    )


@pytest.mark.parametrize("path", [f"{M}.bundleSha256", f"{M}.canary.bundleSha256"])
def test_one_message_for_a_bad_digest_wherever_it_is_written(path):
    doc = set_path(stack_doc("staging"), f"{M}.canary", {"version": "1.5.0", "bundleSha256": "c" * 64})
    set_path(doc, path, "C" * 64)
    (problem,) = problems(doc)
    assert problem == f"stacks/Pulumi.staging.yaml: {path}: '{'C' * 64}' is not a sha256 digest (64 lowercase hex digits)"


@pytest.mark.parametrize(
    "value, kind",
    [(1.10, "a number"), (2026, "a number")],
)
def test_a_version_yaml_read_as_a_number_says_quote_it(value, kind):
    (problem,) = problems(set_path(stack_doc("staging"), f"{M}.version", value))
    assert f"{value!r} was read by YAML as {kind}, not text: quote the model version" in problem


def test_an_account_id_yaml_read_as_a_number_says_quote_it():
    (problem,) = problems(set_path(stack_doc("staging"), "model-platform:aws.accountId", 111122223333))
    assert problem.endswith("model-platform:aws.accountId: 111122223333 was read by YAML as a number, not text: quote it (\"111122223333\")")


def test_more_tags_than_an_s3_object_carries_are_refused():
    tags = {f"tag{i}": "x" for i in range(7)}
    (problem,) = problems(set_path(stack_doc("staging"), "model-platform:tags", tags))
    assert "model-platform:tags: 7 tags are more than 6" in problem
    parse(set_path(stack_doc("staging"), "model-platform:tags", dict(list(tags.items())[:6])))


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
    doc = set_path(stack_doc("staging"), "model-platform:airflow.connections.slack", {"connType": "slack", "passwordKey": "slackToken"})
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
    with pytest.raises(ValidationError, match="frozen"):
        cfg.models["days-to-sell"].version = "9.9.9"  # type: ignore[misc]


def test_secret_value_never_prints():
    from infra.config import SecretValue

    value = SecretValue("hunter2-very-secret")
    assert "hunter2" not in repr(value) and "hunter2" not in str(value) and "hunter2" not in f"{value}"
    assert value.reveal() == "hunter2-very-secret"


def test_secure_values_are_placeholders_offline():
    cfg = parse(stack_doc("staging"))
    assert cfg.databricks_client_secret.reveal() == "[secret]"


# --------------------------------------------------------------------------- credentials in either spelling


@pytest.mark.parametrize(
    "key,secure_name",
    [
        ("databricksClientSecret", "databricksClientSecret"),
        ("databricks_client_secret", "databricksClientSecret"),
        ("databricksToken", "databricksToken"),
        ("databricks_token", "databricksToken"),
    ],
)
def test_a_plain_text_credential_is_refused_in_either_spelling_without_echoing_it(key, secure_name):
    doc = stack_doc("staging")
    doc["config"][f"model-platform:{key}"] = "s3cr3t-plain"
    found = problems(doc)
    assert (
        f"stacks/Pulumi.staging.yaml: model-platform:{key}: is a credential in plain text: "
        f"set it with 'pulumi config set --secret {secure_name}'"
    ) in found
    assert not any("s3cr3t" in p for p in found), found


@pytest.mark.parametrize("path", ["model-platform:databricks.client_secret", "model-platform:databricks.clientSecret"])
def test_a_credential_nested_in_either_spelling_is_refused_without_echoing_it(path):
    found = problems(set_path(stack_doc("staging"), path, "s3cr3t-plain"))
    assert found == [f"stacks/Pulumi.staging.yaml: {path}: is a credential: set it as a secure top-level key "
                     "(pulumi config set --secret ...), never in plain text"]


def test_stack_files_spell_keys_in_camel_case_only():
    doc = stack_doc("staging")
    doc["config"]["model-platform:databricks"]["client_id"] = doc["config"]["model-platform:databricks"].pop("clientId")
    doc["config"]["model-platform:bundle_store"] = doc["config"].pop("model-platform:bundleStore")
    found = problems(doc)
    assert "stacks/Pulumi.staging.yaml: model-platform:bundle_store: unknown key: stack files spell keys in camelCase (bundleStore)" in found
    assert "stacks/Pulumi.staging.yaml: model-platform:databricks.client_id: unknown key: stack files spell keys in camelCase (clientId)" in found


# --------------------------------------------------------------------------- namespaces


def test_a_key_in_a_misspelled_namespace_is_refused():
    doc = stack_doc("staging")
    doc["config"]["model-platfrom:bundleStore"] = {"protect": True}
    found = problems(doc)
    assert len(found) == 1, found
    assert found[0].startswith(
        "stacks/Pulumi.staging.yaml: model-platfrom:bundleStore: unknown config namespace 'model-platfrom' "
        "(typo of 'model-platform'?)"
    )


def test_the_providers_and_pulumis_namespaces_are_theirs_to_read():
    doc = stack_doc("staging")
    assert doc["config"]["aws:region"] == "eu-west-2"
    doc["config"].update({"kubernetes:context": "ml-serving", "databricks:host": "https://x", "pulumi:disable-default-providers": ["*"]})
    parse(doc)


# --------------------------------------------------------------------------- every problem at once


def test_rules_spanning_blocks_still_run_when_a_field_is_invalid():
    doc = stack_doc("prod")
    set_path(doc, f"{M}.serving.replicas", {"min": 1, "max": 4})
    set_path(doc, "model-platform:kubernetes.images.serving", "registry.example.com/ml/mleap-serving:0.23.0")
    set_path(doc, f"{M}.bundleSha256", "abc")
    assert problems(doc, "prod") == [
        f"stacks/Pulumi.prod.yaml: {M}.bundleSha256: 'abc' is not a sha256 digest (64 lowercase hex digits)",
        "stacks/Pulumi.prod.yaml: model-platform:kubernetes.images.serving: 'registry.example.com/ml/mleap-serving:0.23.0' "
        "must be pinned by digest (…@sha256:<64 hex>) in prod",
        f"stacks/Pulumi.prod.yaml: {M}.serving.replicas.min: 1 is below 2, the prod minimum",
    ]


def test_a_block_reports_every_problem_it_has():
    doc = stack_doc("staging")
    del doc["config"]["model-platform:databricks"]["clientId"]
    set_path(doc, "model-platform:databricks.mleapVersion", "0.24.0")
    set_path(doc, "model-platform:databricks.driverNodeType", "m5.large")
    set_path(doc, "model-platform:databricks.notificationEmails", ["one", "two@example.com", "three"])
    assert problems(doc) == [
        "stacks/Pulumi.staging.yaml: model-platform:databricks.notificationEmails.0: 'one' is not an email address",
        "stacks/Pulumi.staging.yaml: model-platform:databricks.notificationEmails.2: 'three' is not an email address",
    ]
    set_path(doc, "model-platform:databricks.notificationEmails", ["two@example.com"])
    assert problems(doc) == [
        "stacks/Pulumi.staging.yaml: model-platform:databricks.clientId: is required when auth is 'oauth-m2m'",
        "stacks/Pulumi.staging.yaml: model-platform:databricks.mleapVersion: MLeap 0.24.0 needs Spark 4.0 / Scala 2.13, "
        "but runtime '13.3.x-cpu-ml-scala2.12' has Spark 3.4 / Scala 2.12",
        "stacks/Pulumi.staging.yaml: model-platform:databricks.driverNodeType: 'm5.large' is not in nodeTypes "
        "['i3.xlarge', 'i3.2xlarge']",
    ]


def test_every_problem_of_a_model_is_reported():
    doc = set_path(stack_doc("staging"), f"{M}.serving.resources", {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}})
    doc["config"]["model-platform:airflow"]["connections"].update({"a.b": {"connType": "http"}, "aws_default": {"connType": "aws"}})
    assert problems(doc) == [
        "stacks/Pulumi.staging.yaml: model-platform:airflow.connections.a.b: conn_id may hold only letters, digits, '_' and '-'",
        "stacks/Pulumi.staging.yaml: model-platform:airflow.connections.aws_default: is declared by the stack itself; "
        "choose another conn_id",
        f"stacks/Pulumi.staging.yaml: {M}.serving.resources.requests.cpu: is required: the HPA scales on CPU utilization "
        "of the request",
        f"stacks/Pulumi.staging.yaml: {M}.serving.resources.limits.memory: 1Gi is below requests.memory (2Gi)",
    ]


# --------------------------------------------------------------------------- tags


@pytest.mark.parametrize(
    "tags,expected",
    [
        ({"cost centre": "cc-1"}, "model-platform:tags: 'cost centre' is not a valid tag key"),
        ({"-team": "x"}, "model-platform:tags: '-team' is not a valid tag key"),
        ({"k" * 64: "x"}, f"model-platform:tags: '{'k' * 64}' is not a valid tag key"),
        ({"team": "pricing data science"}, "model-platform:tags.team: 'pricing data science' is not a valid tag value"),
        ({"team": "v" * 64}, "model-platform:tags.team: 'vvvv"),
        ({"team": "x_"}, "model-platform:tags.team: 'x_' is not a valid tag value"),
        ({"environment": "qa"}, "model-platform:tags.environment: is set by the platform on every resource"),
        ({"Project": "x"}, "model-platform:tags.Project: is set by the platform on every resource"),
        ({"managed-by": "terraform"}, "model-platform:tags.managed-by: is set by the platform"),
        ({"model": "x"}, "model-platform:tags.model: is set by the platform"),
    ],
)
def test_tags_must_be_label_names_and_values_and_not_the_platforms(tags, expected):
    found = problems(set_path(stack_doc("staging"), "model-platform:tags", tags))
    assert len(found) == 1 and found[0].startswith(f"stacks/Pulumi.staging.yaml: {expected}"), found


def test_valid_tags_are_accepted_and_the_reserved_keys_are_the_platforms_own():
    from infra.contract.naming import PLATFORM_TAG_KEYS, aws_tags

    tags = {"team": "pricing", "cost-centre": "cc-1234", "created": "2024-01-01", "owner.email": "", "A_b.c-9": "Z"}
    cfg = parse(set_path(stack_doc("staging"), "model-platform:tags", tags))
    assert cfg.tags == tags
    platform = aws_tags(environment=cfg.environment.value, tags=cfg.tags, model="days-to-sell")
    assert set(platform) - set(tags) == set(PLATFORM_TAG_KEYS)


# --------------------------------------------------------------------------- serving image vs MLeap version


def test_the_staging_image_serves_the_mleap_line_training_exports():
    cfg = parse(stack_doc("staging"))
    assert cfg.databricks.mleap_version.startswith("0.23.")
    assert cfg.kubernetes.images.serving.endswith(":0.23.0")


@pytest.mark.parametrize(
    "path,image,expected",
    [
        ("model-platform:kubernetes.images.serving", "registry.example.com/ml/mleap-serving:0.21.0", "kubernetes.images.serving: "
         "'registry.example.com/ml/mleap-serving:0.21.0' is tagged for MLeap 0.21, but databricks.mleapVersion is 0.23.0"),
        ("model-platform:kubernetes.images.serving", "registry:5000/mleap:0.24.1@sha256:" + "a" * 64, "is tagged for MLeap 0.24"),
        (f"{M}.serving.image", "registry.example.com/ml/mleap-serving:0.22.0", "days-to-sell.serving.image: "
         "'registry.example.com/ml/mleap-serving:0.22.0' is tagged for MLeap 0.22"),
        ("model-platform:kubernetes.images.serving", "registry.example.com/ml/mleap-serving:0.23.4", None),
        ("model-platform:kubernetes.images.serving", "registry:5000/mleap:0.23.0@sha256:" + "a" * 64, None),
        ("model-platform:kubernetes.images.serving", "registry.example.com/ml/mleap-serving:latest", None),
        ("model-platform:kubernetes.images.serving", "registry:5000/mleap-serving", None),
        ("model-platform:kubernetes.images.serving", "registry.example.com/ml/mleap-serving:0.21.0-jdk11", None),
    ],
)
def test_a_serving_image_tagged_with_a_version_must_match_the_mleap_line(path, image, expected):
    doc = set_path(stack_doc("staging"), path, image)
    if expected is None:
        parse(doc)
        return
    found = problems(doc)
    assert len(found) == 1 and expected in found[0], found


def test_the_default_serving_image_is_refused_for_another_mleap_line():
    doc = stack_doc("staging")
    del doc["config"]["model-platform:kubernetes"]["images"]
    assert problems(doc) == [
        "stacks/Pulumi.staging.yaml: model-platform:kubernetes.images.serving: 'combustml/mleap-spring-boot:0.21.0' "
        "(the default) is tagged for MLeap 0.21, but databricks.mleapVersion is 0.23.0: serve the bundles with an image "
        "built for MLeap 0.23"
    ]
    set_path(doc, f"{M}.serving.image", "registry.example.com/ml/mleap-serving:0.23.0")
    parse(doc)  # no model uses the default


def test_the_default_serving_image_fits_an_mleap_0_21_stack():
    doc = stack_doc("staging")
    del doc["config"]["model-platform:kubernetes"]["images"]
    set_path(doc, "model-platform:databricks.sparkVersion", "10.4.x-cpu-ml-scala2.12")
    set_path(doc, "model-platform:databricks.mleapVersion", "0.21.1")
    parse(doc)


# --------------------------------------------------------------------------- secure values inside structured config


def test_a_secure_value_inside_structured_config_is_named_with_what_to_do():
    doc = set_path(
        stack_doc("staging"), "model-platform:airflow.connections.warehouse", {"connType": "postgres", "password": {"secure": "v1:abc"}}
    )
    assert problems(doc) == [
        "stacks/Pulumi.staging.yaml: model-platform:airflow.connections.warehouse.password: is a secure value inside "
        "structured config (pulumi config set --path --secret); structured config cannot hold a secure value: set it as "
        "a top-level secure key (pulumi config set --secret NAME) and name that key in passwordKey"
    ]


# --------------------------------------------------------------------------- model names


def test_a_model_named_like_another_models_canary_is_refused():
    doc = with_models(stack_doc("staging"), ["days-to-sell", "days-to-sell-canary"])
    assert problems(doc) == [
        "stacks/Pulumi.staging.yaml: model-platform:models.days-to-sell-canary: collides with model 'days-to-sell', "
        "whose canary Deployment is named 'days-to-sell-canary': rename one of the two models"
    ]
    parse(with_models(stack_doc("staging"), ["days-to-sell", "canary", "days-to-sell-canaryx"]))


@pytest.mark.parametrize(
    "path,value,expected",
    [
        (f"{M}.training.package", "s3://bucket-{packageVersion}.whl", "is not s3://<bucket>/<key of the package file>"),
        (f"{M}.training.package", "dbfs:/FileStore/jars/model-{packageVersion}.jar", None),
        ("model-platform:kubernetes.clusterName", "ml-serving\nprod", "is not an EKS cluster name"),
        ("model-platform:kubernetes.context", "ctx with spaces", "is not a kubeconfig context name: no whitespace"),
    ],
)
def test_values_that_would_break_the_program_or_ci_are_refused(path, value, expected):
    doc = set_path(stack_doc("staging"), path, value)
    if path.endswith("package") and value.endswith(".jar"):
        set_path(doc, f"{M}.training.packageName", "com.example.Train")
    if expected is None:
        parse(doc)
        return
    found = problems(doc)
    assert any(path in p and expected in p for p in found), found


# --------------------------------------------------------------------------- airflow: the training DAG and its release

A = "model-platform:airflow"


def airflow_of(doc: dict) -> dict:
    return doc["config"][A]


@pytest.mark.parametrize(
    "edit, expected",
    [
        pytest.param(
            lambda a: a["dags"].pop("bucket"),
            f"{A}.dags.bucket: is required with the secrets-manager backend (MWAA): the S3 bucket of the MWAA environment",
            id="mwaa-needs-its-bucket",
        ),
        pytest.param(
            lambda a: a.update(backend="kubernetes-secret"),
            f"{A}.dags.bucket: applies to MWAA (backend secrets-manager) only",
            id="no-bucket-with-a-configmap",
        ),
        pytest.param(
            lambda a: a["dags"].update(folder="dags/../other"),
            f"{A}.dags.folder: 'dags/../other' has a '.' or '..' segment",
            id="folder-without-dot-segments",
        ),
        pytest.param(
            lambda a: a.pop("dags"),
            f"{A}.release: opens pull requests from the training DAG the stack delivers: set airflow.dags too",
            id="release-needs-the-dag",
        ),
        pytest.param(
            lambda a: a["connections"].pop("github_release"),
            f"{A}.release.connId: 'github_release' is not a connection of airflow.connections: declare it under "
            "airflow.connections.github_release with connType http",
            id="connection-declared",
        ),
        pytest.param(
            lambda a: a["connections"]["github_release"].pop("passwordKey"),
            f"{A}.release.connId: 'github_release' has no passwordKey: the GitHub token is the connection's password, "
            "read from the secure key passwordKey names",
            id="token-in-a-secure-key",
        ),
        pytest.param(
            lambda a: a["connections"]["github_release"].update(connType="postgres"),
            f"{A}.release.connId: 'github_release' has connType 'postgres'; the release step calls the GitHub REST API "
            "through an http or github connection",
            id="http-connection",
        ),
        pytest.param(
            lambda a: a["release"].update(stackFile="stacks/Pulumi.staging.json"),
            f"{A}.release.stackFile: 'stacks/Pulumi.staging.json' is not a stack file",
            id="stack-file-is-yaml",
        ),
        pytest.param(
            lambda a: a["release"].update(repository="https://github.com/acme/model-platform"),
            f"{A}.release.repository: 'https://github.com/acme/model-platform' is not a GitHub repository: owner/name",
            id="repository-is-owner-slash-name",
        ),
    ],
)
def test_the_dag_delivery_and_release_blocks_are_checked(edit, expected):
    doc = stack_doc("staging")
    edit(airflow_of(doc))
    found = problems(doc)
    assert any(p.startswith(f"stacks/Pulumi.staging.yaml: {expected}") for p in found), found


def test_a_configmap_delivery_needs_no_bucket():
    doc = stack_doc("staging")
    airflow = airflow_of(doc)
    airflow["backend"] = "kubernetes-secret"
    del airflow["dags"]["bucket"]
    assert parse(doc).airflow.dags.config_map == "model-platform-dags"


def test_an_airflow_schedule_needs_the_dag_the_stack_delivers():
    doc = stack_doc("prod")
    airflow = airflow_of(doc)
    del airflow["dags"]
    assert problems(doc, "prod") == [
        "stacks/Pulumi.prod.yaml: model-platform:models.days-to-sell.training.schedule.runBy: is airflow, so the model's "
        "training DAG runs on this schedule, but the stack delivers no DAG: set airflow.dags (where the DAG goes), or "
        "runBy: databricks with a Quartz cron"
    ]
    quartz = {"runBy": "databricks", "cron": "0 0 3 * * ?", "timezone": "Europe/London"}
    parse(set_path(doc, "model-platform:models.days-to-sell.training.schedule", quartz), "prod")


def test_a_stack_without_a_dag_or_release_is_valid():
    doc = stack_doc("staging")
    airflow = airflow_of(doc)
    del airflow["dags"], airflow["release"]
    cfg = parse(doc)
    assert cfg.airflow.dags is None and cfg.airflow.release is None


def test_the_environments_are_the_contracts():
    """The policy pack names its config files after the contract's environments: the config accepts exactly those."""
    from infra.config import Environment
    from infra.contract.naming import ENVIRONMENTS, PROD

    assert tuple(e.value for e in Environment) == ENVIRONMENTS
    assert Environment.prod.value == PROD


@pytest.mark.parametrize(
    "path",
    ["model-platform:kubernetes.namespace", "model-platform:airflow.namespace", f"{M}.serving.ingress.controllerNamespace"],
)
def test_every_namespace_is_a_dns_label_of_at_most_63_characters(path):
    doc = stack_doc("staging")
    if "ingress" in path:
        set_path(doc, f"{M}.serving.ingress", {"host": "days-to-sell.example.com"})
    set_path(doc, path, "n" * 63)
    parse(doc)
    set_path(doc, path, "n" * 64)
    (problem,) = problems(doc)
    assert f"{path}: '{'n' * 64}' is not a DNS label: at most 63 lowercase letters" in problem
