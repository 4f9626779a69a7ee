"""The offline engine: fake data sources that read like the stack's account, and a loud failure for any other."""

from __future__ import annotations

import os
import subprocess
import sys

import pulumi
import pulumi_aws as aws
import pytest

from infra.stack_source import StackFile
from modelctl.engine import FINGERPRINT_KEY_ENV, PlanError, Secret, plan_stack_file
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


def _fingerprint_in_subprocess(key: str) -> str:
    code = "from modelctl.engine import fingerprint; print(fingerprint('value'))"
    env = {**os.environ, FINGERPRINT_KEY_ENV: key}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_processes_sharing_the_fingerprint_key_agree_and_others_do_not():
    assert _fingerprint_in_subprocess("k1") == _fingerprint_in_subprocess("k1")
    assert _fingerprint_in_subprocess("k1") != _fingerprint_in_subprocess("k2")
