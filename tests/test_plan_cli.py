"""`modelctl plan` and `modelctl diff`: the offline contract a reviewer relies on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from modelctl.cli import main
from modelctl.stacks import UsageError, resolve_stack
from modelctl.value_text import DOCUMENT_LIMIT, show_value
from tests.conftest import ROOT, set_path, stack_doc, with_models

M = "model-platform:models.days-to-sell"
#: A release: the new version and its digest, together (diff --base refuses one without the other). The diff tests
#: and the git revision test make this same stack file, so it is planned once.
NEW_VERSION, NEW_DIGEST = "1.5.0", "5a" * 32


@pytest.fixture
def run_cli(cli, monkeypatch, planned_once):
    """``modelctl ARGS`` in-process from the project root (or ``cwd``), each stack planned once: (code, out, err).

    ``python -m modelctl`` runs as a real process in test_a_closed_output_pipe_ends_the_command_quietly
    and, planning, as the revision's side of test_diff's --base test.
    """

    def run(*args: str, cwd=ROOT) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        return cli(*args)

    return run


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_plan_json_contract(stack, capsys, monkeypatch, planned_once):
    monkeypatch.chdir(ROOT)
    assert main(["plan", stack, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"stack", "resources", "outputs"}
    assert doc["stack"] == stack
    assert doc["resources"], "a stack declares resources"
    urns = [r["urn"] for r in doc["resources"]]
    assert urns == sorted(urns), "resources are in a stable order"
    for r in doc["resources"]:
        assert set(r) == {"urn", "type", "name", "parent", "inputs"}
        assert r["urn"].startswith(f"urn:pulumi:{stack}::model-platform::")
        assert r["urn"].endswith("::" + r["name"])
        assert r["parent"] is None or r["parent"] in urns or r["parent"].endswith("pulumi:pulumi:Stack::model-platform-" + stack)
    assert doc["outputs"]["environment"] == stack
    assert doc["outputs"]["modelVersions"] == {"days-to-sell": "1.4.0"}


def test_plan_json_is_deterministic(monkeypatch, capsys, request):
    """Two plannings of one stack file print the same JSON: one made by this command, then the session's own
    (``planned_once``: the stack's first plan in this worker, planned apart from this one)."""
    monkeypatch.chdir(ROOT)
    assert main(["plan", "staging", "--json"]) == 0
    first = capsys.readouterr().out
    assert json.loads(first)["resources"], "a plan with resources"
    request.getfixturevalue("planned_once")
    assert main(["plan", "staging", "--json"]) == 0
    assert capsys.readouterr().out == first


def test_plan_never_prints_secrets(run_cli):
    doc = stack_doc("staging")
    text = (ROOT / "stacks/Pulumi.staging.yaml").read_text()
    ciphertext = doc["config"]["model-platform:databricksClientSecret"]["secure"]
    for args in (["plan", "staging"], ["plan", "staging", "--json"]):
        code, out, err = run_cli(*args)
        assert code == 0, err
        assert ciphertext not in out
        assert "[secret]" in out
    assert ciphertext in text


def test_plan_tree_shows_types_names_and_parents(monkeypatch, capsys, planned_once):
    monkeypatch.chdir(ROOT)
    assert main(["plan", "staging"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stack staging: ")
    assert "pulumi:providers:aws  aws" in out
    assert "model-platform:storage:BundleStore  bundle-store" in out


def test_config_errors_exit_2_with_file_and_key(tmp_path, run_cli):
    doc = set_path(stack_doc("prod"), f"{M}.serving.replicas", {"min": 12, "max": 10})
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, out, err = run_cli("plan", str(path))  # an exception (a traceback) would fail the test here
    assert code == 2
    # the file, the line of the key, the key path
    assert re.search(rf"{re.escape(str(path))}:\d+: model-platform:models\.days-to-sell\.serving\.replicas\.min: 12 is greater than max \(10\)", err)
    assert out == ""


def test_unknown_stack_is_a_usage_error(run_cli):
    code, _, err = run_cli("plan", "qa")
    assert code == 2
    assert "stacks/Pulumi.qa.yaml: no such stack file (stacks: prod, staging)" in err


def test_broken_yaml_is_reported(tmp_path, run_cli):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text("config:\n  model-platform:environment: [unclosed\n")
    code, _, err = run_cli("plan", str(path))
    assert code == 2 and "not valid YAML" in err


def _write(tmp_path, name, doc, sort_keys=False):
    """The stack file of ``doc``, keys in the document's order unless ``sort_keys``: unchanged values then read
    exactly as the committed file's, and a config already planned in this session is not planned again."""
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=sort_keys))
    return str(path)


def test_diff_of_identical_stacks_is_empty(tmp_path, run_cli):
    """The same config with every mapping's keys in another order (sorted): planned apart, and no change."""
    a = _write(tmp_path, "staging", stack_doc("staging"), sort_keys=True)
    code, out, err = run_cli("diff", "staging", a, "--exit-code")
    assert code == 0, out + err
    assert "no changes" in out


def test_diff_shows_a_version_bump_property_by_property(tmp_path, run_cli):
    old_digest = stack_doc("staging")["config"]["model-platform:models"]["days-to-sell"]["bundleSha256"]
    doc = set_path(set_path(stack_doc("staging"), f"{M}.version", NEW_VERSION), f"{M}.bundleSha256", NEW_DIGEST)
    new = _write(tmp_path, "staging", doc)
    code, out, err = run_cli("diff", "staging", new, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["added"] == [] and d["removed"] == []
    assert {(c["type"], c["name"]) for c in d["changed"]} == {
        ("kubernetes:apps/v1:Deployment", "days-to-sell"),
        ("aws:s3/bucketObjectv2:BucketObjectv2", "days-to-sell-released"),
        ("aws:secretsmanager/secretVersion:SecretVersion", "variable-days-to-sell-version"),
        ("aws:secretsmanager/secretVersion:SecretVersion", "variable-days-to-sell-bundle-uri"),
    }
    assert {"path": "modelVersions.days-to-sell", "old": "1.4.0", "new": "1.5.0", "kind": "update"} in d["outputs"]
    for change in d["changed"]:
        for prop in change["properties"]:
            if change["type"].endswith(":SecretVersion"):
                assert prop == {"path": "secretString", "old": "[secret]", "new": "[secret]", "kind": "update"}
            else:
                bumped_version = "1.4.0" in prop["old"] and NEW_VERSION in prop["new"]
                assert bumped_version or (prop["old"], prop["new"]) == (old_digest, NEW_DIGEST), prop


def test_diff_adding_a_model_adds_only_its_resources(tmp_path, run_cli):
    doc = with_models(stack_doc("staging"), ["days-to-sell", "price-band"])
    new = _write(tmp_path, "staging", doc)
    d = json.loads(run_cli("diff", "staging", new, "--json")[1])
    added = {(r["type"], r["name"]) for r in d["added"]}
    code, out, err = run_cli("plan", new, "--json")
    assert code == 0, err
    assert added == {(r["type"], r["name"]) for r in json.loads(out)["resources"] if "price-band" in r["name"]}
    assert {
        ("kubernetes:apps/v1:Deployment", "price-band"),
        ("kubernetes:core/v1:Service", "price-band"),
        ("databricks:index/job:Job", "price-band-training"),
        ("aws:iam/role:Role", "price-band-reader"),
        ("aws:secretsmanager/secretVersion:SecretVersion", "variable-price-band-version"),
    } <= added
    assert d["removed"] == []
    assert not [c for c in d["changed"] if "days-to-sell" in c["name"]]


def test_diff_against_a_git_revision(tmp_path, run_cli):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (repo / "stacks").mkdir()
    stack = repo / "stacks/Pulumi.staging.yaml"
    stack.write_text((ROOT / "stacks/Pulumi.staging.yaml").read_text())
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "x", "--allow-empty")
    git("add", ".")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "stacks")
    # A release changes the version and its digest together (diff --base refuses one without the other).
    old_digest = re.search(r"bundleSha256: ([0-9a-f]{64})", stack.read_text()).group(1)
    released = stack.read_text().replace("version: 1.4.0", f"version: {NEW_VERSION}").replace(old_digest, NEW_DIGEST)
    stack.write_text(released)
    code, out, err = run_cli("diff", "staging", "--base", "HEAD", "--json", cwd=repo)
    assert code == 0, err
    assert "HEAD has no modelctl" in err  # so its stack file is planned with this program
    d = json.loads(out)
    assert d["base"] == "stacks/Pulumi.staging.yaml@HEAD"
    assert {"path": "modelVersions.days-to-sell", "old": "1.4.0", "new": "1.5.0", "kind": "update"} in d["outputs"]
    code, _, err = run_cli("diff", "staging", "--base", "no-such-rev", cwd=repo)
    assert code == 2 and "no-such-rev" in err


def test_a_closed_output_pipe_ends_the_command_quietly():
    """``modelctl config-doc | head -1``: no traceback when head stops reading."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelctl", "config-doc"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader is gone before the first write
    err = proc.stderr.read().decode()
    assert proc.wait() == 141  # as a tool killed by SIGPIPE
    assert err == ""


def test_stacks_are_found_in_the_stack_config_dir_pulumi_yaml_names(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: model-platform\nruntime: python\nstackConfigDir: config/stacks\n")
    (tmp_path / "config/stacks").mkdir(parents=True)
    shutil.copy(ROOT / "stacks/Pulumi.staging.yaml", tmp_path / "config/stacks")
    ref = resolve_stack("staging", tmp_path)
    assert ref.label == "config/stacks/Pulumi.staging.yaml" and ref.path.is_file()
    with pytest.raises(UsageError, match=r"^config/stacks/Pulumi.qa.yaml: no such stack file \(stacks: staging\)$"):
        resolve_stack("qa", tmp_path)


def test_without_a_stack_config_dir_stacks_are_next_to_pulumi_yaml(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: model-platform\nruntime: python\n")
    shutil.copy(ROOT / "stacks/Pulumi.staging.yaml", tmp_path)
    assert resolve_stack("staging", tmp_path).label == "Pulumi.staging.yaml"


def test_diff_needs_exactly_one_comparison(run_cli):
    code, _, err = run_cli("diff", "staging")
    assert code == 2 and "either two stacks" in err


def test_duplicate_urns_fail_the_plan_as_the_real_engine_would():
    import pulumi

    from infra.stack_source import StackFile
    from modelctl.engine import PlanError, plan_stack_file

    class Thing(pulumi.ComponentResource):
        def __init__(self, name):
            super().__init__("test:index:Thing", name, None, None)

    def program():
        Thing("same")
        Thing("same")

    doc = stack_doc("staging")
    with pytest.raises(PlanError, match="declares 1 URN\\(s\\) twice.*test:index:Thing::same"):
        plan_stack_file(StackFile.from_document(doc, "stacks/Pulumi.staging.yaml"), "staging", program=program)


def test_a_stack_file_that_is_not_utf8_is_reported(tmp_path, run_cli):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_bytes(b"\xff\xfeconfig: {}\n")
    code, _, err = run_cli("plan", str(path))
    assert code == 2
    assert err == f"modelctl: {path}: not UTF-8 text\n"


# --------------------------------------------------------------------------- how values read


@pytest.mark.parametrize(
    "value, shown",
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (2.0, "2"),
        ({"days-to-sell": "1.4.0"}, '{"days-to-sell": "1.4.0"}'),
        ("[unknown]", "[unknown]"),
        ("arn:aws:iam::444455556666:role/" + "r" * 120, "arn:aws:iam::444455556666:role/" + "r" * 120),
        ('{"a": 1}', '{"a": 1}'),
        ('{\n  "a": 1\n}', '{"a": 1}'),
    ],
)
def test_values_read_as_json_and_one_line_values_whole(value, shown):
    assert show_value(value) == shown


def test_a_long_json_document_is_cut_on_one_line_saying_how_much_is_left():
    document = json.dumps({"Statement": [{"Sid": f"S{i}", "Effect": "Allow"} for i in range(20)]}, indent=2)
    compact = json.dumps(json.loads(document))
    shown = show_value(document)
    assert "\n" not in shown
    assert shown == compact[:DOCUMENT_LIMIT] + f"… [{len(compact) - DOCUMENT_LIMIT} more chars: see plan --json]"


def test_a_text_of_several_lines_shows_its_first_line_and_what_is_left():
    text = '"""A module."""\n\nimport os\n' + "x = 1\n" * 50
    shown = show_value(text)
    assert shown.startswith('"""A module."""… [') and shown.endswith("more chars: see plan --json]")


def test_plan_text_shows_unknowns_json_spellings_and_whole_arns(monkeypatch, capsys, planned_once):
    monkeypatch.chdir(ROOT)
    assert main(["plan", "prod"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "  clusterPolicyId: [unknown]" in lines
    assert "  kmsKeyArn: [unknown]" in lines
    assert "    days-to-sell: arn:aws:iam::444455556666:role/model-platform-prod-days-to-sell-reader" in lines
    assert "clusterPolicyId=[unknown]" in out and "jobId=[unknown]" in out
    image = stack_doc("prod")["config"]["model-platform:kubernetes"]["images"]["serving"]
    assert f"spec.template.spec.containers[0].image={image}" in out, "a digest-pinned image is shown whole"
    assert not re.search(r"(=|: )(None|True|False)\b", out), "no Python reprs"
    assert re.search(r"policy=\{\"Version\": .*… \[\d+ more chars: see plan --json\]", out)
    assert main(["plan", "staging"]) == 0
    assert "  kmsKeyArn: null" in capsys.readouterr().out.splitlines()
