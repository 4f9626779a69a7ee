"""The workflows are valid, linted and name only what exists; scripts/install-tools.sh installs the linters.

Every workflow validates against the GitHub workflow schema and passes actionlint (with shellcheck
on every `run:` script); actions get only the inputs they document, reusable workflows get exactly
the inputs and secrets they declare, and everything a workflow names exists: the commands its
scripts run (modelctl sub-commands and arguments, Makefile targets, scripts), the files it points
to and the `modelctl stack-info` outputs it reads. scripts/install-tools.sh installs the pinned
actionlint once (tested offline with a fake `go`) and says what to install when it cannot.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from check_jsonschema import main as check_jsonschema
from click.testing import CliRunner

from tests.workflow_files import (
    INSTALL_TOOLS,
    ROOT,
    STACK_WORKFLOWS,
    WORKFLOW_FILES,
    action_name,
    called_workflow,
    invocations,
    load,
    local_calls,
    makefile_targets,
    modelctl_subcommands,
    parse_modelctl,
    run_scripts,
    shell_commands,
    steps,
    triggers,
    workflow,
)


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


# --- the workflows are valid --------------------------------------------------------------


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


# --- actionlint (with shellcheck on every script) lints every workflow --------------------


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


# --- every command they run and file they point to exists ---------------------------------


def test_scripts_the_workflows_run_exist():
    for path in WORKFLOW_FILES:
        for where, script in run_scripts(path):
            for argv in shell_commands(script):
                if argv[0].startswith(("scripts/", "./scripts/")):
                    assert os.access(ROOT / argv[0], os.X_OK), f"{where}: {argv[0]} is not an executable file"


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


def test_files_the_workflows_point_to_exist():
    for path in WORKFLOW_FILES:
        for name in re.findall(r"(?<![\w/.${}-])((?:[\w-]+/)*[\w.-]+\.md)\b", path.read_text()):
            assert (ROOT / name).is_file(), f"{path.name} refers to {name}, which does not exist"


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
