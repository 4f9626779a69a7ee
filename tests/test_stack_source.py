"""Reading a stack file's text: one entry point, Pulumi's reading of scalars, no silently dropped keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.stack_source import SECRET_PLACEHOLDER, StackFile, StackFileError
from tests.conftest import STACKS

LABEL = "stacks/Pulumi.staging.yaml"


def staging_text() -> str:
    return (STACKS / "Pulumi.staging.yaml").read_text()


def test_from_text_reads_a_committed_stack_file_like_load():
    text = staging_text()
    from_text = StackFile.from_text(text, LABEL, STACKS / "Pulumi.staging.yaml")
    loaded = StackFile.load(STACKS / "Pulumi.staging.yaml", LABEL)
    assert from_text == loaded
    assert from_text.config["aws:region"] == "eu-west-2"
    assert from_text.config["model-platform:databricksClientSecret"] == SECRET_PLACEHOLDER
    assert from_text.secret_keys == ("model-platform:databricksClientSecret", "model-platform:githubReleaseToken")
    assert list(from_text.stack_config().models) == ["days-to-sell"]


def test_a_date_stays_the_string_it_is_written_as():
    text = staging_text().replace("    cost-centre: cc-1234\n", "    cost-centre: cc-1234\n    created: 2024-01-01\n", 1)
    stack_file = StackFile.from_text(text, LABEL)
    assert stack_file.stack_config().tags["created"] == "2024-01-01"


def test_a_duplicate_key_is_refused_with_its_line_and_key_path():
    text = staging_text()
    assert text.count("      version: 1.4.0\n") == 1
    doubled = text.replace("      version: 1.4.0\n", "      version: 1.4.0\n      version: 1.5.0\n")
    line = doubled.splitlines().index("      version: 1.5.0") + 1
    with pytest.raises(StackFileError) as info:
        StackFile.from_text(doubled, LABEL)
    assert str(info.value) == f"{LABEL}: line {line}: duplicate key model-platform:models.days-to-sell.version"


def test_a_duplicate_top_level_config_key_is_refused():
    text = staging_text().replace("config:\n", "config:\n  model-platform:environment: prod\n", 1)
    with pytest.raises(StackFileError) as info:
        StackFile.from_text(text, LABEL)
    assert "duplicate key model-platform:environment" in str(info.value)


def test_load_refuses_duplicate_keys_too(tmp_path: Path):
    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text("config:\n  model-platform:environment: staging\n  model-platform:environment: prod\n")
    with pytest.raises(StackFileError) as info:
        StackFile.load(path, "stacks/Pulumi.dup.yaml")
    assert str(info.value) == "stacks/Pulumi.dup.yaml: line 3: duplicate key model-platform:environment"


def test_yaml_anchors_and_merge_keys_are_not_duplicates():
    text = "config:\n  model-platform:tags: &t {team: a}\n  model-platform:other:\n    <<: *t\n    team: b\n"
    assert StackFile.from_text(text, LABEL).config["model-platform:other"] == '{"team": "b"}'


@pytest.mark.parametrize(
    "text,expected",
    [
        ("config: [", f"{LABEL}: not valid YAML:"),
        ("- a\n- b\n", f"{LABEL}: expected a mapping with a 'config:' mapping"),
        ("config: [a, b]\n", f"{LABEL}: expected a mapping with a 'config:' mapping"),
        ("a: 1\n---\nb: 2\n", f"{LABEL}: not valid YAML:"),
    ],
)
def test_text_that_is_not_a_stack_file_is_refused_naming_the_label(text, expected):
    with pytest.raises(StackFileError) as info:
        StackFile.from_text(text, LABEL)
    assert str(info.value).startswith(expected)


def test_an_empty_file_is_a_stack_file_without_config():
    assert StackFile.from_text("", LABEL).config == {}


def _read_in_fresh_context(config: dict[str, str], secret_keys: list[str]):
    """read_runtime_config as the program calls it, after the engine set the config (isolated from other tests)."""
    import contextvars

    import pulumi.runtime

    from infra.stack_source import read_runtime_config

    def run():
        pulumi.runtime.set_all_config(config, secret_keys)
        return read_runtime_config()

    return contextvars.copy_context().run(run)


def test_runtime_config_is_read_with_its_secure_keys(monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_SECRET_KEYS", raising=False)
    values, secret = _read_in_fresh_context(
        {"model-platform:databricksToken": "dapi-x", "model-platform:aws": '{"region": "eu-west-2"}', "aws:region": "eu-west-2"},
        ["model-platform:databricksToken"],
    )
    assert values == {
        "model-platform:databricksToken": "dapi-x",
        "model-platform:aws": {"region": "eu-west-2"},
        "aws:region": "eu-west-2",
    }
    assert secret == {"model-platform:databricksToken"}


def test_runtime_config_from_the_environment_counts_too(monkeypatch):
    """An engine that passes config in PULUMI_CONFIG names the secure keys in PULUMI_CONFIG_SECRET_KEYS."""
    monkeypatch.setenv("PULUMI_CONFIG", '{"model-platform:environment": "staging", "model-platform:slackToken": "x"}')
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", '["model-platform:slackToken"]')
    values, secret = _read_in_fresh_context({"aws:region": "eu-west-2"}, [])
    assert values == {"model-platform:environment": "staging", "model-platform:slackToken": "x", "aws:region": "eu-west-2"}
    assert secret == {"model-platform:slackToken"}
