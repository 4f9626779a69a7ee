"""The program `pulumi up` runs (infra/__main__.py, config from the language host) is the one modelctl plans."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pulumi
import pytest

from infra.config import ConfigError
from infra.stack_source import StackFile
from modelctl.engine import plan_stack_file
from tests.conftest import ROOT, set_path, stack_doc


def _as_language_host(monkeypatch, doc, stack, config: dict | None = None):
    """Hand config over the way the Pulumi language host does: PULUMI_CONFIG + PULUMI_CONFIG_SECRET_KEYS.

    ``config`` overrides the values handed over (e.g. decrypted secrets). The mock
    engine gets a stack file without config, so the program can only read the
    environment; the engine itself may still ask it for the typed config (the
    region and account of its fake ARNs): it gets the committed stack's.
    """
    label = f"stacks/Pulumi.{stack}.yaml"
    sf = StackFile.from_document(doc, label)
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config if config is not None else sf.config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(list(sf.secret_keys)))
    committed = StackFile.from_document(stack_doc(stack), label).stack_config()
    monkeypatch.setattr(StackFile, "stack_config", lambda self, stack=None: committed)
    empty = StackFile(Path("unused"), label, {}, ())
    return plan_stack_file(empty, stack, program=lambda: runpy.run_path(str(ROOT / "infra"), run_name="__main__"))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_pulumi_entrypoint_declares_what_modelctl_plans(monkeypatch, stack, real_plan):
    via_main = _as_language_host(monkeypatch, stack_doc(stack), stack)
    monkeypatch.undo()
    via_modelctl = real_plan(stack)  # the committed stack's plan, as `modelctl plan` makes it
    # The mock engine's fake ARNs use the stack file's account; without the file it uses a default one.
    account = stack_doc(stack)["config"]["model-platform:aws"]["accountId"]
    as_json = lambda plan: json.dumps([r.to_json() for r in plan.resources]).replace(account, "123456789012")  # noqa: E731
    assert as_json(via_main) == as_json(via_modelctl)
    assert len(via_main.resources) > 3


def test_config_errors_stop_pulumi_before_any_resource(monkeypatch):
    doc = set_path(stack_doc("prod"), "model-platform:models.days-to-sell.serving.replicas", {"min": 12, "max": 10})
    with pytest.raises(ConfigError) as info:
        _as_language_host(monkeypatch, doc, "prod")
    # a RunError: the Pulumi CLI prints the message without a traceback
    assert isinstance(info.value, pulumi.RunError)
    assert str(info.value) == (
        "stacks/Pulumi.prod.yaml: model-platform:models.days-to-sell.serving.replicas.min: 12 is greater than max (10)"
    )


def test_plain_text_credential_from_the_language_host_is_refused(monkeypatch):
    doc = stack_doc("staging")
    doc["config"]["model-platform:databricksClientSecret"] = "plain-text"
    with pytest.raises(ConfigError) as info:
        _as_language_host(monkeypatch, doc, "staging")
    assert "databricksClientSecret: is a credential in plain text" in str(info.value)
    assert "plain-text" not in str(info.value).replace("in plain text", "")


def test_a_misspelled_namespace_from_the_language_host_is_refused(monkeypatch):
    doc = stack_doc("staging")
    doc["config"]["model-platfrom:bundleStore"] = {"protect": True}
    with pytest.raises(ConfigError) as info:
        _as_language_host(monkeypatch, doc, "staging")
    assert str(info.value).startswith(
        "stacks/Pulumi.staging.yaml: model-platfrom:bundleStore: unknown config namespace 'model-platfrom'"
    )
    assert len(info.value.problems) == 1


def test_a_decrypted_secure_value_inside_structured_config_gets_the_same_advice(monkeypatch):
    doc = set_path(stack_doc("staging"), "model-platform:airflow.connections", {"pg": {"connType": "postgres", "password": {"secure": "v1:x"}}})
    config = dict(StackFile.from_document(doc, "stacks/Pulumi.staging.yaml").config)
    # pulumi up decrypts the nested value and marks the whole top-level key secret
    config["model-platform:airflow"] = json.dumps({"connections": {"pg": {"connType": "postgres", "password": "pg-s3cr3t"}}})
    with pytest.raises(ConfigError) as info:
        _as_language_host(monkeypatch, doc, "staging", config)
    assert info.value.problems == [
        "model-platform:airflow: is secret because a value inside it is (pulumi config set --path --secret); structured "
        "config cannot hold a secure value: set it as a top-level secure key (pulumi config set --secret NAME) and name "
        "that key in passwordKey"
    ]
    assert "pg-s3cr3t" not in str(info.value)


def test_a_plain_text_snake_case_credential_from_the_language_host_is_refused(monkeypatch):
    doc = stack_doc("staging")
    doc["config"]["model-platform:databricks_token"] = "dapi-s3cr3t"
    with pytest.raises(ConfigError) as info:
        _as_language_host(monkeypatch, doc, "staging")
    assert "model-platform:databricks_token: is a credential in plain text" in str(info.value)
    assert "dapi-s3cr3t" not in str(info.value)
