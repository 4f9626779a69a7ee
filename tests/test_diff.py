"""`modelctl diff`: every resource a change touches, down to the statement of a policy; never a secret's value."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.stack_source import StackFile, stack_file_label
from modelctl.cli import main
from modelctl.diff import PropertyChange, diff_plans, flatten, format_diff, group_changes
from modelctl.engine import SECRET_JSON_KEY, Plan, plan_stack_file
from tests.conftest import ROOT, plan_doc, set_path, stack_doc
from tests.fixtures.release_env import NEW_DIGEST  # the release tests' digest: their plan of staging at 1.5.0 is shared

M = "model-platform:models.days-to-sell"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
RELEASED = "aws:s3/bucketObjectv2:BucketObjectv2"
#: Every type that holds an IAM document (policies, roles' trust, the bucket policy).
IAM_DOCUMENT_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/role:Role",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:s3/bucketPolicy:BucketPolicy",
)


def bumped(version: str = "1.5.0") -> dict:
    return set_path(stack_doc("staging"), f"{M}.version", version)


def with_second_model(name: str) -> dict:
    doc = stack_doc("staging")
    models = doc["config"]["model-platform:models"]
    models[name] = copy.deepcopy(models["days-to-sell"])
    return doc


def test_a_version_bump_changes_the_deployment_released_json_and_the_two_airflow_variables(real_plan):
    d = diff_plans(real_plan("staging"), plan_doc(bumped(), "staging"))

    assert {(c.type, c.name) for c in d.changed} == {
        (DEPLOYMENT, "days-to-sell"),
        (RELEASED, "days-to-sell-released"),
        # Airflow reads the version and the bundle URI from Secrets Manager: their values are secrets.
        (SECRET_VERSION, "variable-days-to-sell-version"),
        (SECRET_VERSION, "variable-days-to-sell-bundle-uri"),
    }
    assert d.added == [] and d.removed == []
    assert [(p.path, p.old, p.new) for p in d.outputs] == [("modelVersions.days-to-sell", "1.4.0", "1.5.0")]
    text = format_diff(d, "old", "new")
    assert "    secretString: [secret] (changed)" in text


@pytest.mark.parametrize(
    "stack, version",
    # Each stack and each form of version once (a training run's, a hand-picked one): nothing here reads the
    # version's form per stack, and every release is a new plan.
    [("staging", "2026-12-02-884422123"), ("prod", "1.5.0")],
)
def test_a_release_leaves_every_databricks_resource_and_iam_document_unchanged(real_plan, stack, version):
    """Releasing (version + digest) moves serving only: training, its identity and the store's policies stay put."""
    doc = set_path(stack_doc(stack), f"{M}.version", version)
    set_path(doc, f"{M}.bundleSha256", "b" * 64)
    d = diff_plans(real_plan(stack), plan_doc(doc, stack))
    assert d.added == [] and d.removed == []
    touched = {c.type for c in d.changed}
    assert not [t for t in touched if t.startswith("databricks:")], touched
    assert not touched & set(IAM_DOCUMENT_TYPES), touched
    assert RELEASED in touched and DEPLOYMENT in touched
    assert {p.path for p in d.outputs} == {"modelVersions.days-to-sell"}


def test_a_secret_that_did_not_change_is_not_reported(real_plan):
    """A second plan of the same file fingerprints every secret alike: planned afresh, since plan_doc would hand
    back a copy of the first (tests/conftest.py's plans by content) and prove nothing."""
    again = plan_stack_file(StackFile.from_document(stack_doc("staging"), stack_file_label("staging")), "staging")
    d = diff_plans(real_plan("staging"), again)
    assert d.empty


def test_diff_output_never_carries_a_secrets_fingerprint(tmp_path, monkeypatch, capsys, real_plan, planned_once):
    monkeypatch.chdir(ROOT)
    new = tmp_path / "Pulumi.staging.yaml"
    new.write_text(json.dumps(bumped()))  # JSON is YAML
    fingerprints = {
        leaf.fingerprint
        for r in real_plan("staging").resources
        for leaf in flatten(r.inputs).values()
        if getattr(leaf, "fingerprint", None)
    }
    assert fingerprints, "the plan holds fingerprinted secrets"
    for args in ([], ["--json"]):
        assert main(["diff", "staging", str(new), *args]) == 0
        out = capsys.readouterr().out
        assert "[secret]" in out
        assert not any(f in out for f in fingerprints) and SECRET_JSON_KEY not in out
    assert main(["plan", "staging", "--json"]) == 0
    plain = capsys.readouterr().out
    assert not any(f in plain for f in fingerprints) and SECRET_JSON_KEY not in plain


def test_a_change_inside_a_json_policy_names_the_statement_and_the_new_value(real_plan):
    d = diff_plans(real_plan("staging"), plan_doc(with_second_model("car-valuation"), "staging"))

    writer = next(c for c in d.changed if c.name == "bundle-store-writer")
    paths = {p.path: p for p in writer.properties}
    assert "policy" not in paths, "the policy is compared statement by statement, not as one string"
    new_arn = next(p for p in writer.properties if isinstance(p.new, str) and "/car-valuation/" in p.new)
    assert new_arn.path.startswith("policy⟨Statement[") and new_arn.path.endswith("⟩")
    text = format_diff(d, "old", "new")
    assert f"    {new_arn.path}: (absent) => '{new_arn.new}'" in text
    for p in writer.properties:
        assert p.old != p.new


def test_flatten_reads_json_text_as_a_document_only_when_asked():
    policy = json.dumps({"Statement": [{"Resource": ["a", "b"]}]})
    assert flatten({"policy": policy}, descend_json=True) == {
        "policy⟨Statement[0].Resource[0]⟩": "a",
        "policy⟨Statement[0].Resource[1]⟩": "b",
    }
    assert flatten({"policy": policy}) == {"policy": policy}
    not_json = {"a": "[unknown]", "b": "{not json", "c": "[]"}
    assert flatten(not_json, descend_json=True) == not_json


def test_staging_and_prod_differ_in_options_but_not_in_their_provider(real_plan):
    d = diff_plans(real_plan("staging"), real_plan("prod"))
    paths = [p.path for c in d.changed for p in c.properties]
    assert not [p for p in paths if p.startswith("(options).provider")]
    assert "(options).protect" in paths, "options are still compared"


def test_a_plan_read_back_from_its_full_json_diffs_as_empty(real_plan):
    plan = real_plan("staging")
    again = Plan.from_json(json.loads(json.dumps(plan.to_json(full=True))))
    assert diff_plans(plan, again).empty
    assert diff_plans(again, plan_doc(bumped(), "staging")).changed


def test_a_plan_from_plain_json_compares_what_it_has(real_plan):
    """``plan --json`` has no options and prints secrets as [secret]: neither may show up as a change."""
    plain = Plan.from_json(json.loads(json.dumps(real_plan("staging").to_json())))
    assert not plain.has_options
    assert diff_plans(plain, real_plan("staging")).empty
    d = diff_plans(plain, plan_doc(bumped(), "staging"))
    assert {c.type for c in d.changed} == {DEPLOYMENT, RELEASED}


# --------------------------------------------------------------------------- --base GIT_REV

#: Appended to a copy of infra/program.py: a change to the code alone, the stack files untouched.
CODE_CHANGE = '''

_main_before_the_change = main


def main() -> None:
    _main_before_the_change()
    import pulumi

    pulumi.export("codeOnlyChange", "yes")
'''


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True, capture_output=True
    )


def committed_project(repo: Path, subdir: str = "", with_code: bool = False) -> Path:
    """A git repository holding the project (Pulumi.yaml, stacks; with its code if asked) in ``subdir``, committed."""
    project = repo / subdir
    project.mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", project / "stacks")
    if with_code:
        # The program's code: infra reads the DAG files it delivers from dags/.
        for package in ("infra", "modelctl", "dags"):
            shutil.copytree(ROOT / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "project")
    return project


OLD_DIGEST = "3b0c8a3a8f2e1f4d5c6b7a8990a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3"


def bump(project: Path, *, digest: bool = True) -> None:
    """Release 1.5.0 in staging as a human edit: the version and (unless ``digest=False``) the bundle's digest."""
    stack = project / "stacks/Pulumi.staging.yaml"
    text = stack.read_text().replace("version: 1.4.0", "version: 1.5.0")
    stack.write_text(text.replace(OLD_DIGEST, NEW_DIGEST) if digest else text)


def diff_against_head(project: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    """``modelctl diff staging --base HEAD --json`` run in ``project``; HEAD's side runs in its own process."""
    monkeypatch.chdir(project)
    monkeypatch.delenv("MODELCTL_PROJECT_DIR", raising=False)
    code = main(["diff", "staging", "--base", "HEAD", "--json"])
    out, err = capsys.readouterr()
    return code, out, err


def test_base_runs_the_program_of_the_revision_so_a_code_change_shows(tmp_path, monkeypatch, capsys, planned_once):
    """The one test that plans a revision for real: its own modelctl and program, in a process of their own.

    (``planned_once`` plans the working tree's side, in this process, through the session's plans: the
    revision's side is the subprocess, which it does not touch.)
    """
    project = committed_project(tmp_path / "repo", with_code=True)
    program = project / "infra/program.py"
    original = program.read_text()
    # The revision's code exports an output that neither the working tree nor the installed modelctl has:
    # it can only show up if the base side really runs the revision's program.
    program.write_text(original + CODE_CHANGE)
    git(tmp_path / "repo", "commit", "-qam", "code change")
    program.write_text(original)
    bump(project)

    code, out, err = diff_against_head(project, monkeypatch, capsys)

    assert code == 0, err
    assert "warning" not in err, err
    d = json.loads(out)
    assert {"path": "codeOnlyChange", "old": "yes", "new": None, "kind": "delete"} in d["outputs"]
    # Both sides fingerprint secrets with one key: only the two secrets the bump changes differ.
    assert {c["name"] for c in d["changed"] if c["type"] == SECRET_VERSION} == {
        "variable-days-to-sell-version",
        "variable-days-to-sell-bundle-uri",
    }


def committed_modelctl(tmp_path: Path, main_py: str, **files: str) -> Path:
    """A committed project whose modelctl is ``main_py`` (``python -m modelctl``), then the stack bumped.

    Stands in for a revision's modelctl where the test is how diff handles what
    that process does (its exit code, its output), not the planning itself;
    ``files`` go next to it in modelctl/.
    """
    project = committed_project(tmp_path / "repo")
    (project / "modelctl").mkdir()
    (project / "modelctl/__init__.py").write_text("")
    (project / "modelctl/__main__.py").write_text(main_py)
    for name, text in files.items():
        (project / "modelctl" / name).write_text(text)
    git(tmp_path / "repo", "add", ".")
    git(tmp_path / "repo", "commit", "-qm", "the revision's modelctl")
    bump(project)
    return project


#: A modelctl from before --json-full: argparse refuses the flag; --json prints its plan (modelctl/plan.json).
OLD_MODELCTL = """
import argparse, pathlib
parser = argparse.ArgumentParser(prog="modelctl")
plan = parser.add_subparsers(dest="command", required=True).add_parser("plan")
plan.add_argument("stack")
plan.add_argument("--json", action="store_true")
parser.parse_args()
print((pathlib.Path(__file__).parent / "plan.json").read_text())
"""


def test_a_revision_whose_modelctl_predates_json_full_is_compared_on_what_its_json_has(
    tmp_path, monkeypatch, capsys, planned_once, real_plan
):
    plain = json.dumps(real_plan("staging").to_json())  # what plan --json printed then
    project = committed_modelctl(tmp_path, OLD_MODELCTL, **{"plan.json": plain})

    code, out, err = diff_against_head(project, monkeypatch, capsys)

    assert code == 0, err
    assert "predates --json-full: resource options and secret values are not compared" in err
    d = json.loads(out)
    assert {(c["type"], c["name"]) for c in d["changed"]} == {(DEPLOYMENT, "days-to-sell"), (RELEASED, "days-to-sell-released")}


def test_a_revision_whose_program_fails_is_planned_with_the_current_program(tmp_path, monkeypatch, capsys, planned_once):
    project = committed_modelctl(tmp_path, "raise RuntimeError('broken at this revision')\n")

    code, out, err = diff_against_head(project, monkeypatch, capsys)

    assert code == 0, err
    assert "the program at HEAD could not plan stacks/Pulumi.staging.yaml" in err
    assert "planning its stack file with the working tree's program instead" in err
    assert "broken at this revision" in err
    d = json.loads(out)
    assert {"path": "modelVersions.days-to-sell", "old": "1.4.0", "new": "1.5.0", "kind": "update"} in d["outputs"]


def test_a_revision_without_modelctl_is_planned_with_the_current_program(tmp_path, monkeypatch, capsys, planned_once):
    project = committed_project(tmp_path / "repo")
    bump(project)
    monkeypatch.chdir(project)

    assert main(["diff", "staging", "--base", "HEAD", "--json"]) == 0

    out, err = capsys.readouterr()
    assert "HEAD has no modelctl: planning its stack file with the working tree's program" in err
    d = json.loads(out)
    assert {"path": "modelVersions.days-to-sell", "old": "1.4.0", "new": "1.5.0", "kind": "update"} in d["outputs"]


def test_a_project_in_a_sub_folder_of_the_repository(tmp_path, monkeypatch, capsys, planned_once):
    project = committed_project(tmp_path / "repo", subdir="platform/ml")
    bump(project)
    monkeypatch.chdir(project)

    assert main(["diff", "staging", "--base", "HEAD", "--json"]) == 0

    d = json.loads(capsys.readouterr().out)
    assert d["base"] == "stacks/Pulumi.staging.yaml@HEAD"
    assert {"path": "modelVersions.days-to-sell", "old": "1.4.0", "new": "1.5.0", "kind": "update"} in d["outputs"]


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One committed project for the tests that only read it (its working tree as committed): one git setup."""
    return committed_project(tmp_path_factory.mktemp("committed") / "repo")


@pytest.mark.parametrize("rev", ["--output={out}", "-p", "no-such-rev", "HEAD:stacks"])
def test_a_base_that_is_not_a_commit_is_refused_naming_it(committed, tmp_path, monkeypatch, capsys, rev):
    monkeypatch.chdir(committed)
    rev = rev.format(out=tmp_path / "written")

    assert main(["diff", "staging", f"--base={rev}"]) == 2

    out, err = capsys.readouterr()
    assert out == "" and f"--base {rev!r}: not a commit" in err
    assert not (tmp_path / "written").exists()


def test_a_stack_file_outside_the_project_is_a_usage_error(committed, tmp_path, monkeypatch, capsys):
    outside = tmp_path / "elsewhere" / "Pulumi.staging.yaml"
    outside.parent.mkdir()
    shutil.copy(committed / "stacks/Pulumi.staging.yaml", outside)
    monkeypatch.chdir(committed)

    assert main(["diff", str(outside), "--base", "HEAD"]) == 2

    assert "the stack file is outside the project" in capsys.readouterr().err


# --------------------------------------------------------------------------- identical changes grouped


def test_a_training_code_bump_shows_the_package_change_once_for_all_tasks(real_plan):
    """The same change of every task is one line (with how many), not one per task; --json keeps every path."""
    doc = set_path(stack_doc("staging"), f"{M}.training.packageVersion", "1.5.0")
    d = diff_plans(real_plan("staging"), plan_doc(doc, "staging"))
    job = next(c for c in d.changed if c.type == "databricks:index/job:Job")
    tasks = len(real_plan("staging").get("databricks:index/job:Job", "days-to-sell-training").inputs["tasks"])
    assert len([p for p in job.properties if p.path.endswith("libraries[0].whl")]) == tasks > 1
    text = format_diff(d, "old", "new").splitlines()
    wheel = [line for line in text if "libraries[0].whl" in line]
    assert wheel == [
        "    tasks[*].libraries[0].whl: "
        "'s3://pricing-artifacts/days-to-sell/days_to_sell-1.4.0-py3-none-any.whl' => "
        f"'s3://pricing-artifacts/days-to-sell/days_to_sell-1.5.0-py3-none-any.whl'  (all {tasks} tasks)"
    ]
    as_json = [p["path"] for c in d.to_json()["changed"] for p in c["properties"] if p["path"].endswith(".whl")]
    assert as_json == [f"tasks[{i}].libraries[0].whl" for i in range(tasks)]


def change(path: str, old, new) -> PropertyChange:
    return PropertyChange(path, old, new)


@pytest.mark.parametrize(
    "changes, lengths, expected",
    [
        pytest.param(
            [change("tasks[0].x", 1, 2), change("tasks[1].x", 1, 2), change("tasks[2].x", 1, 2)],
            {"tasks": 3},
            [("tasks[*].x", "all 3 tasks")],
            id="every-item",
        ),
        pytest.param(
            [change("tasks[0].x", 1, 2), change("tasks[2].x", 1, 2)],
            {"tasks": 3},
            [("tasks[0,2].x", "2 of 3 tasks")],
            id="some-items-by-index",
        ),
        pytest.param(
            [change(f"env[{i}].value", "a", "b") for i in (0, 1, 2, 4)],
            {"env": 5},
            [("env[0-2,4].value", "4 of 5 env")],
            id="index-ranges",
        ),
        pytest.param(
            [change("tasks[0].x", 1, 2), change("tasks[1].x", 1, 3)],
            {"tasks": 2},
            [("tasks[0].x", ""), ("tasks[1].x", "")],
            id="different-changes-stay-apart",
        ),
        pytest.param(
            [change("a[0].b[0]", 1, 2), change("a[0].b[1]", 1, 2), change("a[1].b[0]", 1, 2), change("a[1].b[1]", 1, 2)],
            {"a": 2, "a[0].b": 2, "a[1].b": 2},
            [("a[*].b[0]", "all 2 a"), ("a[*].b[1]", "all 2 a")],
            id="outermost-list-first",
        ),
        pytest.param(
            [change("p⟨Statement[0].Effect⟩", "Allow", "Deny"), change("p⟨Statement[1].Effect⟩", "Allow", "Deny")],
            {"p⟨Statement": 2},
            [("p⟨Statement[*].Effect⟩", "all 2 Statement")],
            id="inside-a-json-document",
        ),
    ],
)
def test_identical_changes_of_list_items_are_grouped_exactly(changes, lengths, expected):
    shown = group_changes(changes, old_lengths=lengths, new_lengths=lengths)
    assert [(s.path, s.note) for s in shown] == expected


def test_a_list_that_grew_is_never_written_as_all_of_it():
    changes = [change("tasks[0].x", 1, 2), change("tasks[1].x", 1, 2)]
    shown = group_changes(changes, old_lengths={"tasks": 2}, new_lengths={"tasks": 3})
    assert [(s.path, s.note) for s in shown] == [("tasks[0,1].x", "2 of 3 tasks")]


def test_diff_text_spells_values_as_json_not_python():
    d = diff_plans(
        Plan("a", [], {"kmsKeyArn": None, "flag": True, "n": 2, "arn": "arn:aws:iam::1:role/" + "r" * 150}),
        Plan("b", [], {"kmsKeyArn": "[unknown]", "flag": False, "n": 3, "arn": "arn:aws:iam::1:role/" + "s" * 150}),
    )
    text = format_diff(d, "a", "b")
    assert "    kmsKeyArn: null => [unknown]" in text
    assert "    flag: true => false" in text
    assert f"'arn:aws:iam::1:role/{'s' * 150}'" in text, "ARNs are shown whole"
    assert "None" not in text and "True" not in text


# --------------------------------------------------------------------------- secure values, archives (issue 16)

STAGING_SECRET = "v1:c3RhZ2luZy1wbGFjZWhvbGRlcg==:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="


def test_a_changed_secure_value_is_listed_without_its_value(tmp_path, monkeypatch, capsys, planned_once):
    """The plan sees a placeholder for every secure value: the diff says the ciphertext changed, never shows it."""
    monkeypatch.chdir(ROOT)
    new = tmp_path / "Pulumi.staging.yaml"
    new.write_text((ROOT / "stacks/Pulumi.staging.yaml").read_text().replace(STAGING_SECRET, "v1:bmV3:BBBB"))

    assert main(["diff", "staging", str(new), "--exit-code"]) == 1
    out = capsys.readouterr().out
    assert "  model-platform:databricksClientSecret: [secret] (changed)" in out
    assert "bmV3" not in out and "c3RhZ2luZy1wbGFjZWhvbGRlcg" not in out
    assert "githubReleaseToken" not in out, "an unchanged secure value is not listed"

    assert main(["diff", "staging", str(new), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["secureConfig"] == [{"key": "model-platform:databricksClientSecret", "change": "changed"}]


def test_a_secure_value_changed_since_the_base_revision_is_listed(tmp_path, monkeypatch, capsys, planned_once):
    project = committed_project(tmp_path / "repo")
    stack = project / "stacks/Pulumi.staging.yaml"
    stack.write_text(stack.read_text().replace(STAGING_SECRET, "v1:bmV3:BBBB"))
    monkeypatch.chdir(project)

    assert main(["diff", "staging", "--base", "HEAD"]) == 0

    out = capsys.readouterr().out
    assert "model-platform:databricksClientSecret: [secret] (changed)" in out and "bmV3" not in out


def tar_of(*members: tuple[str, bytes | None, str]) -> bytes:
    """A tar of (name, data, kind) members: kind "file", "symlink" (data: link target) or "hardlink"."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = (data or b"").decode()
                tar.addfile(info)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "member, message",
    [
        (("/tmp/absolute", b"x", "file"), "a path outside its folder"),
        (("stacks/../../escape", b"x", "file"), "a path outside its folder"),
        (("stacks/link", b"/etc/passwd", "symlink"), "is a link"),
        (("stacks/inside-link", b"Pulumi.staging.yaml", "symlink"), "is a link"),
        (("stacks/hard", b"Pulumi.yaml", "hardlink"), "is a link"),
    ],
)
def test_an_exported_revision_with_unsafe_members_is_refused_before_anything_is_written(tmp_path, member, message):
    from modelctl.stacks import UsageError, extract_tar

    archive = tar_of(("Pulumi.yaml", b"name: x\n", "file"), member)
    dest = tmp_path / "tree"
    dest.mkdir()
    with pytest.raises(UsageError, match=message):
        extract_tar(archive, dest, label="--base 'HEAD'")
    assert list(dest.iterdir()) == [], "nothing is extracted from a refused archive"
    assert not (tmp_path / "escape").exists()


def test_a_plain_archive_is_extracted(tmp_path):
    from modelctl.stacks import extract_tar

    extract_tar(tar_of(("stacks/Pulumi.x.yaml", b"config: {}\n", "file")), tmp_path, label="--base 'HEAD'")
    assert (tmp_path / "stacks/Pulumi.x.yaml").read_bytes() == b"config: {}\n"
