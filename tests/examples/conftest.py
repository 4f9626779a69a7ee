"""Fixtures of the days-to-sell training package tests: real PySpark (local mode), S3 served by moto, the plan.

Spark reads and writes the work URI through Hadoop's S3A connector against the moto server (jars resolved
by Maven from tools/spark-jars/pom.xml into .cache/jars/s3a); boto3 reaches the same server through
AWS_ENDPOINT_URL. No MLeap jars are on this JVM: the MLeap 0.23 jars are not served here, and the
export/check tests assert what a cluster without them reports.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.examples.days_to_sell_support import (
    MODEL,
    REGION,
    S3A_JARS,
    SPARK_JARS_POM,
    S3Env,
    TaskResult,
    run_entry_point,
)

# --------------------------------------------------------------------------- the job, from `modelctl plan`


@pytest.fixture(scope="session")
def staging_plan() -> dict[str, Any]:
    """``modelctl plan staging --json``, run once per session (its plan shared with the other tests' plans)."""
    from modelctl import engine
    from modelctl.cli import main
    from tests.conftest import plan_file

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        patch.setattr(engine, "plan_stack_file", plan_file)
        code = main(["plan", "staging", "--json"])
    assert code == 0, f"modelctl plan staging --json failed ({code}): {err.getvalue()}"
    return json.loads(out.getvalue())


@pytest.fixture(scope="session")
def job_tasks(staging_plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The days-to-sell training job's tasks, as the plan declares them to Databricks."""
    jobs = [
        r
        for r in staging_plan["resources"]
        if r["type"] == "databricks:index/job:Job" and r["inputs"].get("tags", {}).get("model") == MODEL
    ]
    assert len(jobs) == 1, f"expected one {MODEL} training job in the staging plan, found {len(jobs)}"
    return jobs[0]["inputs"]["tasks"]


# --------------------------------------------------------------------------- S3 (moto) for a module


def _aws_env(endpoint: str, tmp: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
    }


_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "DATABRICKS_RUNTIME_VERSION")


@pytest.fixture(scope="module")
def s3_env(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Env]:
    """A fresh bucket on the session's moto server, and boto3's environment pointing at it, for one module."""
    import boto3

    with pytest.MonkeyPatch.context() as mp:
        for key, value in _aws_env(moto_endpoint, tmp_path_factory.mktemp("aws")).items():
            mp.setenv(key, value)
        for key in _UNSET:
            mp.delenv(key, raising=False)
        client = boto3.client("s3", region_name=REGION)
        bucket = f"days-to-sell-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield S3Env(moto_endpoint, bucket, client)


# --------------------------------------------------------------------------- Spark (local mode, S3A on moto)


def _s3a_jars() -> Path:
    """hadoop-aws and the AWS SDK bundle, resolved once by Maven into .cache/jars/s3a."""
    if not any(S3A_JARS.glob("hadoop-aws-*.jar")):
        command = ["mvn", "-q", "-B", "-f", str(SPARK_JARS_POM), "dependency:copy-dependencies", f"-DoutputDirectory={S3A_JARS}"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(f"Maven could not resolve the S3A jars of {SPARK_JARS_POM}:\n{result.stdout}\n{result.stderr}")
    return S3A_JARS


@pytest.fixture(scope="session")
def spark(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local[2] Spark session built by the package's own spark_session(), as a local run builds it.

    The JVM reads the AWS environment when it starts, so it is set only around the start.
    """
    from days_to_sell.spark_env import spark_session

    env = {
        **_aws_env(moto_endpoint, tmp_path_factory.mktemp("spark-aws")),
        "DAYS_TO_SELL_SPARK_JARS": str(_s3a_jars()),
        "DAYS_TO_SELL_SPARK_MASTER": "local[2]",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        for key in _UNSET:
            mp.delenv(key, raising=False)
        session = spark_session()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        # py4j logs "Closing down clientserver connection" (INFO) from __del__ at interpreter exit, when
        # pytest's captured streams are already closed: keep it quiet instead of a logging traceback.
        logging.getLogger("py4j").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- running tasks


@pytest.fixture
def run_task() -> Callable[[str, dict[str, str]], TaskResult]:
    """Run a task's entry point in-process with ``--name=value`` arguments: (exit code, stdout, stderr)."""
    return run_entry_point
