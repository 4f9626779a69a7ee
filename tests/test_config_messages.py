"""Config messages that help (issue 17, item 6): the nearest valid key, "quote it" with the text as written,
one wording for a bad version, and the line of the offending key."""

from __future__ import annotations

import pytest

from infra.config import ConfigError
from infra.stack_source import StackFile
from tests.conftest import STACKS, set_path, stack_doc

LABEL = "stacks/Pulumi.staging.yaml"
M = "model-platform:models.days-to-sell"


def staging_text() -> str:
    return (STACKS / "Pulumi.staging.yaml").read_text()


def text_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        StackFile.from_text(text, LABEL).stack_config()
    return info.value


def doc_problems(doc: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        StackFile.from_document(doc, LABEL).stack_config()
    return info.value.problems


def edited(old: str, new: str) -> tuple[str, int]:
    """The staging text with one line replaced, and that line's number."""
    text = staging_text()
    assert text.count(old) == 1
    text = text.replace(old, new)
    return text, text.splitlines().index(new.rstrip("\n").splitlines()[-1]) + 1


# --------------------------------------------------------------------------- the nearest valid key


@pytest.mark.parametrize(
    "path,suggestion",
    [
        ("model-platform:modles", "models"),
        ("model-platform:bundleStore.encrytion", "encryption"),
        (f"{M}.serving.replica", "replicas"),
        (f"{M}.training.numWorker", "numWorkers"),
        ("model-platform:databricks.clusterPolicy.maxWorker", "maxWorkers"),
        ("model-platform:airflow.connections.github_release.connTyp", "connType"),
    ],
)
def test_a_misspelled_key_names_the_nearest_valid_one(path, suggestion):
    found = doc_problems(set_path(stack_doc("staging"), path, {}))
    assert f"{path}: unknown key (did you mean {suggestion!r}?)" in found, found


def test_a_key_like_no_other_still_says_unknown_and_snake_case_says_camel_case():
    doc = set_path(stack_doc("staging"), "model-platform:bundleStore.flavour", 1)
    set_path(doc, "model-platform:bundleStore.abort_multipart_days", 3)
    found = doc_problems(doc)
    assert "model-platform:bundleStore.flavour: unknown key (typo?)" in found
    assert "model-platform:bundleStore.abort_multipart_days: unknown key: stack files spell keys in camelCase (abortMultipartDays)" in found


# --------------------------------------------------------------------------- "quote it", with the text as written


def test_a_version_yaml_made_a_number_says_what_to_quote_as_written():
    text, line = edited("      version: 1.4.0\n", "      version: 1.10\n")
    error = text_error(text)
    assert error.problems == [f"{M}.version: 1.10 was read by YAML as the number 1.1, not text: quote it (\"1.10\")"]
    assert error.lines == (line,)


def test_a_kubernetes_version_yaml_made_a_number_says_what_to_quote():
    text, _ = edited('    version: "1.31"\n', "    version: 1.30\n")
    assert text_error(text).problems == [
        "model-platform:kubernetes.version: 1.30 was read by YAML as the number 1.3, not text: quote it (\"1.30\")"
    ]


def test_an_account_id_yaml_made_a_number_says_quote_it():
    text, _ = edited('    accountId: "111122223333"\n', "    accountId: 111122223333\n")
    assert text_error(text).problems == [
        "model-platform:aws.accountId: 111122223333 was read by YAML as a number, not text: quote it (\"111122223333\")"
    ]


# --------------------------------------------------------------------------- one wording for a bad version


@pytest.mark.parametrize(
    "path,value,expected",
    [
        (f"{M}.version", "1.4+x", "'1.4+x' is not a model version: 1 to 63 letters"),
        (f"{M}.training.packageVersion", "1.4+x", "'1.4+x' is not a package version: 1 to 63 letters"),
        ("model-platform:kubernetes.version", "v1.31", "'v1.31' is not a Kubernetes minor version: 1.<minor>"),
        ("model-platform:databricks.mleapVersion", "0.23", "'0.23' is not a semantic version: X.Y.Z, e.g. 0.23.0"),
    ],
)
def test_a_bad_version_is_said_in_words_not_as_a_pattern(path, value, expected):
    found = doc_problems(set_path(stack_doc("staging"), path, value))
    assert any(p.startswith(f"{path}: {expected}") for p in found), found
    assert not any("does not match" in p or "\\d" in p or "^" in p for p in found), found


# --------------------------------------------------------------------------- the line of the offending key


def test_every_problem_names_its_line_in_the_stack_file():
    text = staging_text()
    text = text.replace("        replicas: {min: 1, max: 3}\n", "        replicas: {min: 4, max: 3}\n")
    text = text.replace("    noncurrentVersionDays: 30\n", "    noncurrentVersionDays: 0\n")
    lines = text.splitlines()
    replicas = lines.index("        replicas: {min: 4, max: 3}") + 1
    days = lines.index("    noncurrentVersionDays: 0") + 1
    error = text_error(text)
    assert sorted(error.located()) == sorted([
        f"{LABEL}:{days}: model-platform:bundleStore.noncurrentVersionDays: 0: Input should be greater than or equal to 1",
        f"{LABEL}:{replicas}: {M}.serving.replicas.min: 4 is greater than max (3)",
    ])
    assert str(error) == "\n".join(error.located())
    # the problems themselves keep their words, whatever the config came from
    assert f"{M}.serving.replicas.min: 4 is greater than max (3)" in error.problems


def test_a_missing_key_names_the_line_of_its_block():
    text = staging_text()
    digest = next(line for line in text.splitlines(keepends=True) if line.strip().startswith("bundleSha256:"))
    error = text_error(text.replace(digest, ""))
    models = staging_text().splitlines().index("    days-to-sell:") + 1
    assert error.located() == [f"{LABEL}:{models}: {M}.bundleSha256: is required"]


def test_config_not_read_from_a_file_has_no_lines():
    doc = set_path(stack_doc("staging"), f"{M}.serving.replicas", {"min": 4, "max": 3})
    with pytest.raises(ConfigError) as info:
        StackFile.from_document(doc, LABEL).stack_config()
    assert info.value.located() == [f"{LABEL}: {M}.serving.replicas.min: 4 is greater than max (3)"]
