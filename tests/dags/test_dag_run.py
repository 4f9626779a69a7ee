"""The whole training DAG under real Airflow (``dag.test()``), everything it talks to standing in on localhost.

What the stack would write (the real program, under mocks that keep secret
values) is put where Airflow finds it: the connections and variables into
Secrets Manager (moto), read back by the real ``SecretsManagerBackend`` the
stack configures MWAA with; the DAG objects into a DAG folder. Databricks is a
stand-in of the Jobs API endpoints the operator calls; a run it starts
publishes the version with the training package's own publish code (the bundle
bytes are a stand-in: nothing here can build an MLeap bundle, see the training
package's README), at the keys the job's parameters name once resolved for
that run. GitHub is a stand-in of the REST endpoints the release step calls.
Each case is one ``dag.test()`` in a fresh interpreter (dag_test_runner.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

import tests.examples.days_to_sell_support  # noqa: F401  (puts the training package's source on sys.path)
from infra.documents.airflow import SECRETS_MANAGER_BACKEND, SecretPrefixes, configuration_options
from infra.config import StackConfig
from infra.contract.layout import run_version
from tests.conftest import STACKS, set_path, stack_doc
from tests.dags.declared import Declared, declare_stack, reveal, stack_file
from tests.dags.stand_ins import RUN_NOW, RUNS_GET, RUNS_GET_OUTPUT, Databricks, GitHub, JobRun, resolve_references

MODEL = "days-to-sell"
DAG_ID = "days-to-sell-training"
REPOSITORY = "acme/model-platform"
STACK_FILE = "stacks/Pulumi.staging.yaml"
DATABRICKS_TOKEN = "dapi" + "0123456789abcdef" * 2
GITHUB_TOKEN = "github_pat_11AAAAAAA0123456789_stand_in_token_abcdefghijklmnop"
#: The runs the stand-in starts: their start (2026-12-02 03:00:12 UTC) and first id.
START_TIME_MS = 1796180412000
FIRST_RUN_ID = 884422123
#: What the stand-in's run publishes as bundle.zip (not an MLeap bundle: none can be built here).
BUNDLE = b"stand-in for an MLeap bundle: the MLeap 0.23 jars are not served here\n"
METRICS = {"metric": "rmse", "value": 6.1, "threshold": 12.0, "passed": True}
JOB = "databricks:index/job:Job"
TASK_KEYS = ("prepare_data", "validate_data", "train", "export_bundle", "check_bundle")
RUNNER = Path(__file__).with_name("dag_test_runner.py")


def token_auth(doc: dict) -> dict:
    """Databricks personal-access-token auth, whose calls are the Jobs API's alone (OAuth adds a token endpoint)."""
    set_path(doc, "model-platform:databricks.auth", "token")
    del doc["config"]["model-platform:databricksClientSecret"]
    doc["config"]["model-platform:databricksToken"] = {"secure": "v1:AAAA"}
    return doc


@dataclass
class TrainingJob:
    """What the model's training job does in a run the stand-in starts: publish the run's version, or stop early."""

    #: The job's named parameters as the stack declares them (dynamic value references unresolved).
    parameters: dict[str, str]
    #: "succeeds", or "fails validation" (validate_data finds the data broken).
    scenario: str = "succeeds"

    def __call__(self, job_id: int, run_id: int, start_time_ms: int) -> JobRun:
        if self.scenario == "fails validation":
            states = dict.fromkeys(TASK_KEYS, "UPSTREAM_FAILED") | {"prepare_data": "SUCCESS", "validate_data": "FAILED"}
            error = "days-to-sell validate_data: 1 integrity check(s) failed; nothing is trained or published"
            return JobRun(run_id, job_id, start_time_ms, states, {"validate_data": error})
        from days_to_sell.parameters import parse_parameters
        from days_to_sell.publish import publish_once, sha256_hex
        from days_to_sell.storage import write_json
        from days_to_sell.tasks import publish_version
        from days_to_sell.work import WorkArea

        argv = [f"--{k}={resolve_references(v, start_time_ms=start_time_ms, run_id=run_id)}" for k, v in self.parameters.items()]
        parameters = parse_parameters(argv)
        work = WorkArea(parameters.work_uri)
        write_json(work.metrics, {"model": MODEL, "version": parameters.version, **METRICS})
        write_json(work.samples, {"rows": []})
        write_json(work.stats, {"features": {}})
        publish_version(parameters, work, BUNDLE)  # export_bundle
        publish_once(parameters.digest_uri, f"{sha256_hex(BUNDLE)}  bundle.zip\n".encode())  # check_bundle's seal
        return JobRun(run_id, job_id, start_time_ms, dict.fromkeys(TASK_KEYS, "SUCCESS"))


@dataclass
class World:
    """Everything one DAG run talks to, and what the stack wrote for it."""

    cfg: StackConfig
    declared: Declared
    dags_folder: Path
    airflow_home: Path
    env: dict[str, str]
    job: TrainingJob
    databricks: Databricks
    github: GitHub

    @property
    def job_id(self) -> str:
        ((name, _),) = self.declared.of_type(JOB).items()
        return self.declared.ids[(JOB, name)]

    def run_dag(self) -> dict[str, Any]:
        """``dag.test()`` of the model's DAG in a fresh interpreter; the runner's outcome."""
        done = subprocess.run(
            [sys.executable, "-I", str(RUNNER), str(self.dags_folder), DAG_ID],
            env=self.env,
            cwd=self.airflow_home,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
        assert outcome["importErrors"] == {}, outcome
        print(f"DagBag parse {outcome['parseSeconds']} s, dag.test() {outcome['testSeconds']} s")
        return outcome


def job_parameters(declared: Declared) -> dict[str, str]:
    (job,) = declared.of_type(JOB).values()
    return reveal(job)["tasks"][0]["pythonWheelTask"]["namedParameters"]


def aws_environment(moto_url: str, scratch: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-2",
        "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
    }


def store_secrets(world: World, client: Any) -> None:
    """Every secret the stack declares, as it declares it; the two services' hosts point at their stand-ins."""
    rewritten = {
        f"{world.cfg.airflow.connections_prefix}/databricks_default": {"host": "127.0.0.1", "port": world.databricks.port, "schema": "http"},
        f"{world.cfg.airflow.connections_prefix}/github_release": {"host": world.github.url},
    }
    for name, value in world.declared.secrets().items():
        if name in rewritten:
            value = json.dumps({**json.loads(value), **rewritten[name]})
        client.create_secret(Name=name, SecretString=value)


def deliver_dags(world: World) -> None:
    """The DAG objects the stack writes to MWAA's bucket, laid out as MWAA syncs them into its DAG folder."""
    dags = world.cfg.airflow.dags
    assert dags is not None and dags.bucket is not None
    for (bucket, key), content in world.declared.objects().items():
        if bucket == dags.bucket:
            path = world.dags_folder / key.removeprefix(f"{dags.folder}/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")


def airflow_environment(world: World, aws: dict[str, str]) -> dict[str, str]:
    """Airflow configured as MWAA is by the stack: its secrets backend, from the stack's configuration options."""
    airflow = world.cfg.airflow  # the stack's airflowConfigurationOptions output (tests/test_airflow.py)
    options = configuration_options(SecretPrefixes(connections=airflow.connections_prefix, variables=airflow.variables_prefix))
    assert options["secrets.backend"] == SECRETS_MANAGER_BACKEND
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(world.airflow_home),
        "AIRFLOW_HOME": str(world.airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(world.dags_folder),
        "AIRFLOW__SECRETS__BACKEND": options["secrets.backend"],
        "AIRFLOW__SECRETS__BACKEND_KWARGS": options["secrets.backend_kwargs"],
        "NO_PROXY": "127.0.0.1,localhost",
        **aws,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    import boto3
    from moto.server import ThreadedMotoServer

    scratch = tmp_path_factory.mktemp("dag-run")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    aws = aws_environment(f"http://{host}:{port}", scratch)
    saved = {key: os.environ.get(key) for key in aws}
    os.environ.update(aws)  # the stand-in job's publishing (the training package's code) reaches moto too
    servers: list[Any] = [moto]
    try:
        secrets = {"databricksToken": DATABRICKS_TOKEN, "githubReleaseToken": GITHUB_TOKEN}
        doc = token_auth(stack_doc("staging"))
        declared = declare_stack(doc, "staging", secrets)
        job = TrainingJob(job_parameters(declared))
        databricks = Databricks(job, first_run_id=FIRST_RUN_ID, start_time_ms=START_TIME_MS)
        github = GitHub(REPOSITORY, {})
        servers += [databricks, github]
        world = World(
            cfg=stack_file(doc, "staging", secrets).stack_config(),
            declared=declared,
            dags_folder=scratch / "dags",
            airflow_home=scratch / "airflow",
            env={},
            job=job,
            databricks=databricks,
            github=github,
        )
        store_secrets(world, boto3.client("secretsmanager"))
        boto3.client("s3").create_bucket(
            Bucket=world.cfg.bucket_name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
        deliver_dags(world)
        world.airflow_home.mkdir()
        world.env = airflow_environment(world, aws)
        yield world
    finally:
        for server in servers:
            server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def fresh(world: World) -> World:
    """No calls recorded yet; main holds the committed staging stack file."""
    world.databricks.reset()
    world.github.reset_repository({STACK_FILE: (STACKS / "Pulumi.staging.yaml").read_text()})
    return world


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(True), after.splitlines(True)
    assert len(old) == len(new), "lines were added or removed"
    return [(a, b) for a, b in zip(old, new) if a != b]


def test_a_run_that_passes_every_check_ends_in_a_pull_request_pinning_its_version(fresh: World):
    fresh.job.scenario = "succeeds"
    base = fresh.github.branches["main"][STACK_FILE]

    outcome = fresh.run_dag()

    assert outcome["state"] == "success", outcome
    assert outcome["tasks"] == dict.fromkeys(["train", "run_version", "verify_bundle", "open_pull_request"], "success")
    # Databricks: the stack's job, triggered once, with the stack's token; the run looked up, nothing else.
    calls = fresh.databricks.calls
    assert {(c.method, c.path) for c in calls} == {RUN_NOW, RUNS_GET}
    (run_now,) = [c for c in calls if (c.method, c.path) == RUN_NOW]
    assert str(run_now.body["job_id"]) == fresh.job_id
    assert {c.authorization for c in calls} == {f"Bearer {DATABRICKS_TOKEN}"}
    # GitHub: one commit of exactly the two pin lines, and the pull request saying what it releases.
    version = run_version(start_time_ms=START_TIME_MS, run_id=FIRST_RUN_ID)
    digest = hashlib.sha256(BUNDLE).hexdigest()
    ((branch, path, text),) = fresh.github.commits
    assert (branch, path) == (f"release/{MODEL}-{version}", STACK_FILE)
    assert changed_lines(base, text) == [
        ("      version: 1.4.0\n", f"      version: {version}\n"),
        (
            "      bundleSha256: 3b0c8a3a8f2e1f4d5c6b7a8990a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3\n",
            f"      bundleSha256: {digest}\n",
        ),
    ]
    (pull,) = fresh.github.pulls
    assert (pull.head, pull.base) == (branch, "main")
    assert pull.title == f"Release {MODEL} {version} to staging"
    for fact in (f"`{MODEL}`", f"`{version}`", f"`{digest}`", "rmse 6.1 (threshold 12.0)", f"s3://{fresh.cfg.bucket_name}/{MODEL}/{version}/bundle.zip"):
        assert fact in pull.body, fact
    assert {c.authorization for c in fresh.github.calls} == {f"Bearer {GITHUB_TOKEN}"}
    assert fresh.github.branches["main"][STACK_FILE] == base, "the base branch changes only when a human merges"


def test_a_run_whose_integrity_check_fails_fails_the_dag_and_opens_no_pull_request(fresh: World):
    fresh.job.scenario = "fails validation"

    outcome = fresh.run_dag()

    assert outcome["state"] == "failed", outcome
    assert outcome["tasks"] == {
        "train": "failed",
        "run_version": "upstream_failed",
        "verify_bundle": "upstream_failed",
        "open_pull_request": "upstream_failed",
    }
    assert {(c.method, c.path) for c in fresh.databricks.calls} == {RUN_NOW, RUNS_GET, RUNS_GET_OUTPUT}
    (asked,) = {c.query["run_id"] for c in fresh.databricks.calls if (c.method, c.path) == RUNS_GET_OUTPUT}
    (run,) = [r for r in fresh.databricks.runs.values() if r.result_state == "FAILED"]
    assert int(asked) == run.task_run_id(TASK_KEYS.index("validate_data")), "the operator reports the failed task's error"
    assert fresh.github.calls == [] and fresh.github.pulls == []
