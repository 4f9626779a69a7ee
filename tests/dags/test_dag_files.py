"""The training DAG reaches Airflow with ``pulumi up``: objects in MWAA's bucket, or a ConfigMap; planned offline."""

from __future__ import annotations

import json

import pytest

from infra.components.airflow_dags import bundles_reader_policy
from infra.components.dag_files import DAG_FILE, SHARED_MODULES, training_timeout_minutes
from infra.stack_source import StackFile
from modelctl.diff import diff_plans
from tests.conftest import ROOT, plan_doc, set_path, stack_doc, with_models
from tests.dags.conftest import BUCKET_OBJECT, DAGS_COMPONENT, dag_objects
from tests.dags.declared import declare_stack, mock_arn, reveal

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
BUCKET = "aws:s3/bucket:Bucket"
KMS_KEY = "aws:kms/key:Key"
MODELS = "model-platform:models"
PACKAGE = "dags/model_platform_dags/"
#: Every file of the delivered package.
FILES = {
    ".airflowignore",
    "__init__.py",
    "bundles.py",
    "factory.py",
    "github.py",
    "layout.py",
    "manifest.json",
    "manifest.py",
    "model_version.py",
    "pin_edit.py",
    "steps.py",
    "training_dags.py",
}


def manifest_of(plan) -> dict:
    return json.loads(dag_objects(plan)[PACKAGE + "manifest.json"])


def dag_changes(before, after) -> list[str]:
    diff = diff_plans(before, after)
    return sorted(
        [c.key for c in diff.changed if DAGS_COMPONENT in c.key]
        + [r.urn for r in [*diff.added, *diff.removed] if DAGS_COMPONENT in r.urn]
    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_plan_writes_the_dag_package_to_the_mwaa_environments_dag_folder(real_plan, stack):
    plan = real_plan(stack)
    dags = stack_doc(stack)["config"]["model-platform:airflow"]["dags"]
    objects = [r for r in plan.by_type(BUCKET_OBJECT) if DAGS_COMPONENT in r.urn]
    assert {r.inputs["key"] for r in objects} == {PACKAGE + name for name in FILES}
    for r in objects:
        assert r.inputs["bucket"] == dags["bucket"], r.name
        assert "tags" not in r.inputs, r.name  # the stack's tags come from the AWS provider's default_tags
    assert plan.outputs["airflowDags"] == f"s3://{dags['bucket']}/dags/model_platform_dags/"


def test_shared_modules_are_delivered_byte_for_byte(real_plan):
    """The DAG derives versions, checks bundles and edits the stack file with the repository's own code."""
    objects = dag_objects(real_plan("staging"))
    for name, source in SHARED_MODULES:
        assert objects[PACKAGE + name] == (ROOT / source).read_text(encoding="utf-8"), name


def test_the_dag_processor_is_told_to_skip_every_module_but_the_dag_file(real_plan):
    lines = dag_objects(real_plan("staging"))[PACKAGE + ".airflowignore"].splitlines()
    names = [line for line in lines if line.endswith(".py")]
    assert sorted(names) == sorted(name for name in FILES if name.endswith(".py") and name != DAG_FILE)


def test_a_release_changes_no_dag_object():
    doc = with_models(stack_doc("staging"), ["days-to-sell", "price-band"])
    before = plan_doc(doc, "staging")
    set_path(doc, f"{MODELS}.days-to-sell.version", "2026-12-02-884422123")
    set_path(doc, f"{MODELS}.days-to-sell.bundleSha256", "b" * 64)
    after = plan_doc(doc, "staging")
    assert dag_changes(before, after) == []
    assert diff_plans(before, after).changed, "the release itself does change the stack"


def test_adding_a_model_changes_only_the_manifest_and_the_dags_read_grant(real_plan):
    before = real_plan("staging")
    after = plan_doc(with_models(stack_doc("staging"), ["days-to-sell", "price-band"]), "staging")
    assert [key.rsplit("::", 1)[1] for key in dag_changes(before, after)] == ["airflow-bundles-reader", "dag-manifest.json"]
    assert sorted(manifest_of(after)["models"]) == ["days-to-sell", "price-band"]
    assert manifest_of(after)["models"]["price-band"]["dagId"] == "price-band-training"


def test_the_manifest_says_what_the_dag_reads_and_never_a_version(real_plan):
    manifest = manifest_of(real_plan("staging"))
    assert manifest["models"]["days-to-sell"]["variables"] == {
        "trainingJobId": "days_to_sell_training_job_id",
        "bundleBucket": "days_to_sell_bundle_bucket",
    }
    assert manifest["connections"] == {"databricks": "databricks_default", "aws": "aws_default"}
    assert manifest["release"] == {
        "repository": "acme/model-platform",
        "baseBranch": "main",
        "stackFile": "stacks/Pulumi.staging.yaml",
        "connId": "github_release",
    }
    served = stack_doc("staging")["config"][MODELS]["days-to-sell"]
    text = dag_objects(real_plan("staging"))[PACKAGE + "manifest.json"]
    assert served["version"] not in text and served["bundleSha256"] not in text


def test_the_schedule_is_the_manifests_when_airflow_schedules(real_plan):
    schedule = stack_doc("prod")["config"][MODELS]["days-to-sell"]["training"]["schedule"]
    assert manifest_of(real_plan("prod"))["models"]["days-to-sell"]["schedule"] == {
        "cron": schedule["cron"],
        "timezone": schedule["timezone"],
    }
    assert manifest_of(real_plan("staging"))["models"]["days-to-sell"]["schedule"] is None, "staging has no schedule"
    quartz = {"runBy": "databricks", "cron": "0 0 3 * * ?", "timezone": "Europe/London"}
    databricks = plan_doc(set_path(stack_doc("prod"), f"{MODELS}.days-to-sell.training.schedule", quartz), "prod")
    assert manifest_of(databricks)["models"]["days-to-sell"]["schedule"] is None, "one scheduler: the job's own"


def test_a_schedule_change_changes_only_the_manifest(real_plan):
    doc = set_path(stack_doc("prod"), f"{MODELS}.days-to-sell.training.schedule.cron", "30 4 * * 1-5")
    (changed,) = dag_changes(real_plan("prod"), plan_doc(doc, "prod"))
    assert changed.endswith("dag-manifest.json")


def test_the_training_task_waits_as_long_as_every_task_with_every_retry_could_take():
    doc = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.timeoutMinutes", 30)
    set_path(doc, f"{MODELS}.days-to-sell.training.maxRetries", 2)
    set_path(doc, f"{MODELS}.days-to-sell.training.retryIntervalMinutes", 5)
    cfg = StackFile.from_document(doc, "stacks/Pulumi.staging.yaml").stack_config()
    # 5 tasks x (3 attempts x 30 min + 2 retry pauses x 5 min) + 60 min for queueing and the cluster's start
    assert training_timeout_minutes(cfg, "days-to-sell") == 5 * (3 * 30 + 2 * 5) + 60


def test_self_hosted_airflow_gets_the_package_as_one_configmap(real_plan):
    doc = stack_doc("staging")
    set_path(doc, "model-platform:airflow.backend", "kubernetes-secret")
    del doc["config"]["model-platform:airflow"]["dags"]["bucket"]
    plan = plan_doc(doc, "staging")
    assert not [r for r in plan.by_type(BUCKET_OBJECT) if DAGS_COMPONENT in r.urn]
    (config_map,) = [r for r in plan.by_type(CONFIG_MAP) if DAGS_COMPONENT in r.urn]
    assert (config_map.inputs["metadata"]["name"], config_map.inputs["metadata"]["namespace"]) == ("model-platform-dags", "airflow")
    assert config_map.inputs["metadata"]["labels"]["app.kubernetes.io/component"] == "airflow-dags"
    delivered = {key.removeprefix(PACKAGE): content for key, content in dag_objects(real_plan("staging")).items()}
    assert config_map.inputs["data"] == delivered, "the same files as in MWAA's bucket"
    assert plan.outputs["airflowDags"] == "configmap/airflow/model-platform-dags"


def test_without_airflow_dags_the_stack_delivers_no_dag():
    doc = stack_doc("staging")
    airflow = doc["config"]["model-platform:airflow"]
    del airflow["dags"], airflow["release"]
    plan = plan_doc(doc, "staging")
    assert not [r for r in plan.resources if DAGS_COMPONENT in r.urn and r.type != DAGS_COMPONENT]
    assert plan.outputs["airflowDags"] is None


BUCKET_ARN = "arn:aws:s3:::model-platform-prod-bundles-444455556666"
KEY_ARN = "arn:aws:kms:eu-west-2:444455556666:key/0f0e0d0c-0000-4b4a-8a8b-0c0d0e0f0a0b"


@pytest.mark.parametrize("kms", [None, KEY_ARN], ids=["sse-s3", "sse-kms"])
def test_the_dag_may_read_the_models_versions_and_nothing_else(kms):
    import boto3
    from moto import mock_aws

    document = bundles_reader_policy(BUCKET_ARN, ["days-to-sell", "price-band"], kms, "eu-west-2").to_json()
    statements = {s["Sid"]: s for s in json.loads(document)["Statement"]}
    assert statements.pop("ReadRunVersions") == {
        "Sid": "ReadRunVersions",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": [f"{BUCKET_ARN}/days-to-sell/*/*", f"{BUCKET_ARN}/price-band/*/*"],
    }
    if kms:  # decrypt with the store's key, through S3 only
        assert statements.pop("DecryptRunVersions") == {
            "Sid": "DecryptRunVersions",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": KEY_ARN,
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-2.amazonaws.com"}},
        }
    assert statements == {}
    with mock_aws():
        boto3.client("iam", region_name="us-east-1").create_policy(PolicyName="reader", PolicyDocument=document)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_stack_grants_the_read_on_its_own_bucket_and_key_as_a_policy_to_attach(stack):
    secrets = {"databricksClientSecret": "s", "githubReleaseToken": "t"}
    declared = declare_stack(with_models(stack_doc(stack), ["days-to-sell", "price-band"]), stack, secrets)
    (policy,) = [p for name, p in declared.of_type("aws:iam/policy:Policy").items() if name == "airflow-bundles-reader"]
    assert policy["name"] == f"model-platform-{stack}-airflow-bundles-reader"
    # The bucket's and the key's ARNs as the (mock) provider returned them: the store's own, whatever they are.
    (bucket,) = [mock_arn(BUCKET, name, {}) for name in declared.of_type(BUCKET)]
    keys = [mock_arn(KMS_KEY, name, {}) for name in declared.of_type(KMS_KEY)]
    assert len(keys) == (stack == "prod"), "prod's store uses SSE-KMS with a key the stack creates; staging SSE-S3"
    expected = bundles_reader_policy(bucket, ["days-to-sell", "price-band"], keys[0] if keys else None, "eu-west-2")
    assert json.loads(reveal(policy["policy"])) == json.loads(expected.to_json())
