"""What the GitHub Actions workflows users run from CI (.github/workflows/) do.

Pull requests check, diff and preview every stack with its own policy config; deploys run from
`main`, staging first, prod only behind the protected `production` environment and only when what
prod is built from changed; promotion proposes the prod stack file; each stack is previewed in its
own environment; and the README's Operating it section matches the workflows. Validity and linters:
test_workflow_linters.py; least privilege: test_workflows_least_privilege.py.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.workflow_files import (
    ROOT,
    STACK_WORKFLOWS,
    STACKS,
    WORKFLOW_FILES,
    action_name,
    called_workflow,
    doc_invocations,
    documented_settings,
    documented_trust,
    git_env,
    git_runner,
    invocations,
    local_calls,
    operating_section,
    parse_modelctl,
    referenced,
    role_subjects,
    shell_commands,
    stack_environment,
    stack_jobs,
    steps,
    triggers,
    workflow,
)


def test_there_are_workflows_for_pull_requests_deploys_and_promotion():
    names = {p.name for p in WORKFLOW_FILES}
    assert {"pull-request.yml", "deploy.yml", "promote.yml", "pulumi-preview.yml", "pulumi-up.yml"} <= names


# --- every stack is checked, previewed and deployed with its own policy config ------------


def test_every_stack_is_policy_checked_and_diffed_on_pull_requests():
    check = workflow("pull-request.yml")["jobs"]["check"]
    assert sorted(check["strategy"]["matrix"]["stack"]) == STACKS
    commands = [argv for step in check["steps"] if "run" in step for argv in shell_commands(step["run"])]
    subcommands = {argv[1] for argv in commands if Path(argv[0]).name == "modelctl"}
    assert {"check", "diff"} <= subcommands


def diff_step() -> dict[str, Any]:
    check = workflow("pull-request.yml")["jobs"]["check"]
    return next(s for s in check["steps"] if "modelctl diff" in s.get("run", ""))


def test_the_stack_diff_is_information_and_never_fails_the_required_check():
    check = workflow("pull-request.yml")["jobs"]["check"]
    step = diff_step()
    assert step.get("continue-on-error") is True
    gating = [s for s in check["steps"] if "run" in s and any(
        Path(argv[0]).name == "modelctl" and argv[1:2] == ["check"] for argv in shell_commands(s["run"]))]
    assert len(gating) == 1 and "continue-on-error" not in gating[0], "modelctl check gates the pull request"
    assert check["steps"].index(gating[0]) < check["steps"].index(step)


def run_diff_step(tmp_path: Path, modelctl_exit: int, base_has_stack: bool = True) -> tuple[subprocess.CompletedProcess, str]:
    """Run the summary step as GitHub does (bash -eo pipefail) in a clone whose branch edits the prod stack file."""
    repo, bin_dir = tmp_path / "repo", tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "modelctl"
    fake.write_text(f'#!/usr/bin/env bash\necho "modelctl $*: out"\necho "modelctl: an error" >&2\nexit {modelctl_exit}\n')
    fake.chmod(0o755)
    env = git_env(tmp_path)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    stack_file = repo / "stacks" / "Pulumi.prod.yaml"
    stack_file.parent.mkdir(parents=True)
    (repo / "README.md").write_text("base\n")
    if base_has_stack:
        stack_file.write_text("config:\n  model-platform:environment: prod\n")
    git = git_runner(repo, env, init=True)
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    git("update-ref", "refs/remotes/origin/main", "HEAD")
    stack_file.write_text("config:\n  model-platform:environment: prod\n  model-platform:newKey: 1\n")
    summary = tmp_path / "summary"
    env.update({k: str(v) for k, v in diff_step()["env"].items() if "${{" not in str(v)})
    env.update({"STACK": "prod", "BASE_REF": "main", "RUNNER_TEMP": str(tmp_path), "GITHUB_STEP_SUMMARY": str(summary)})
    run = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", diff_step()["run"]],
                         cwd=repo, env=env, capture_output=True, text=True, check=False)
    return run, summary.read_text() if summary.exists() else ""


def test_the_stack_diff_goes_into_the_summary(tmp_path):
    run, summary = run_diff_step(tmp_path, modelctl_exit=0)
    assert run.returncode == 0, run.stderr
    assert "modelctl diff prod --base origin/main: out" in summary
    assert "Note" not in summary


def test_a_base_the_branch_cannot_read_gets_a_note_and_the_file_diff_not_a_failure(tmp_path):
    run, summary = run_diff_step(tmp_path, modelctl_exit=2)
    assert run.returncode == 0, run.stderr
    assert "could not compare with `main` (exit 2)" in summary
    assert "modelctl: an error" in summary
    assert "+  model-platform:newKey: 1" in summary  # git diff origin/main -- stacks/Pulumi.prod.yaml
    assert "`modelctl check prod` decides" in summary


def test_a_new_stack_is_named_as_such(tmp_path):
    run, summary = run_diff_step(tmp_path, modelctl_exit=0, base_has_stack=False)
    assert run.returncode == 0, run.stderr
    assert "New stack: `stacks/Pulumi.prod.yaml` does not exist on `main`." in summary


@pytest.mark.parametrize("workflow_name, command", [("pull-request.yml", "preview"), ("deploy.yml", "up")])
def test_every_stack_runs_with_its_environments_policy_config(workflow_name, command):
    jobs = stack_jobs(workflow(workflow_name), command)
    assert sorted(jobs) == STACKS
    for stack, job in jobs.items():
        config = job["with"]["policy-config"]
        assert config == f"policies/{stack_environment(stack)}.json", f"{stack}: {config}"
        assert (ROOT / config).is_file(), f"{stack}: {config} does not exist"


def pulumi_step(uses: str) -> dict[str, Any]:
    """The one pulumi/actions step of a reusable stack workflow."""
    found = [s for _, s in steps(called_workflow(uses)) if action_name(s.get("uses", "")) == "pulumi/actions"]
    assert len(found) == 1, uses
    return found[0]


@pytest.mark.parametrize("command", sorted(STACK_WORKFLOWS))
def test_every_pulumi_run_uses_the_policy_pack_and_the_given_config(command):
    args = pulumi_step(STACK_WORKFLOWS[command])["with"]
    assert args["command"] == command
    assert args["comment-on-pr"] is (command == "preview"), "previews (only) are commented on the pull request"
    assert args["policyPacks"] == "policies"
    assert args["policyPackConfigs"] == "${{ inputs.policy-config }}"
    assert args["stack-name"] == "${{ inputs.stack }}"
    assert args["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    # Each stack file records its own secrets provider (a KMS key per stack); one repository-wide
    # provider would force one key, readable by every stack's roles.
    assert "secrets-provider" not in args


def test_previews_and_deploys_run_the_same_steps():
    """Two files only because a called job's permissions are checked against its caller's: no other drift."""
    def common_part(uses: str) -> dict[str, Any]:
        doc = copy.deepcopy(called_workflow(uses))
        del doc["name"], doc["jobs"]["pulumi"]["name"]
        doc["jobs"]["pulumi"]["permissions"].pop("pull-requests", None)
        pulumi = next(s for _, s in steps(doc) if action_name(s.get("uses", "")) == "pulumi/actions")
        del pulumi["with"]["command"], pulumi["with"]["comment-on-pr"]
        return doc

    assert common_part(STACK_WORKFLOWS["preview"]) == common_part(STACK_WORKFLOWS["up"])


def test_stacks_on_the_passphrase_provider_get_their_passphrase():
    """A called workflow sees a secret only when its caller passes it, by name or with `inherit`.

    Passed by name, the environment's own secret of that name (prod's passphrase, an environment secret
    of `production` and `production-preview`) wins over the repository's in the job of that environment.
    """
    for uses in STACK_WORKFLOWS.values():
        assert pulumi_step(uses)["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}", uses
    calls = [(f"{name}:{job_id}", job.get("secrets")) for name, job_id, job in local_calls()]
    assert calls and all(passed == {"PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"} for _, passed in calls), calls


def test_each_stack_is_previewed_in_its_own_environment_and_prods_is_not_a_deploy_environment():
    preview = stack_jobs(workflow("pull-request.yml"), "preview")
    deploy = stack_jobs(workflow("deploy.yml"), "up")
    assert preview["prod"]["with"]["environment"] == "production-preview"
    environments = [jobs[s]["with"]["environment"] for jobs in (preview, deploy) for s in STACKS]
    assert len(set(environments)) == len(environments), environments
    for stack in STACKS:
        assert preview[stack]["with"]["environment"] == f"{deploy[stack]['with']['environment']}-preview"


# --- deploys: staging, then prod behind `production`, never two at once -------------------


def test_deploy_runs_on_push_to_main():
    on = triggers(workflow("deploy.yml"))
    assert on["push"]["branches"] == ["main"]


@pytest.mark.parametrize("name", ["deploy.yml", "promote.yml"])
def test_deploys_and_promotions_run_only_on_main_even_when_run_by_hand(name):
    """workflow_dispatch can pick any branch: without the guard it would deploy that branch's code."""
    doc = workflow(name)
    assert "workflow_dispatch" in triggers(doc)
    for job_id, job in doc["jobs"].items():
        assert "github.ref == 'refs/heads/main'" in str(job.get("if", "")), f"{name}:{job_id} has no main-only guard"


def test_prod_deploys_after_staging_behind_the_protected_production_environment():
    deploy = workflow("deploy.yml")
    jobs = stack_jobs(deploy, "up")
    staging_job_id = next(k for k, j in deploy["jobs"].items() if j is jobs["staging"]["job"])
    prod = jobs["prod"]
    assert prod["with"]["environment"] == "production"
    assert staging_job_id in prod["job"]["needs"]
    assert "needs.prod-changes.outputs.changed == 'true'" in prod["job"]["if"]
    assert jobs["staging"]["with"].get("environment") != "production"
    for uses in STACK_WORKFLOWS.values():
        assert called_workflow(uses)["jobs"]["pulumi"]["environment"] == "${{ inputs.environment }}", uses


def test_two_deploys_of_one_stack_never_overlap():
    groups = {}
    for stack, job in stack_jobs(workflow("deploy.yml"), "up").items():
        concurrency = job["job"]["concurrency"]
        group = concurrency["group"]
        assert "${{" not in group and stack in group, f"{stack}: one fixed group per stack, got {group!r}"
        assert concurrency["cancel-in-progress"] is False, f"{stack}: a running update must never be cancelled"
        groups[stack] = group
    assert len(set(groups.values())) == len(groups)


# --- prod runs only when what prod is built from changed ----------------------------------


def compare_step() -> dict[str, Any]:
    job = workflow("deploy.yml")["jobs"]["prod-changes"]
    return next(s for s in job["steps"] if s.get("id") == "compare")


def test_the_change_check_looks_at_the_environment_prod_deploys_to():
    assert compare_step()["env"]["ENVIRONMENT"] == stack_jobs(workflow("deploy.yml"), "up")["prod"]["with"]["environment"]


#: The `gh api ... --jq FILTER` filters of the compare step, as gh (which embeds its own jq) applies them
#: with raw output. The fake gh below knows exactly these: a new filter in the workflow fails the tests
#: until it is added here, and test_the_fake_gh_filters_like_jq checks them against jq where it exists.
GH_JQ_FILTERS = {
    '.[0] | select(.) | "\\(.id) \\(.sha)"': "first_id_and_sha",
    '.[0].state // "none"': "first_state_or_none",
}

FAKE_GH = r"""
# gh api URL --jq FILTER, answered from JSON files like the GitHub REST API would, filtered in Python
# as gh's built-in jq does: the tests need no jq binary.
import json, os, re, sys

def first_id_and_sha(items):
    return [] if not items or items[0] is None else [f"{items[0]['id']} {items[0]['sha']}"]

def first_state_or_none(items):
    state = items[0].get("state") if items and isinstance(items[0], dict) else None
    return [state if state not in (None, False) else "none"]

FILTERS = json.loads(os.environ["FAKE_GH_FILTERS"])
args = sys.argv[1:]
if len(args) != 4 or args[0] != "api" or args[2] != "--jq":
    sys.exit(f"unexpected: gh {' '.join(args)}")
url, jq = args[1], args[3]
if re.fullmatch(r"repos/acme/models/deployments/42/statuses\?.*", url):
    source = os.environ["FAKE_STATUSES"]
elif re.fullmatch(r"repos/acme/models/deployments\?environment=production&.*", url):
    source = os.environ["FAKE_DEPLOYMENTS"]
else:
    sys.exit(f"unexpected: gh api {url}")
if jq not in FILTERS:
    sys.exit(f"the fake gh does not know the filter {jq!r}: add it to GH_JQ_FILTERS")
with open(source) as f:
    for line in globals()[FILTERS[jq]](json.load(f)):
        print(line)
"""


def install_fake_gh(bin_dir: Path) -> dict[str, str]:
    """Put the fake `gh` (run by this Python) on a PATH; returns the environment it needs."""
    gh = bin_dir / "gh"
    gh.write_text(f"#!{sys.executable}\n{FAKE_GH}")
    gh.chmod(0o755)
    return {"FAKE_GH_FILTERS": json.dumps(GH_JQ_FILTERS)}


def compare_step_filters() -> set[str]:
    """The --jq filters the compare step passes to `gh api`."""
    return {argv[argv.index("--jq") + 1] for argv in shell_commands(compare_step()["run"])
            if argv[0] == "gh" and "--jq" in argv}


def test_the_fake_gh_knows_exactly_the_filters_the_workflow_uses():
    assert compare_step_filters() == set(GH_JQ_FILTERS)


@pytest.mark.parametrize("items", [[], [{"id": 42, "sha": "abc", "state": "success"}], [{"id": 7, "sha": "d"}], [None]])
def test_the_fake_gh_filters_like_jq(tmp_path, items):
    """The fake's Python filters against real jq, where jq is installed (the fake itself needs none)."""
    jq = shutil.which("jq")
    if not jq:
        pytest.skip("no jq here to compare the fake gh's filters with")
    (tmp_path / "bin").mkdir()
    data = tmp_path / "items.json"
    data.write_text(json.dumps(items))
    env = {**os.environ, **install_fake_gh(tmp_path / "bin"), "FAKE_STATUSES": str(data)}
    gh_api = [str(tmp_path / "bin" / "gh"), "api", "repos/acme/models/deployments/42/statuses?per_page=1", "--jq"]
    for jq_filter in GH_JQ_FILTERS:
        expected = subprocess.run([jq, "-r", jq_filter, str(data)], capture_output=True, text=True, check=True).stdout
        fake = subprocess.run([*gh_api, jq_filter], env=env, capture_output=True, text=True, check=False)
        assert (fake.returncode, fake.stdout) == (0, expected), (jq_filter, fake.stderr)


REPO_FILES = [
    "stacks/Pulumi.prod.yaml", "stacks/Pulumi.staging.yaml", "infra/program.py", "infra/components/serving.py",
    "Pulumi.yaml", "requirements.txt", "pyproject.toml", "README.md", "docs/CONFIG.md", "modelctl/cli.py",
    "policies/prod.json", "tests/test_config.py", ".github/workflows/deploy.yml",
]


@dataclass(frozen=True)
class Deployment:
    """The newest `production` deployment GitHub reports: at the deployed commit or elsewhere."""

    state: str = "success"
    at_deployed_commit: bool = True


@dataclass(frozen=True)
class History:
    """A git repo: one commit deployed to production, and one child commit per file changing that file."""

    repo: Path
    env: dict[str, str]
    deployed: str
    change_of: dict[str, str]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> History:
    root = tmp_path_factory.mktemp("history")
    repo, bin_dir = root / "repo", root / "bin"
    bin_dir.mkdir()
    env = git_env(root)
    env.update(install_fake_gh(bin_dir))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    git = git_runner(repo, env, init=True)
    for name in REPO_FILES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(f"{name}\n")
    git("add", "-A")
    git("commit", "-q", "-m", "deployed to production")
    deployed = git("rev-parse", "HEAD")
    change_of = {}
    for name in REPO_FILES:
        with (repo / name).open("a") as f:
            f.write("changed\n")
        git("commit", "-q", "-am", f"change {name}")
        change_of[name] = git("rev-parse", "HEAD")
        git("reset", "-q", "--hard", deployed)
    return History(repo, env, deployed, change_of)


def decide_prod(history: History, tmp_path: Path, changed_file: str, last: Deployment | None, event: str = "push") -> str:
    """Run the deploy workflow's compare step at a commit where `changed_file` changed since the deploy."""
    deployments = [] if last is None else [{"id": 42, "sha": history.deployed if last.at_deployed_commit else "f" * 40}]
    (tmp_path / "deployments.json").write_text(json.dumps(deployments))
    (tmp_path / "statuses.json").write_text(json.dumps([] if last is None else [{"state": last.state}]))
    output, summary = tmp_path / "output", tmp_path / "summary"
    step = compare_step()
    env = dict(history.env)
    env.update({k: str(v) for k, v in step["env"].items() if "${{" not in str(v)})
    env.update({
        "GITHUB_REPOSITORY": "acme/models", "GITHUB_SHA": history.change_of[changed_file], "EVENT": event,
        "GH_TOKEN": "test", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
        "FAKE_DEPLOYMENTS": str(tmp_path / "deployments.json"), "FAKE_STATUSES": str(tmp_path / "statuses.json"),
    })
    run = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=history.repo, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return output.read_text().strip()


@pytest.mark.parametrize("changed_file", [
    "stacks/Pulumi.prod.yaml", "infra/program.py", "infra/components/serving.py", "Pulumi.yaml",
    "requirements.txt", "pyproject.toml",
])
def test_prod_updates_when_what_it_is_built_from_changed(history, tmp_path, changed_file):
    assert decide_prod(history, tmp_path, changed_file, Deployment()) == "changed=true"


@pytest.mark.parametrize("changed_file", [
    "stacks/Pulumi.staging.yaml", "README.md", "docs/CONFIG.md", "modelctl/cli.py", "tests/test_config.py",
    "policies/prod.json", ".github/workflows/deploy.yml",
])
def test_prod_is_left_alone_when_only_other_files_changed(history, tmp_path, changed_file):
    assert decide_prod(history, tmp_path, changed_file, Deployment()) == "changed=false"


@pytest.mark.parametrize("last", [
    None,  # never deployed
    Deployment(state="failure"),  # the update failed: prod may be half-applied
    Deployment(state="waiting"),  # an earlier change still awaits approval
    Deployment(at_deployed_commit=False),  # deployed from a commit no longer in history
], ids=["never-deployed", "last-failed", "last-awaiting-approval", "unknown-commit"])
def test_prod_updates_when_its_last_deployment_is_not_a_known_success(history, tmp_path, last):
    assert decide_prod(history, tmp_path, "stacks/Pulumi.staging.yaml", last) == "changed=true"


def test_prod_updates_when_the_workflow_is_run_by_hand(history, tmp_path):
    assert decide_prod(history, tmp_path, "README.md", Deployment(), event="workflow_dispatch") == "changed=true"


# --- promotion ----------------------------------------------------------------------------


def test_promotion_takes_a_model_and_proposes_only_the_prod_stack_file():
    promote = workflow("promote.yml")
    model = triggers(promote)["workflow_dispatch"]["inputs"]["model"]
    assert model["required"] is True
    job = promote["jobs"]["promote"]
    create_pr = next(s for s in job["steps"] if action_name(s.get("uses", "")) == "peter-evans/create-pull-request")
    assert create_pr["with"]["add-paths"] == "stacks/Pulumi.prod.yaml"
    promote_step = next(s for s in job["steps"] if "modelctl promote" in s.get("run", ""))
    assert promote_step["env"]["MODEL"] == "${{ inputs.model }}"
    assert job["permissions"]["pull-requests"] == "write"
    assert job["environment"] == "production-promote"


def test_the_promotion_runs_modelctl_promote_with_verification():
    lines = [argv for where, argv in invocations("modelctl") if where.startswith("promote.yml") and argv[1] == "promote"]
    assert len(lines) == 1
    argv = lines[0]
    assert argv[argv.index("--from") + 1] == "staging" and argv[argv.index("--to") + 1] == "prod"
    assert "--verify" in argv and "--dry-run" not in argv


# --- the README's Operating it section is accurate to the workflows -----------------------


def test_operating_section_is_in_the_readme():
    assert operating_section().startswith("## Operating it\n")


def test_every_variable_and_secret_the_workflows_use_is_documented_and_nothing_else():
    used = referenced("vars") | referenced("secrets")
    assert used, "the workflows use repository variables"
    documented = documented_settings()
    assert used - documented == set(), f"document in the README's Operating it section: {sorted(used - documented)}"
    assert documented - used == set(), f"the README's Operating it section documents unused settings: {sorted(documented - used)}"


def test_the_doc_names_every_workflow_and_only_existing_ones():
    named = {Path(m).name for m in re.findall(r"[\w./-]+\.yml\b", operating_section())}
    assert named == {p.name for p in WORKFLOW_FILES}


def test_the_doc_names_the_protected_environment_the_prod_deploy_uses():
    environment = stack_jobs(workflow("deploy.yml"), "up")["prod"]["with"]["environment"]
    assert f"`{environment}`" in operating_section()


def test_every_modelctl_command_in_the_doc_parses():
    lines = doc_invocations("modelctl")
    assert {argv[1] for argv in lines} >= {"release", "promote"}
    for argv in lines:
        parse_modelctl(argv)


def test_the_readme_trusts_each_role_for_exactly_the_subjects_its_jobs_present():
    documented = documented_trust()
    assert documented == role_subjects()
