"""The training DAG reaches Airflow with ``pulumi up``: objects in MWAA's bucket, or a ConfigMap.

The committed stacks are planned offline (``real_plan``): their plans deliver
exactly the files ``dag_delivery`` (infra/program.py) builds from their
config. What an edit of the stack does to the DAG resources is then the
``AirflowDags`` component's alone, declared on ``dag_delivery`` of the edited
config (``declare_dags``) at a fraction of a plan's cost.
"""

from __future__ import annotations

import json
from typing import Optional

import pytest

from infra.components.airflow_dags import AirflowDags, AirflowDagsArgs, bundles_reader_policy, object_key
from infra.documents.dag_package import DAG_FILE, SHARED_MODULES, training_timeout_minutes
from infra.config import StackConfig
from infra.program import dag_delivery
from tests.conftest import QUARTZ_SCHEDULE, ROOT, parse_doc, release_edits, set_path, stack_doc, with_models
from tests.dags.conftest import DAGS_COMPONENT, dag_objects
from tests.dags.declared import BUCKET_OBJECT, TWO_MODELS, declared_two_models
from tests.dags.declared import Declared, declare, mock_arn, reveal

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


BUCKET_ARN = "arn:aws:s3:::model-platform-prod-bundles-444455556666"
KEY_ARN = "arn:aws:kms:eu-west-2:444455556666:key/0f0e0d0c-0000-4b4a-8a8b-0c0d0e0f0a0b"


def manifest_of(plan) -> dict:
    return json.loads(dag_objects(plan)[PACKAGE + "manifest.json"])


def declare_dags(cfg: StackConfig, kms_key_arn: Optional[str] = None) -> Declared:
    """Only the DAG component, on the delivery the program gives it (``dag_delivery``), with a known store."""

    def program():
        args = AirflowDagsArgs(delivery=dag_delivery(cfg), bucket_arn=BUCKET_ARN, kms_key_arn=kms_key_arn)
        return {"location": AirflowDags("airflow-dags", args).location}

    return declare(program)


def dag_changes(before: Declared, after: Declared) -> list[str]:
    """Logical names of the DAG resources ``pulumi up`` would add, remove or update going from before to after."""
    resources = before.inputs.keys() | after.inputs.keys()
    return sorted(name for (t, name) in resources if before.inputs.get((t, name)) != after.inputs.get((t, name)))


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
    # What the program's builders make of the config is what the stack writes: the tests of edits below declare
    # the component on them instead of planning each edited stack.
    delivery = dag_delivery(parse_doc(stack_doc(stack), stack))
    assert delivery is not None
    assert dag_objects(plan) == {object_key(delivery.dags, name): text for name, text in delivery.files.items()}


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
    doc = with_models(stack_doc("staging"), list(TWO_MODELS))
    before = parse_doc(doc, "staging")
    for key, value in release_edits().items():
        set_path(doc, key, value)
    after = parse_doc(doc, "staging")
    assert after.models["days-to-sell"] != before.models["days-to-sell"], "the release itself does change the stack"
    declared = declare_dags(before)
    assert declared.of_type(BUCKET_OBJECT), "the stack delivers the DAG"
    assert dag_changes(declared, declare_dags(after)) == []


def test_adding_a_model_changes_only_the_manifest_and_the_dags_read_grant():
    before = declare_dags(parse_doc(stack_doc("staging"), "staging"))
    after = declare_dags(parse_doc(with_models(stack_doc("staging"), list(TWO_MODELS)), "staging"))
    assert dag_changes(before, after) == ["airflow-bundles-reader", "dag-manifest.json"]
    models = json.loads(after.of_type(BUCKET_OBJECT)["dag-manifest.json"]["content"])["models"]
    assert sorted(models) == list(TWO_MODELS)
    assert models["price-band"]["dagId"] == "price-band-training"


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
    databricks = parse_doc(set_path(stack_doc("prod"), f"{MODELS}.days-to-sell.training.schedule", QUARTZ_SCHEDULE), "prod")
    assert databricks.models["days-to-sell"].training.schedule is not None
    delivery = dag_delivery(databricks)
    assert delivery is not None
    assert json.loads(delivery.files["manifest.json"])["models"]["days-to-sell"]["schedule"] is None, "one scheduler: the job's own"


def test_a_schedule_change_changes_only_the_manifest():
    doc = set_path(stack_doc("prod"), f"{MODELS}.days-to-sell.training.schedule.cron", "30 4 * * 1-5")
    before, after = parse_doc(stack_doc("prod"), "prod"), parse_doc(doc, "prod")
    assert dag_changes(declare_dags(before, KEY_ARN), declare_dags(after, KEY_ARN)) == ["dag-manifest.json"]


def test_the_training_task_waits_as_long_as_every_task_with_every_retry_could_take():
    doc = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.timeoutMinutes", 30)
    set_path(doc, f"{MODELS}.days-to-sell.training.maxRetries", 2)
    set_path(doc, f"{MODELS}.days-to-sell.training.retryIntervalMinutes", 5)
    cfg = parse_doc(doc)
    # 5 tasks x (3 attempts x 30 min + 2 retry pauses x 5 min) + 60 min for queueing and the cluster's start
    assert training_timeout_minutes(cfg.models["days-to-sell"].training) == 5 * (3 * 30 + 2 * 5) + 60


def test_self_hosted_airflow_gets_the_package_as_one_configmap(real_plan):
    doc = stack_doc("staging")
    set_path(doc, "model-platform:airflow.backend", "kubernetes-secret")
    del doc["config"]["model-platform:airflow"]["dags"]["bucket"]
    declared = declare_dags(parse_doc(doc, "staging"))
    assert not declared.of_type(BUCKET_OBJECT)
    (config_map,) = declared.of_type(CONFIG_MAP).values()
    assert (config_map["metadata"]["name"], config_map["metadata"]["namespace"]) == ("model-platform-dags", "airflow")
    assert config_map["metadata"]["labels"]["app.kubernetes.io/component"] == "airflow-dags"
    delivered = {key.removeprefix(PACKAGE): content for key, content in dag_objects(real_plan("staging")).items()}
    assert config_map["data"] == delivered, "the same files as in MWAA's bucket"
    assert declared.outputs["location"] == "configmap/airflow/model-platform-dags"


def test_without_airflow_dags_the_stack_delivers_no_dag():
    doc = stack_doc("staging")
    airflow = doc["config"]["model-platform:airflow"]
    del airflow["dags"], airflow["release"]
    declared = declare_dags(parse_doc(doc, "staging"))
    assert list(declared.inputs) == [(DAGS_COMPONENT, "airflow-dags")], "the component alone, with no resource in it"
    assert declared.outputs["location"] is None


@pytest.mark.parametrize("kms", [None, KEY_ARN], ids=["sse-s3", "sse-kms"])
def test_the_dag_may_read_the_models_versions_and_nothing_else(kms):
    from moto.iam.policy_validation import IAMPolicyDocumentValidator

    document = bundles_reader_policy(BUCKET_ARN, list(TWO_MODELS), kms, "eu-west-2").to_json()
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
    # The grammar check moto's IAM create_policy runs (operators, action and ARN formats), without starting moto.
    IAMPolicyDocumentValidator(document).validate()


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_stack_grants_the_read_on_its_own_bucket_and_key_as_a_policy_to_attach(stack):
    declared = declared_two_models(stack)
    (policy,) = [p for name, p in declared.of_type("aws:iam/policy:Policy").items() if name == "airflow-bundles-reader"]
    assert policy["name"] == f"model-platform-{stack}-airflow-bundles-reader"
    # The bucket's and the key's ARNs as the (mock) provider returned them: the store's own, whatever they are.
    (bucket,) = [mock_arn(BUCKET, name, {}) for name in declared.of_type(BUCKET)]
    keys = [mock_arn(KMS_KEY, name, {}) for name in declared.of_type(KMS_KEY)]
    assert len(keys) == (stack == "prod"), "prod's store uses SSE-KMS with a key the stack creates; staging SSE-S3"
    expected = bundles_reader_policy(bucket, list(TWO_MODELS), keys[0] if keys else None, "eu-west-2")
    assert json.loads(reveal(policy["policy"])) == json.loads(expected.to_json())


def test_a_package_module_that_shadows_a_shared_one_is_refused(monkeypatch):
    """A copy of a contract module under dags/ would drift from the original the stack must deliver."""
    from infra.documents import dag_package

    monkeypatch.setattr(dag_package, "SHARED_MODULES", (*SHARED_MODULES, ("factory.py", "infra/contract/layout.py")))
    with pytest.raises(FileExistsError, match=r"must not hold its own copy of \['factory.py'\]"):
        dag_package.package_modules()
