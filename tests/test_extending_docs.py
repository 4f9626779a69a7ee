"""docs/EXTENDING.md stays true: its patches apply to the tree as it is, and its commands print what it shows.

The guide's examples are patches (```diff blocks) and the commands that check them (```sh blocks). Here
they are applied, in order, to one scratch copy of the working tree (tracked files and untracked ones git
does not ignore: the tree a reader has; git state is never touched), and every command shown runs in that
copy, in the guide's order, all in one fresh interpreter (``python -m tests.test_extending_docs``): each as
``python -m`` runs it, so the patched program is imported, and planned, once. What the guide says they print
is asserted:

- ```json plan blocks: each is part of the plan's resource of that type and name (abridged, never different);
- the ```text config-doc block: exactly the rows ``modelctl config-doc`` adds to the reference (this tree's,
  rendered in-process before the patches, so a stale docs/CONFIG.md does not matter here);
- ```text stack-info blocks: what ``modelctl stack-info`` prints (exit 2) for the bad value each names,
  set in the patched stack file of a project beside the copy (so the plan reads the good one meanwhile).

A command the guide shows that this file does not know how to run fails the test: nothing is shown unchecked.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from infra.contract.naming import PROJECT
from modelctl.config_doc import render_config_doc

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "EXTENDING.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
#: The error line of a bad value: the stack file, the full key path and the value, as the parser prints them.
ERROR_LINE = re.compile(rf"^(?P<file>[^\s:]+)(:\d+)?: {re.escape(PROJECT)}:(?P<path>\S+): '(?P<value>[^']*)'", re.M)
TIMEOUT = 300


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced blocks of ``text``: (info string, body)."""
    return [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer(text)]


def commands(guide: list[tuple[str, str]]) -> list[str]:
    """The commands of the ``sh`` blocks, one a line, in order, each once."""
    seen: list[str] = []
    for info, body in guide:
        if info == "sh":
            for line in body.splitlines():
                line = line.strip()
                if line and not line.startswith("#") and line not in seen:
                    seen.append(line)
    return seen


def is_part(shown: Any, actual: Any) -> bool:
    """Whether ``shown`` is ``actual`` with some mapping keys left out (abridged), and nothing else changed."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(k in actual and is_part(v, actual[k]) for k, v in shown.items())
    if isinstance(shown, list):
        return isinstance(actual, list) and len(shown) == len(actual) and all(map(is_part, shown, actual))
    return shown == actual


def copy_tree(dest: Path) -> None:
    """The working tree as a reader has it (tracked and untracked, not ignored), without touching git's state."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is not there
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def set_key(stack_file: Path, key_path: str, value: str) -> None:
    """Give the key ``key_path`` (as errors print it) ``value`` in a stack file, on its own line as a reader would,
    so that every other line (and so the line number errors print) stays where it is."""
    key = key_path.rsplit(".", 1)[-1]
    lines = stack_file.read_text().splitlines(keepends=True)
    found = [i for i, line in enumerate(lines) if re.match(rf"\s*{re.escape(key)}:", line)]
    assert len(found) == 1, f"{key}: the guide's patch sets it once in {stack_file.name}, not {len(found)} times"
    indent = lines[found[0]][: len(lines[found[0]]) - len(lines[found[0]].lstrip())]
    lines[found[0]] = f"{indent}{key}: {value}\n"
    stack_file.write_text("".join(lines))


@dataclass
class Command:
    """One command of the guide as ``python -m MODULE ARGS`` runs it in ``cwd``; ``out``: its ``> file``."""

    line: str
    cwd: str
    module: str
    args: list[str]
    out: Optional[str] = None

    @classmethod
    def parse(cls, line: str, cwd: Path) -> "Command":
        argv, out = shlex.split(line), None
        if ">" in argv:
            argv, out = argv[: argv.index(">")], argv[argv.index(">") + 1]
        if argv[:2] == ["python", "-m"]:
            argv = argv[2:]
        elif argv[0] != "modelctl":  # the console script runs what python -m modelctl runs
            raise AssertionError(f"docs/EXTENDING.md shows a command this test cannot run: {line}")
        return cls(line=line, cwd=str(cwd), module=argv[0], args=argv[1:], out=out)


def run_module(command: Command) -> dict[str, Any]:
    """``python -m MODULE ARGS`` in this interpreter: its exit code and what it printed (``out``: written there).

    Modules stay imported from one command to the next, as they would not in a shell; that is the point: the
    patched program is imported and its first plan paid for once, not once per command.
    """
    os.chdir(command.cwd)
    sys.argv = [command.module, *command.args]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            runpy.run_module(command.module, run_name="__main__", alter_sys=True)
            code: Any = 0
        except SystemExit as exc:
            code = exc.code
        except BaseException:  # noqa: BLE001 - reported as the interpreter would, exit 1
            traceback.print_exc()
            code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): the interpreter prints it and exits 1
        stderr.write(f"{code}\n")
        code = 1
    if command.out and code == 0:
        Path(command.cwd, command.out).write_text(stdout.getvalue())
    return {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def run_all(jobs: Path, results: Path) -> None:
    """The interpreter that runs the guide's commands in order: ``jobs`` (JSON Commands) in, ``results`` out."""
    sys.path[:] = [os.getcwd() if p == "" else p for p in sys.path]  # the copy, whatever cwd a command has
    done = [run_module(Command(**job)) for job in json.loads(jobs.read_text())]
    results.write_text(json.dumps(done))


def run_in_one_interpreter(runs: list[Command], cwd: Path, env: dict[str, str], tmp: Path) -> list[dict[str, Any]]:
    """Each command's {code, stdout, stderr}, run by ``run_all`` in a fresh interpreter that imports the copy."""
    jobs, results = tmp / "jobs.json", tmp / "results.json"
    jobs.write_text(json.dumps([asdict(run) for run in runs]))
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_extending_docs", str(jobs), str(results)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert done.returncode == 0 and results.exists(), f"the commands' interpreter failed:\n{done.stderr[-3000:]}"
    return json.loads(results.read_text())


def bad_projects(copy: Path, shown_errors: list[str], tmp: Path) -> list[tuple[Path, str]]:
    """A project beside the copy per stack-info block: the patched stack file with the bad value the block names."""
    stack = copy / "stacks" / "Pulumi.staging.yaml"
    projects = []
    for i, shown in enumerate(shown_errors):
        m = ERROR_LINE.search(shown)
        assert m and m["file"] == "stacks/Pulumi.staging.yaml", shown
        project = tmp / f"bad-{i}"
        (project / "stacks").mkdir(parents=True)
        shutil.copy2(copy / "Pulumi.yaml", project / "Pulumi.yaml")
        shutil.copy2(stack, project / "stacks" / stack.name)
        set_key(project / "stacks" / stack.name, m["path"], m["value"])
        key = m["path"].rsplit(".", 1)[-1]
        assert f"`{key}: {m['value']}`" in GUIDE.read_text(), f"the guide does not say where {m['value']!r} goes"
        projects.append((project, shown))
    return projects


def assert_printed_as_shown(run: Command, result: dict[str, Any], shown_error: Optional[str]) -> None:
    """A command did what the guide says: exit 0, or (``shown_error``) exit 2 printing each line shown."""
    stdout, stderr = result["stdout"], result["stderr"]
    if shown_error is None:
        assert result["code"] == 0, f"{run.line} failed in the patched copy:\n{stdout[-3000:]}\n{stderr[-3000:]}"
        return
    assert result["code"] == 2, stdout + stderr
    printed = (stdout + stderr).splitlines()
    for line in shown_error.strip().splitlines():
        assert line in printed, f"{run.line} does not print the guide's line:\n{line}\nit prints:\n{stderr}"


def test_the_extending_guide_patches_apply_and_its_commands_print_what_it_shows(tmp_path):
    guide = blocks(GUIDE.read_text())
    patches = [body for info, body in guide if info == "diff"]
    shown_plan = [json.loads(body) for info, body in guide if info == "json plan"]
    shown_rows = [body.splitlines() for info, body in guide if info == "text config-doc"]
    shown_errors = [body for info, body in guide if info == "text stack-info"]
    assert len(patches) == 2 and shown_plan and len(shown_rows) == 1 and shown_errors, "the guide lost a block"

    copy = tmp_path / "repo"
    copy.mkdir()
    copy_tree(copy)
    env = {k: v for k, v in os.environ.items() if k not in ("MODELCTL_PROJECT_DIR", "PYTHONPATH")}
    # PYTHONPATH puts the copy before the editable install; the ceiling keeps git from finding any repository.
    env.update(PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1", GIT_CEILING_DIRECTORIES=str(tmp_path))

    def git_apply(*args: str, patch: str) -> None:
        cmd = ["git", "apply", *args, "-"]
        done = subprocess.run(cmd, cwd=copy, env=env, input=patch, capture_output=True, text=True)
        assert done.returncode == 0, f"a patch of docs/EXTENDING.md no longer applies: refresh it\n{done.stderr}"

    for patch in patches:  # each applies to the tree as it is, on its own...
        git_apply("--check", patch=patch)
    for patch in patches:  # ...and after the ones before it (git apply changes nothing unless all of it applies)
        git_apply(patch=patch)

    projects = bad_projects(copy, shown_errors, tmp_path)
    base_doc = render_config_doc()  # the reference before the patches: this tree's
    runs: list[tuple[Command, Optional[str]]] = [
        run
        for line in commands(guide)
        for run in (
            [(Command.parse(line, project), shown) for project, shown in projects]
            if line.startswith("modelctl stack-info")
            else [(Command.parse(line, copy), None)]
        )
    ]
    results = run_in_one_interpreter([run for run, _ in runs], copy, env, tmp_path)

    plans = []
    for (run, shown_error), result in zip(runs, results, strict=True):
        assert_printed_as_shown(run, result, shown_error)
        if run.line.startswith("modelctl plan staging --json"):
            plans.append(result["stdout"])

    assert plans, "the guide shows no plan"
    resources = {(r["type"], r["name"]): r for r in json.loads(plans[0])["resources"]}
    for shown in shown_plan:
        actual = resources.get((shown["type"], shown["name"]))
        assert actual is not None, f"the plan has no {shown['type']} {shown['name']}"
        printed = json.dumps(actual, indent=2)
        assert is_part(shown, actual), f"the plan's {shown['name']} differs from the guide's:\n{printed}"

    after_doc = (copy / "docs" / "CONFIG.md").read_text()
    changed = difflib.ndiff(base_doc.splitlines(), after_doc.splitlines())
    added = [line[2:] for line in changed if line[:2] in ("+ ", "- ")]
    assert added == shown_rows[0], "modelctl config-doc changes other rows than the guide shows"


if __name__ == "__main__":  # the commands' interpreter: run_in_one_interpreter starts it in the copy
    run_all(Path(sys.argv[1]), Path(sys.argv[2]))
