"""The package implements exactly the job the stack declares: its entry points, parameters and wheel.

Everything about the job is read from ``modelctl plan staging --json`` (the Databricks Job resource), never
restated here; the package side is read from its pyproject.toml and its parameter parser.
"""

from __future__ import annotations

import re
import tomllib
from importlib import import_module
from pathlib import PurePosixPath
from typing import Any

import pytest

from tests.examples.days_to_sell_support import PACKAGE, as_arguments, contract_parameters

#: What Databricks substitutes at run time for the dynamic value references the job may use.
RUN_TIME_VALUES = {"job.start_time.iso_date": "2026-12-02", "job.run_id": "884422123"}


def resolve_dynamic_references(value: str) -> str:
    """A parameter's value as a run sees it (``{{job.run_id}}`` -> 884422123)."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in RUN_TIME_VALUES, f"the job uses a dynamic value reference this test does not know: {{{{{name}}}}}"
        return RUN_TIME_VALUES[name]

    return re.sub(r"\{\{([^}]*)\}\}", substitute, value)


def pyproject() -> dict[str, Any]:
    return tomllib.loads((PACKAGE / "pyproject.toml").read_text())


def wheel_tasks(job_tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tasks = [t for t in job_tasks if "pythonWheelTask" in t]
    assert tasks, "the staging training job has no python_wheel_task"
    return tasks


def test_console_scripts_are_exactly_the_jobs_entry_points(job_tasks):
    from days_to_sell.tasks import ENTRY_POINTS

    declared = {t["pythonWheelTask"]["entryPoint"] for t in wheel_tasks(job_tasks)}
    scripts = pyproject()["project"]["scripts"]
    assert set(scripts) == declared
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert getattr(import_module(module), function) is ENTRY_POINTS[name]


def test_the_job_runs_this_package_from_the_wheel_this_project_builds(job_tasks):
    project = pyproject()["project"]
    wheel = f"{project['name'].replace('-', '_')}-{project['version']}-py3-none-any.whl"
    for task in wheel_tasks(job_tasks):
        assert task["pythonWheelTask"]["packageName"] == "days_to_sell"
        assert (PACKAGE / "src" / task["pythonWheelTask"]["packageName"] / "__init__.py").is_file()
        wheels = [PurePosixPath(lib["whl"]).name for lib in task["libraries"] if "whl" in lib]
        assert wheels == [wheel], f"{task['taskKey']} installs {wheels}, this package builds {wheel}"


def test_every_task_accepts_the_parameters_the_job_passes_it(job_tasks):
    from days_to_sell.parameters import parse_parameters

    for task in wheel_tasks(job_tasks):
        named = {k: resolve_dynamic_references(v) for k, v in task["pythonWheelTask"]["namedParameters"].items()}
        params = parse_parameters(as_arguments(named))
        assert params.model == named["model"]
        assert params.version == named["version"]


def test_the_package_requires_no_parameter_the_job_does_not_pass(job_tasks):
    from days_to_sell.parameters import PLATFORM_PARAMETERS

    for task in wheel_tasks(job_tasks):
        missing = set(PLATFORM_PARAMETERS) - set(task["pythonWheelTask"]["namedParameters"])
        assert not missing, f"{task['taskKey']} is not passed {sorted(missing)}"


def test_an_unknown_parameter_stops_the_task_and_names_it(run_task):
    result = run_task("prepare_data", {**contract_parameters("bucket-x", "1.4.0"), "colour": "red"})
    assert result.code == 2
    assert "unknown parameter --colour" in result.err
    assert "--data-source" in result.err  # the message lists what is accepted
    assert "Traceback" not in result.err


def test_a_missing_platform_parameter_stops_the_task():
    from days_to_sell.errors import ParameterError
    from days_to_sell.parameters import parse_parameters

    params = contract_parameters("bucket-x", "1.4.0")
    del params["released-uri"]
    with pytest.raises(ParameterError, match="missing platform parameter --released-uri"):
        parse_parameters(as_arguments(params))


@pytest.mark.parametrize(
    "version",
    ["{{job.run_id}}", "-1.4.0", "1.4.0-", "a/b", "x" * 64, "1.4.0+build", ""],
)
def test_a_value_that_is_not_a_model_version_is_refused_with_the_one_message(run_task, version):
    result = run_task("train", contract_parameters("bucket-x", version))
    assert result.code == 2
    if version:
        assert (
            f"{version} is not a model version: 1 to 63 letters, digits, '.', '_' or '-', starting and ending "
            "with a letter or digit (e.g. 1.4.0 or 2026-12-02-884422)"
        ) in result.err
    else:
        assert "missing platform parameter --version" in result.err


@pytest.mark.parametrize("version", ["1.4.0", "2026-12-02-884422123", "a", "A_b.c-9", "x" * 63])
def test_run_versions_and_release_versions_are_accepted(version):
    from days_to_sell.parameters import parse_parameters

    assert parse_parameters(as_arguments(contract_parameters("bucket-x", version))).version == version


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("--rows=lots", "--rows=lots: not a whole number"),
        ("--rows=0", "--rows=0: must be between 1 and"),
        ("--max-rmse=-1", "--max-rmse=-1: must be greater than 0"),
        ("--max-drift=nan", "--max-drift=nan: must be greater than 0"),
        ("--holdout-fraction=1", "--holdout-fraction=1: must be greater than 0"),
        ("--data-source=", "--data-source= is empty"),
        ("--seed", "parameters are passed as --name=value"),
        ("--bundle-uri=/tmp/bundle.zip", "--bundle-uri=/tmp/bundle.zip: must be an s3:// URI"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(argument, message):
    from days_to_sell.errors import ParameterError
    from days_to_sell.parameters import parse_parameters

    base = as_arguments(contract_parameters("bucket-x", "1.4.0"))
    name = argument[2:].partition("=")[0]
    arguments = [a for a in base if not a.startswith(f"--{name}=")] + [argument]
    with pytest.raises(ParameterError) as raised:
        parse_parameters(arguments)
    assert message in str(raised.value)


def test_user_parameters_have_documented_defaults():
    from days_to_sell.parameters import USER_PARAMETERS, parse_parameters

    params = parse_parameters(as_arguments(contract_parameters("bucket-x", "1.4.0")))
    assert (params.data_source, params.rows, params.seed, params.min_rows) == ("synthetic", 30000, 42, 1000)
    assert (params.max_rmse, params.max_drift) == (8.0, 0.2)
    readme = (PACKAGE / "README.md").read_text()
    for p in USER_PARAMETERS:
        assert f"`--{p.name}`" in readme and f"`{p.default}`" in readme, f"--{p.name} is not documented in the README"
