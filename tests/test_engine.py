"""The offline engine: fake data sources that read like the stack's account, and a loud failure for any other;
what a preview of a new stack knows (inputs, ARNs fixed by them) and what it does not (ids, generated ARNs)."""

from __future__ import annotations

import gc
import json

import pulumi
import pulumi_aws as aws
import pytest

from infra.stack_source import StackFile
from modelctl.engine import UNKNOWN_PLACEHOLDER, PlanError, Secret, plan_stack_file
from modelctl.preview_state import StackCloud, preview_state
from tests.conftest import del_path, set_path, stack_doc

LABEL = "stacks/Pulumi.staging.yaml"


def plan_program(doc: dict, program) -> dict:
    """The outputs ``program`` exports when planned against ``doc``."""
    return plan_stack_file(StackFile.from_document(doc, LABEL), "staging", program=program).outputs


def export_identity() -> None:
    identity = aws.get_caller_identity()
    partition = aws.get_partition()
    region = aws.get_region()
    pulumi.export("account", identity.account_id)
    pulumi.export("callerArn", identity.arn)
    pulumi.export("userId", identity.user_id)
    pulumi.export("partition", partition.partition)
    pulumi.export("dnsSuffix", partition.dns_suffix)
    pulumi.export("region", region.region)


def test_identity_partition_and_region_are_the_stacks():
    doc = set_path(stack_doc("staging"), "model-platform:aws", {"region": "eu-central-1", "accountId": "210987654321"})
    out = plan_program(doc, export_identity)
    assert out["account"] == "210987654321"
    assert out["callerArn"].startswith("arn:aws:sts::210987654321:")
    assert out["userId"]
    assert (out["partition"], out["dnsSuffix"]) == ("aws", "amazonaws.com")
    assert out["region"] == "eu-central-1"


def test_a_stack_without_an_account_gets_the_default_one():
    doc = del_path(stack_doc("staging"), "model-platform:aws.accountId")
    out = plan_program(doc, export_identity)
    assert out["account"] == "123456789012"


def test_an_invoke_the_engine_cannot_fake_fails_the_plan_naming_it():
    def program() -> None:
        aws.get_availability_zones()

    with pytest.raises(
        PlanError,
        match=r"cannot fake aws:index/getAvailabilityZones:getAvailabilityZones; add it to modelctl/engine.py _invoke_result",
    ):
        plan_program(stack_doc("staging"), program)


@pytest.mark.parametrize("enabled", [True, False])
def test_a_plan_leaves_the_callers_garbage_collector_as_it_found_it(enabled):
    """The engine pauses cyclic GC while a plan runs (see engine._cyclic_gc_paused); a caller must get its setting
    back after a plan that succeeds and after one that fails."""

    def failing() -> None:
        raise RuntimeError("the program failed")

    doc = stack_doc("staging")
    gc.enable() if enabled else gc.disable()
    try:
        seen: list[bool] = []
        plan_program(doc, lambda: seen.append(gc.isenabled()))
        assert seen == [False] and gc.isenabled() is enabled
        with pytest.raises(RuntimeError, match="the program failed"):
            plan_program(doc, failing)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_secrets_are_fingerprinted_so_a_changed_value_is_seen():
    def program_with(value: str):
        def program() -> None:
            pulumi.export("token", pulumi.Output.secret(value))

        return program

    one = plan_program(stack_doc("staging"), program_with("one"))["token"]
    same = plan_program(stack_doc("staging"), program_with("one"))["token"]
    two = plan_program(stack_doc("staging"), program_with("two"))["token"]
    assert isinstance(one, Secret) and one == same and one != two
    assert repr(one) == "[secret]" and "one" not in one.fingerprint


# Fingerprints across processes (a fresh one given this one's key agrees): tests/test_modelctl_imports.py, whose
# one fresh interpreter also shows what a plan imports.


# --------------------------------------------------------------------------- what a preview knows


def export_role_arn() -> None:
    role = aws.iam.Role("reader", name="model-reader", assume_role_policy="{}")
    pulumi.export("roleArn", role.arn)
    pulumi.export("roleId", role.id)


def test_what_the_cloud_assigns_on_create_is_unknown(real_plan):
    """Ids and generated ARNs read [unknown], as `pulumi preview` of a new stack shows output<string>."""
    plan = real_plan("prod")
    assert plan.outputs["clusterPolicyId"] == UNKNOWN_PLACEHOLDER
    assert plan.outputs["trainingJobIds"] == {"days-to-sell": UNKNOWN_PLACEHOLDER}
    assert plan.outputs["kmsKeyArn"] == UNKNOWN_PLACEHOLDER
    assert plan.get("databricks:index/permissions:Permissions", "training-policy-users").inputs["clusterPolicyId"] == UNKNOWN_PLACEHOLDER
    assert plan.get("databricks:index/permissions:Permissions", "days-to-sell-training-permissions").inputs["jobId"] == UNKNOWN_PLACEHOLDER
    assert plan.get("aws:kms/alias:Alias", "bundle-store-key-alias").inputs["targetKeyId"] == UNKNOWN_PLACEHOLDER
    for version in plan.by_type("aws:secretsmanager/secretVersion:SecretVersion"):
        assert version.inputs["secretId"] == UNKNOWN_PLACEHOLDER
    encryption = plan.get(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "bundle-store-encryption"
    )
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == UNKNOWN_PLACEHOLDER


def test_what_the_program_computes_stays_known(real_plan):
    """Names, ARNs fixed by name and pinned account, documents: a preview knows them, so the plan shows them."""
    plan = real_plan("prod")
    assert plan.outputs["bucketArn"] == "arn:aws:s3:::model-platform-prod-bundles-444455556666"
    assert plan.outputs["readerRoleArns"] == {
        "days-to-sell": "arn:aws:iam::444455556666:role/model-platform-prod-days-to-sell-reader"
    }
    bucket_policy = json.loads(plan.get("aws:s3/bucketPolicy:BucketPolicy", "bundle-store-policy").inputs["policy"])
    assert bucket_policy["Statement"], "the bucket policy is a document, not an unknown"
    released = json.loads(plan.get("aws:s3/bucketObjectv2:BucketObjectv2", "days-to-sell-released").inputs["content"])
    assert released["version"] == "1.4.0"


def test_a_document_built_from_an_assigned_value_shows_the_hole_not_a_made_up_value(real_plan):
    """The reader's policy names the KMS key the stack creates: its ARN's key id is the one unknown part."""
    plan = real_plan("prod")
    reader = json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "days-to-sell-reader-get").inputs["policy"])
    resources = [s["Resource"] for s in reader["Statement"]]
    assert f"arn:aws:kms:eu-west-2:444455556666:key/{UNKNOWN_PLACEHOLDER}" in resources


def test_an_iam_arn_is_the_one_the_create_returns_and_agrees_with_the_data_sources():
    """Fixed by the role's name and the account; without a pinned account, the one GetCallerIdentity reports."""
    out = plan_program(stack_doc("staging"), export_role_arn)
    assert out["roleArn"] == "arn:aws:iam::111122223333:role/model-reader"
    assert out["roleId"] == UNKNOWN_PLACEHOLDER

    def program() -> None:
        export_role_arn()
        pulumi.export("account", aws.get_caller_identity().account_id)

    unpinned = plan_program(del_path(stack_doc("staging"), "model-platform:aws.accountId"), program)
    assert unpinned["roleArn"] == f"arn:aws:iam::{unpinned['account']}:role/model-reader"


def test_text_built_from_a_generated_arn_keeps_its_known_parts():
    def program() -> None:
        key = aws.kms.Key("key")
        pulumi.export("keyArn", key.arn)
        pulumi.export("statement", key.arn.apply(lambda arn: f'{{"Resource": "{arn}"}}'))

    out = plan_program(stack_doc("staging"), program)
    assert out["keyArn"] == UNKNOWN_PLACEHOLDER
    assert out["statement"] == f'{{"Resource": "arn:aws:kms:eu-west-2:111122223333:key/{UNKNOWN_PLACEHOLDER}"}}'


@pytest.mark.parametrize(
    "type_, inputs, arn",
    [
        ("aws:s3/bucket:Bucket", {"bucket": "b"}, "arn:aws:s3:::b"),
        ("aws:iam/policy:Policy", {"name": "p", "path": "/team/"}, "arn:aws:iam::111122223333:policy/team/p"),
        ("aws:iam/instanceProfile:InstanceProfile", {"name": "i"}, "arn:aws:iam::111122223333:instance-profile/i"),
        ("aws:iam/role:Role", {}, "arn:aws:iam::111122223333:role/[unknown]"),  # autonamed on create
        ("aws:kms/key:Key", {}, "arn:aws:kms:eu-west-2:111122223333:key/[unknown]"),
        ("aws:secretsmanager/secret:Secret", {"name": "a/b"}, "arn:aws:secretsmanager:eu-west-2:111122223333:secret:a/b-[unknown]"),
        ("aws:s3/bucket:Bucket", {}, None),
        ("databricks:index/job:Job", {"name": "j"}, None),
    ],
)
def test_preview_state_arns(type_, inputs, arn):
    state = preview_state(type_, inputs, StackCloud(region="eu-west-2", account="111122223333"))
    assert state.outputs.get("arn") == arn
    assert (arn in state.assigned) == (arn is not None and UNKNOWN_PLACEHOLDER in arn)
    assert {k: v for k, v in state.outputs.items() if k in inputs} == inputs, "inputs are echoed as outputs"
