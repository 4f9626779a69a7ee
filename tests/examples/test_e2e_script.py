"""scripts/e2e.py (``make e2e``): the job read from the plan, filled as a run fills it, run in order, judged honestly.

The fast tests check the pure half (scripts/e2e_job.py) against the real staging plan and against small
hand-made jobs, and the release step of the local loop against a moto S3 server (the one step a machine
without MLeap's jars never reaches in a full run). ``@pytest.mark.e2e`` runs the whole script: real PySpark,
Maven, the wheel, moto; minutes, not seconds.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

import pytest

from infra.contract.layout import bundle_keys, released_key, run_version
from tests.examples.days_to_sell_support import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import e2e  # noqa: E402
from e2e_job import (  # noqa: E402
    EXIT_BLOCKED,
    EXIT_FAILED,
    EXIT_OK,
    JobTask,
    Resolution,
    TaskResult,
    classify,
    dynamic_values,
    maven_refusal,
    missing_outputs,
    mleap_coordinates,
    refused_coordinates,
    resolve_parameters,
    run_order,
    summarize_keys,
    table,
    training_job,
    verdict,
    write_report,
)

COORDINATES = "ml.combust.mleap:mleap-spark_2.12:0.23.0"
#: What Maven 3.8 printed on this machine for `-Pmleap -Dmleap.version=0.23.0` (Maven Central lacks 0.23.0).
MAVEN_NOT_FOUND = """\
[INFO] Scanning for projects...
[WARNING] The POM for ml.combust.mleap:mleap-spark_2.12:jar:0.23.0 is missing, no dependency information available
[INFO] BUILD FAILURE
[ERROR] Failed to execute goal on project days-to-sell-spark-jars: Could not resolve dependencies for project \
io.github.model-platform:days-to-sell-spark-jars:pom:1: Could not find artifact ml.combust.mleap:mleap-spark_2.12:jar:\
0.23.0 in central (https://repo.maven.apache.org/maven2) -> [Help 1]
[ERROR] 
[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.
"""
MAVEN_OFFLINE = """\
[ERROR] Failed to execute goal on project days-to-sell-spark-jars: Could not resolve dependencies for project \
io.github.model-platform:days-to-sell-spark-jars:pom:1: Could not transfer artifact ml.combust.mleap:mleap-spark_2.12:\
pom:0.23.0 from/to central (https://repo.maven.apache.org/maven2): Connection refused -> [Help 1]
"""
MLEAP_STOP = (
    "26/12/02 08:15:40 WARN Utils: Your hostname resolves to a loopback address\n"
    "days-to-sell export_bundle: export_bundle needs MLeap on the Spark driver's JVM, but "
    "ml.combust.mleap.spark.SimpleSparkSerializer is not on its classpath. Install the Maven library ...\n"
)
START_MS = int(datetime.datetime(2026, 12, 2, 23, 59, 59, 999000, tzinfo=datetime.timezone.utc).timestamp() * 1000)


def maven(output: str, *, code: int = 1) -> Resolution:
    return Resolution("mleap", ["mvn"], code, 1.0, "/tmp/jars", refusal=maven_refusal(output) if code else "")


def result(task: str, outcome: str, code: int | None = None) -> TaskResult:
    return TaskResult(task, task, [], outcome=outcome, exit_code=code)


# --------------------------------------------------------------------------- the job, from the plan


def test_parameters_are_the_plans_with_the_run_filled_in(staging_plan):
    job = training_job(staging_plan)
    values = dynamic_values(start_time_ms=START_MS, run_id=884422123, job_id=7)
    for task in job.tasks:
        resolved = resolve_parameters(task.parameters, values=values)
        assert list(resolved) == list(task.parameters), "every declared parameter, no other, in the declared order"
        assert not any("{{" in v for v in resolved.values())
        assert resolved["version"] == run_version(start_time_ms=START_MS, run_id=884422123) == "2026-12-02-884422123"
        for name, declared in task.parameters.items():
            if "{{" not in declared:
                assert resolved[name] == declared
        keys = bundle_keys(job.model, resolved["version"])
        assert resolved["bundle-uri"] == keys.uri(job.bucket, keys.bundle)
        assert resolved["work-uri"] == keys.uri(job.bucket, keys.work)


def test_the_start_date_is_utc_as_databricks_formats_it():
    one_ms_later = dynamic_values(start_time_ms=START_MS + 1, run_id=1, job_id=1)
    assert dynamic_values(start_time_ms=START_MS, run_id=1, job_id=1)["job.start_time.iso_date"] == "2026-12-02"
    assert (
        one_ms_later["job.start_time.iso_date"]
        == "2026-12-03"
        == run_version(start_time_ms=START_MS + 1, run_id=1)[:10]
    )


def test_a_reference_without_a_local_value_is_refused_by_name():
    with pytest.raises(ValueError, match=r"--note=.*\{\{job.trigger.type\}\}"):
        resolve_parameters(
            {"note": "by {{ job.trigger.type }}"}, values=dynamic_values(start_time_ms=0, run_id=1, job_id=1)
        )


def test_the_job_its_bucket_and_what_the_stack_writes_there_come_from_the_plan(staging_plan):
    job = training_job(staging_plan)
    assert job.bucket == staging_plan["outputs"]["bucketName"]
    assert job.versioned, "the staging stack declares versioning on the bundle store"
    assert [key for key, _, _ in job.objects] == [released_key(job.model)]
    assert json.loads(job.objects[0][1])["model"] == job.model
    coordinates = mleap_coordinates(job.tasks)
    assert coordinates and all(coordinates in t.maven for t in job.tasks)


def test_a_plan_with_several_jobs_needs_the_model_named(staging_plan):
    (job,) = [r for r in staging_plan["resources"] if r["type"] == "databricks:index/job:Job"]
    other = json.loads(json.dumps(job))
    other["inputs"]["tags"]["model"] = "price-band"
    plan = {**staging_plan, "resources": [*staging_plan["resources"], other]}
    with pytest.raises(ValueError, match="--model"):
        training_job(plan)
    assert training_job(plan, model="price-band").model == "price-band"


def test_tasks_run_after_everything_they_depend_on(staging_plan):
    order = run_order(training_job(staging_plan).tasks)
    seen: set[str] = set()
    for task in order:
        assert set(task.depends_on) <= seen, f"{task.key} runs before {set(task.depends_on) - seen}"
        seen.add(task.key)
    assert len(order) == len(seen) == len(training_job(staging_plan).tasks)


def _task(key: str, *after: str) -> JobTask:
    return JobTask(key=key, package="p", entry_point=key, parameters={}, depends_on=after, maven=())


def test_order_is_by_dependency_not_by_declaration_and_cycles_are_refused():
    assert [t.key for t in run_order([_task("a", "b"), _task("b", "c"), _task("c"), _task("d")])] == [
        "c",
        "b",
        "a",
        "d",
    ]
    with pytest.raises(ValueError, match="cycle"):
        run_order([_task("a", "b"), _task("b", "a")])
    with pytest.raises(ValueError, match="depends on z"):
        run_order([_task("a", "z")])


# --------------------------------------------------------------------------- Maven, outcomes, verdict


def test_maven_refusal_is_kept_verbatim_and_only_a_missing_artifact_counts_as_refused():
    refused = maven(MAVEN_NOT_FOUND)
    first = refused.refusal.splitlines()[0]
    assert first.startswith("[ERROR] Failed to execute goal") and "Could not find artifact" in first
    assert first in MAVEN_NOT_FOUND.replace("\\\n", "")
    assert refused_coordinates(refused, COORDINATES)
    assert not refused_coordinates(refused, "org.apache.hadoop:hadoop-aws:3.3.4")
    assert not refused_coordinates(maven(MAVEN_OFFLINE), COORDINATES), "a network failure is not a refusal"
    assert not refused_coordinates(maven("", code=0), COORDINATES)


def test_a_task_is_blocked_only_by_missing_mleap_classes_that_maven_refused():
    assert classify(exit_code=1, stderr=MLEAP_STOP, missing=[], mleap_refused=True) == (
        "blocked",
        MLEAP_STOP.splitlines()[1],
    )
    assert classify(exit_code=1, stderr=MLEAP_STOP, missing=[], mleap_refused=False)[0] == "failed"
    assert classify(exit_code=1, stderr="days-to-sell train: hold-out RMSE ...", missing=[], mleap_refused=True) == (
        "failed",
        "days-to-sell train: hold-out RMSE ...",
    )
    assert classify(exit_code=0, stderr="", missing=["s3://b/x"], mleap_refused=True) == (
        "failed",
        "exited 0 but did not write s3://b/x",
    )


def test_missing_outputs_are_named_from_the_tasks_own_parameters():
    params = {"work-uri": "s3://b/_work/m/v/"}
    keys = ["_work/m/v/model/metadata/part-0", "_work/m/v/metrics.json"]
    assert missing_outputs("train", params, bucket="b", keys=keys, wrote=keys) == ["s3://b/_work/m/v/samples.json"]
    assert missing_outputs("your_own_task", params, bucket="b", keys=keys, wrote=[]) == ["any object"]
    assert missing_outputs("your_own_task", params, bucket="b", keys=keys, wrote=keys[:1]) == []


def test_blocked_only_when_everything_before_the_mleap_tasks_passed_and_maven_refused():
    ran = [result("prepare_data", "passed", 0), result("validate_data", "passed", 0), result("train", "passed", 0)]
    stopped = [result("export_bundle", "blocked", 1), result("check_bundle", "skipped")]
    kwargs: dict[str, Any] = dict(mleap=maven(MAVEN_NOT_FOUND), coordinates=COORDINATES, release_ok=None)

    allowed = verdict(ran + stopped, allow_blocked=True, **kwargs)
    assert (allowed.outcome, allowed.exit_code) == ("blocked", EXIT_OK)
    assert allowed.line.startswith(f"BLOCKED: {COORDINATES}")
    assert maven_refusal(MAVEN_NOT_FOUND).splitlines()[0] in allowed.line
    assert verdict(ran + stopped, allow_blocked=False, **kwargs).exit_code == EXIT_BLOCKED

    failed_train = [*ran[:2], result("train", "failed", 1), *stopped]
    assert verdict(failed_train, allow_blocked=True, **kwargs).exit_code == EXIT_FAILED
    served = {**kwargs, "mleap": maven("", code=0)}
    assert verdict(ran + stopped, allow_blocked=True, **served).exit_code == EXIT_FAILED
    later_passed = [*ran, result("export_bundle", "blocked", 1), result("extra", "passed", 0)]
    assert verdict(later_passed, allow_blocked=True, **kwargs).exit_code == EXIT_FAILED


def test_passed_needs_every_task_and_the_release():
    ran = [result("train", "passed", 0), result("check_bundle", "passed", 0)]
    common: dict[str, Any] = dict(mleap=maven("", code=0), coordinates=COORDINATES, allow_blocked=True)
    assert verdict(ran, release_ok=True, **common).exit_code == EXIT_OK
    assert verdict(ran, release_ok=False, **common).exit_code == EXIT_FAILED
    assert verdict([*ran, result("x", "skipped")], release_ok=True, **common).exit_code == EXIT_FAILED


def test_report_and_table(tmp_path: Path):
    rows = [result("train", "passed", 0), result("check_bundle", "skipped")]
    rows[0].seconds, rows[0].wrote = 12.34, summarize_keys(
        ["_work/m/v/model/a", "_work/m/v/model/b", "_work/m/v/metrics.json", "_work/m/v/durations/train.json"],
        base="_work/m/v/",
    )
    assert rows[0].wrote == ["durations/train.json", "metrics.json", "model/ (2 objects)"]
    lines = table(rows).splitlines()
    assert lines[1].split()[:4] == ["train", "12.3", "0", "passed"] and lines[1].endswith("model/ (2 objects)")
    assert lines[2].split() == ["check_bundle", "-", "-", "skipped", "-"]
    write_report(tmp_path / "r" / "report.json", {"tasks": [vars(r) for r in rows], "outcome": "blocked"})
    assert json.loads((tmp_path / "r" / "report.json").read_text())["tasks"][0]["wrote"] == rows[0].wrote


# --------------------------------------------------------------------------- the release step, against moto


def _moto_env(endpoint: str, tmp: Path, region: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **env,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": str(tmp / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
    }


def run_console_script_here(command: Sequence[str], *, env: Mapping[str, str], **_: Any) -> subprocess.CompletedProcess:
    """``subprocess.run`` of the venv's ``modelctl`` console script, run in this process under ``env`` alone.

    For a test of what ``e2e.release_into_copy`` asks modelctl and reports (the copy, the seal, the diff), not of
    starting a process: the command must name that script, whose installed entry point runs here with the
    command's argv and only the environment given, as the process would.
    """
    assert Path(command[0]) == e2e.BIN / "modelctl" and Path(command[0]).is_file(), command
    (entry_point,) = entry_points(group="console_scripts", name="modelctl")
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as scoped, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for key in set(os.environ) - set(env):
            scoped.delenv(key)
        for key, value in env.items():
            scoped.setenv(key, value)
        scoped.setattr(sys, "argv", list(command))
        try:
            entry_point.load()()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return subprocess.CompletedProcess(list(command), code, out.getvalue(), err.getvalue())


def test_release_pins_a_sealed_version_into_a_copy_of_the_stack_file(
    staging_plan, moto_endpoint, tmp_path, monkeypatch, planned_once
):
    """What make e2e does after check_bundle sealed a version: release --from-s3 against moto, never the real file.

    modelctl runs in this process (run_console_script_here), each stack content planned once per session.
    """
    import boto3

    monkeypatch.setattr(e2e, "subprocess", SimpleNamespace(run=run_console_script_here))

    job = training_job(staging_plan)
    client = boto3.client(
        "s3", region_name=job.region, endpoint_url=moto_endpoint, aws_access_key_id="t", aws_secret_access_key="t"
    )
    try:
        client.create_bucket(Bucket=job.bucket, CreateBucketConfiguration={"LocationConstraint": job.region})
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    keys = bundle_keys(job.model, "2026-12-02-4242")
    bundle = b"PK\x05\x06" + b"\x00" * 18
    digest = hashlib.sha256(bundle).hexdigest()
    for key, body in ((keys.bundle, bundle), (keys.samples, b"{}"), (keys.digest, f"{digest}  bundle.zip\n".encode())):
        client.put_object(Bucket=job.bucket, Key=key, Body=body)
    original = (ROOT / "stacks" / "Pulumi.staging.yaml").read_bytes()
    env = _moto_env(moto_endpoint, tmp_path, job.region)

    record = e2e.release_into_copy(model=job.model, version="2026-12-02-4242", stack="staging", out=tmp_path, env=env)

    assert record["exitCode"] == 0, record["output"]
    copy = (tmp_path / "stack" / "Pulumi.staging.yaml").read_text()
    assert "2026-12-02-4242" in copy and digest in copy
    assert (ROOT / "stacks" / "Pulumi.staging.yaml").read_bytes() == original
    assert re.search(r"modelVersions\.days-to-sell: '[^']+' => '2026-12-02-4242'", record["output"]), "no stack diff"
    unsealed = e2e.release_into_copy(model=job.model, version="2026-12-02-4343", stack="staging", out=tmp_path, env=env)
    assert unsealed["exitCode"] == 1 and "no digest file" in unsealed["output"]


# --------------------------------------------------------------------------- the whole path


@pytest.mark.e2e
def test_make_e2e_runs_the_job_from_the_wheel_and_is_honest_about_mleap(staging_plan, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "e2e.py"), "--allow-blocked", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    last = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    job = training_job(staging_plan)
    assert [t["task"] for t in report["tasks"]] == [t.key for t in run_order(job.tasks)]
    assert report["version"].endswith(f"-{report['runId']}") and report["metric"]["passed"] is True
    assert report["rows"]["total"] == int(job.tasks[0].parameters["rows"])
    for task in report["tasks"]:
        if task["outcome"] == "passed":
            assert task["wrote"] and not task["missing"] and task["ran_from"].startswith(str(tmp_path / "site"))
    assert {"samples.json", "metrics.json", "stats.json"} <= set(report["artifacts"])
    if report["outcome"] == "passed":  # a machine whose Maven serves MLeap at the stack's version
        assert report["release"]["exitCode"] == 0 and last.startswith("PASSED")
        assert report["artifacts"]["bundle.zip"]["sha256"] in (tmp_path / "artifacts" / "bundle.zip.sha256").read_text()
    else:
        coordinates = mleap_coordinates(job.tasks)
        assert report["outcome"] == "blocked" and last.startswith(f"BLOCKED: {coordinates}")
        assert report["maven"]["mleap"]["refusal"].splitlines()[0] in last
        before = [t for t in report["tasks"] if t["outcome"] not in ("blocked", "skipped")]
        assert before and all(t["outcome"] == "passed" for t in before) and report["release"] is None
