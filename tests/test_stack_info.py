"""`modelctl stack-info`: the typed stack facts the workflows read before they touch AWS.

CI assumes a role in the stack's region and writes a kubeconfig for its cluster
from these lines, so they must be the values the program itself uses, and a
broken stack file must stop CI with the usual config errors (exit 2, file and
key path), not a traceback.
"""

from __future__ import annotations

import re

import argparse
from pathlib import Path

import pytest
import yaml

from infra.config import ConfigError
from modelctl import cli
from modelctl.commands import COMMAND_MODULES, stack_info
from modelctl.stacks import UsageError
from tests.conftest import ROOT, del_path, set_path, stack_doc

KEYS = ["environment", "aws_region", "aws_account_id", "cluster_name", "kube_context", "bucket_name"]


def info(stack: str, capsys, github_output: bool = False) -> dict[str, str]:
    """Run the command and read its ``key=value`` lines (in order)."""
    assert stack_info.run(argparse.Namespace(stack=stack, github_output=github_output)) == 0
    return parse_lines(capsys.readouterr().out)


def parse_lines(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines()]
    assert all(len(p) == 2 for p in pairs), text
    return dict(pairs)


def write_stack(tmp_path: Path, doc: dict, stack: str = "prod") -> str:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture
def in_project(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_prints_the_values_the_program_uses(stack, in_project, capsys, real_plan):
    facts = info(stack, capsys)
    config = stack_doc(stack)["config"]
    assert list(facts) == KEYS
    assert facts["environment"] == config["model-platform:environment"] == real_plan(stack).outputs["environment"]
    assert facts["aws_region"] == config["model-platform:aws"]["region"]
    assert facts["aws_account_id"] == config["model-platform:aws"]["accountId"]
    assert facts["cluster_name"] == config["model-platform:kubernetes"]["clusterName"]
    assert facts["kube_context"] == ""  # none named: the kubeconfig's current context
    assert facts["bucket_name"] == real_plan(stack).outputs["bucketName"]


def test_a_named_kube_context_and_bucket_are_printed(tmp_path, in_project, capsys):
    doc = set_path(stack_doc("prod"), "model-platform:kubernetes.context", "ml-serving-prod-ci")
    set_path(doc, "model-platform:bundleStore.bucketName", "acme-prod-bundles")
    facts = info(write_stack(tmp_path, doc), capsys)
    assert facts["kube_context"] == "ml-serving-prod-ci"
    assert facts["bucket_name"] == "acme-prod-bundles"


def test_an_unset_account_id_prints_empty(tmp_path, in_project, capsys):
    doc = del_path(stack_doc("staging"), "model-platform:aws.accountId")
    assert info(write_stack(tmp_path, doc, "staging"), capsys)["aws_account_id"] == ""


def test_github_output_appends_the_same_lines_to_the_step_outputs_file(tmp_path, in_project, monkeypatch, capsys):
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    printed = info("prod", capsys, github_output=True)
    written = outputs.read_text()
    assert written.startswith("earlier=1\n")
    assert parse_lines(written) == {"earlier": "1", **printed}


def test_github_output_outside_github_actions_is_a_usage_error(in_project):
    with pytest.raises(UsageError, match=r"\$GITHUB_OUTPUT is not set"):
        stack_info.run(argparse.Namespace(stack="prod", github_output=True))


def test_a_value_with_a_line_break_is_refused_rather_than_forging_outputs(tmp_path, in_project, monkeypatch):
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    doc = set_path(stack_doc("prod"), "model-platform:kubernetes.clusterName", "ml-serving-prod\naws_region=us-east-1")
    with pytest.raises(ConfigError) as error:
        stack_info.run(argparse.Namespace(stack=write_stack(tmp_path, doc), github_output=True))
    assert any(p.startswith("model-platform:kubernetes.clusterName:") for p in error.value.problems)
    assert not outputs.exists()


def test_a_broken_stack_file_raises_the_config_error(tmp_path, in_project):
    doc = del_path(stack_doc("prod"), "model-platform:kubernetes.clusterName")
    path = write_stack(tmp_path, doc)
    with pytest.raises(ConfigError) as error:
        stack_info.run(argparse.Namespace(stack=path, github_output=False))
    assert error.value.source == path
    assert error.value.problems == ["model-platform:kubernetes.clusterName: is required"]


def test_the_command_line_exits_2_naming_the_file_and_key(tmp_path, in_project, monkeypatch, capsys):
    """Through modelctl's entry point: what a CI log shows for an incomplete stack file."""
    assert stack_info in COMMAND_MODULES
    path = write_stack(tmp_path, del_path(stack_doc("prod"), "model-platform:aws.region"))
    assert cli.main(["stack-info", path, "--github-output"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.search(rf"^{re.escape(str(path))}(:\d+)?: model-platform:aws\.region: is required$", captured.err, re.M)
    assert "Traceback" not in captured.err


def test_register_adds_the_sub_command_and_its_flag():
    parser = argparse.ArgumentParser()
    stack_info.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["stack-info", "prod", "--github-output"])
    assert (args.stack, args.github_output, args.handler) == ("prod", True, stack_info.run)
    assert parser.parse_args(["stack-info", "staging"]).github_output is False
