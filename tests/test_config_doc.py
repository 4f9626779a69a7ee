"""docs/CONFIG.md is generated from the schema, so the documented defaults are the real ones."""

from infra.config import StackConfig
from modelctl.config_doc import render_config_doc
from tests.conftest import ROOT


def test_config_reference_is_up_to_date():
    committed = (ROOT / "docs/CONFIG.md").read_text()
    assert committed == render_config_doc(), "docs/CONFIG.md is stale: run `make config-doc`"


def test_every_key_is_documented_with_its_default():
    doc = render_config_doc()
    assert "| `bundleStore.noncurrentVersionDays` | int | `90` |" in doc
    assert "| `models.<name>.serving.replicas.min` | int | `2` |" in doc
    for name, field in StackConfig.model_fields.items():
        if not field.exclude:
            assert f"| `{field.alias or name}` |" in doc
            assert field.description, f"{name} has no description"
