"""The DAG finds a run's version as Databricks resolved it: ``layout.run_version`` against Databricks' own formatting."""

from __future__ import annotations

import datetime

import pytest

from infra.contract.layout import RUN_VERSION, run_keys, run_version
from infra.contract.model_version import is_model_version
from tests.dags.stand_ins import resolve_references as databricks_resolves


def ms(*args: int) -> int:
    return int(datetime.datetime(*args, tzinfo=datetime.timezone.utc).timestamp() * 1000)


RUNS = [
    pytest.param(ms(2026, 12, 2, 3, 0), 884422123, id="a-nightly-run"),
    pytest.param(ms(2026, 12, 2, 0, 0), 1, id="midnight-utc-starts-the-day"),
    pytest.param(ms(2026, 12, 2) - 1, 550315892394120, id="last-millisecond-of-the-day"),
    pytest.param(ms(2026, 3, 29, 0, 30), 7, id="a-london-dst-night-is-still-utc"),
    pytest.param(0, 0, id="the-epoch"),
    pytest.param(ms(2099, 12, 31, 23, 59, 59), 2**63 - 1, id="the-largest-run-id"),
]


@pytest.mark.parametrize("start_time_ms, run_id", RUNS)
def test_run_version_is_what_databricks_resolves_the_jobs_version_parameter_to(start_time_ms, run_id):
    version = run_version(start_time_ms=start_time_ms, run_id=run_id)
    assert version == databricks_resolves(RUN_VERSION, start_time_ms=start_time_ms, run_id=run_id)
    assert is_model_version(version)


def test_the_job_names_the_keys_of_the_version_the_dag_derives(real_plan):
    """The job's --version and --bundle-uri, resolved for a run, are the version and keys the DAG reads."""
    (job,) = real_plan("staging").by_type("databricks:index/job:Job")
    parameters = job.inputs["tasks"][0]["pythonWheelTask"]["namedParameters"]
    start, run = ms(2026, 12, 2, 3, 0, 12), 884422123
    version = run_version(start_time_ms=start, run_id=run)
    assert databricks_resolves(parameters["version"], start_time_ms=start, run_id=run) == version
    bucket = real_plan("staging").outputs["bucketName"]
    expected = run_keys("days-to-sell").uri(bucket).replace(RUN_VERSION, version)
    assert databricks_resolves(parameters["bundle-uri"], start_time_ms=start, run_id=run) == expected
    assert expected == f"s3://{bucket}/days-to-sell/2026-12-02-884422123/bundle.zip"


@pytest.mark.parametrize(
    "start_time_ms, run_id, message",
    [
        (-1, 1, "start_time -1 is not epoch milliseconds"),
        (1.5, 1, "start_time 1.5 is not epoch milliseconds"),
        (True, 1, "start_time True is not epoch milliseconds"),
        (0, -5, "run_id -5 is not a Databricks run id"),
        (0, "884422123", "run_id '884422123' is not a Databricks run id"),
        (10**18, 1, "is past the calendar's end"),
    ],
)
def test_anything_but_two_non_negative_integers_is_refused(start_time_ms, run_id, message):
    with pytest.raises(ValueError, match=message):
        run_version(start_time_ms=start_time_ms, run_id=run_id)
