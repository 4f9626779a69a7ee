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
from tests.conftest import ROOT, plan_doc, set_path, stack_doc


def _as_language_host(monkeypatch, doc, stack):
    """Hand config over the way the Pulumi language host does: PULUMI_CONFIG + PULUMI_CONFIG_SECRET_KEYS."""
    sf = StackFile.from_document(doc, f"stacks/Pulumi.{stack}.yaml")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(sf.config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(list(sf.secret_keys)))
    empty = StackFile(Path("unused"), f"stacks/Pulumi.{stack}.yaml", {}, ())
    return plan_stack_file(empty, stack, program=lambda: runpy.run_path(str(ROOT / "infra"), run_name="__main__"))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_pulumi_entrypoint_declares_what_modelctl_plans(monkeypatch, stack):
    via_main = _as_language_host(monkeypatch, stack_doc(stack), stack)
    monkeypatch.delenv("PULUMI_CONFIG")
    monkeypatch.delenv("PULUMI_CONFIG_SECRET_KEYS")
    via_modelctl = plan_doc(stack_doc(stack), stack)
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
