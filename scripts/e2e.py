"""``make e2e``: the model's path run for real on this machine, from the plan's own job declaration.

    .venv/bin/python scripts/e2e.py [--stack staging] [--model NAME] [--out out/e2e] [--plan FILE] [--allow-blocked]

What Databricks and Airflow do for a stack, done locally with real components and no AWS account:

1. reads the training job from ``modelctl plan STACK --json`` (scripts/e2e_job.py): its tasks, their
   ``depends_on``, entry points, ``--name=value`` parameters, Maven library and bucket (nothing here restates
   them), and fills the Databricks references (``{{job.start_time.iso_date}}-{{job.run_id}}``) as a run does;
2. resolves the Spark jars with Maven from ``tools/spark-jars/pom.xml``: S3A always, then MLeap at the version
   of the job's Maven library, tried once (``-U``: asked again, not a cached failure), its refusal kept verbatim;
3. builds the training package's wheel (``pip wheel --no-deps``) and installs it, venv-less, into ``OUT/site``;
4. starts a moto S3 server on a free port and creates the stack's bucket, versioned as the stack declares, with
   the objects the stack writes into it (``<model>/released.json``);
5. runs each task in dependency order as its own process, as a ``python_wheel_task`` does (the entry point
   looked up in the wheel's metadata, nothing from the source tree); a task whose upstream did not pass is
   skipped, as Databricks does;
6. when every task passed: ``modelctl release MODEL VERSION --stack <copy of the stack file> --from-s3``
   against moto (AWS_ENDPOINT_URL): it prints the stack file's two-line change and what that does to the stack,
   the very diff ``modelctl diff STACK <copy>`` shows (run it to see it again);
7. prints a table per task, writes ``OUT/report.json``, the task logs (``OUT/logs``) and the version's files
   (``OUT/artifacts``: bundle.zip and its digest when published, samples, metrics, stats).

Exit codes: 0 every task passed and the version was released into the copy; 0 with ``--allow-blocked`` (3
without) when the only failures are tasks stopped because MLeap's classes are missing AND Maven refused MLeap's
coordinates, every task before them having passed with its outputs in S3 (the last line starts ``BLOCKED:``);
1 anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from e2e_job import (
    MLEAP_SPARK,
    Job,
    JobTask,
    Resolution,
    TaskResult,
    classify,
    dynamic_values,
    maven_refusal,
    mleap_coordinates,
    missing_outputs,
    refused_coordinates,
    resolve_parameters,
    run_order,
    summarize_keys,
    table,
    training_job,
    verdict,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]
POM = ROOT / "tools" / "spark-jars" / "pom.xml"
JARS = ROOT / ".cache" / "jars"
BIN = Path(sys.executable).parent

# Databricks' python_wheel_task: the entry point from the package's metadata, else ``package.entry_point()``.
WHEEL_TASK = """\
import importlib, sys
from importlib import metadata
package, entry_point = sys.argv[1], sys.argv[2]
sys.argv = [entry_point, *sys.argv[3:]]
dist = metadata.distribution(package)
print(f"python_wheel_task {package}.{entry_point} from {dist.locate_file('')}", flush=True)
found = [e for e in dist.entry_points if e.group == "console_scripts" and e.name == entry_point]
(found[0].load() if found else getattr(importlib.import_module(package), entry_point))()
"""


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _run(command: Sequence[str], *, what: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(command), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"e2e: {what} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


# --------------------------------------------------------------------------- jars, wheel, S3


def resolve_jars(*, what: str, folder: Path, profile_args: Sequence[str] = (), fresh: bool = False) -> Resolution:
    """``mvn dependency:copy-dependencies`` into ``folder``; ``fresh`` empties it first.

    The S3A folder is shared with tests/examples (a running test's Spark may have it on its classpath), so it
    is only added to; the MLeap folder is this script's own, emptied so that a refusal leaves no jars behind.
    """
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    command = [
        "mvn",
        "-B",
        "-U",
        "-f",
        str(POM),
        *profile_args,
        "dependency:copy-dependencies",
        f"-DoutputDirectory={folder}",
    ]
    started = time.monotonic()
    try:
        proc = subprocess.run(command, capture_output=True, text=True)
        code, output = proc.returncode, proc.stdout + proc.stderr
    except FileNotFoundError:
        code, output = 127, "[ERROR] mvn: command not found (install Maven 3.8+ and Java 17)"
    resolution = Resolution(what, command, code, round(time.monotonic() - started, 1), str(folder))
    if code == 0:
        resolution.jars = sorted(p.name for p in folder.glob("*.jar"))
    else:
        resolution.refusal = maven_refusal(output)
    return resolution


def resolve_all_jars(coordinates: Optional[str]) -> tuple[Resolution, Optional[Resolution], str]:
    """S3A's jars (required), then MLeap's at the job's library version, tried once: (s3a, mleap, jars for Spark)."""
    print("e2e: Maven: the S3A jars", flush=True)
    s3a = resolve_jars(what="s3a", folder=JARS / "s3a")
    if not s3a.ok:
        raise SystemExit(f"e2e: Maven could not resolve the S3A jars:\n{s3a.refusal}")
    if not coordinates:
        return s3a, None, s3a.folder
    mleap_version = MLEAP_SPARK.match(coordinates).group("version")  # type: ignore[union-attr]
    print(f"e2e: Maven: {coordinates}, the job's MLeap library (tried once)", flush=True)
    profile = ["-Pmleap", f"-Dmleap.version={mleap_version}"]
    mleap = resolve_jars(what="mleap", folder=JARS / f"mleap-{mleap_version}", profile_args=profile, fresh=True)
    if not mleap.ok:
        print(f"e2e: Maven refused it:\n{mleap.refusal}", flush=True)
        return s3a, mleap, s3a.folder
    return s3a, mleap, mleap.folder  # the profile adds MLeap to the S3A jars: this folder holds both


def build_wheel(*, package: Path, out: Path) -> Path:
    """``pip wheel --no-deps`` into OUT/dist, installed without a venv or dependencies into OUT/site."""
    for folder in ("dist", "site"):
        shutil.rmtree(out / folder, ignore_errors=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out / "dist"), str(package)], what="pip wheel")
    (wheel,) = (out / "dist").glob("*.whl")
    _run([*pip, "install", "--quiet", "--no-deps", "--target", str(out / "site"), str(wheel)], what="pip install")
    return wheel


def start_s3(job: Job) -> tuple[Any, str, Any]:
    """A moto S3 server on a free port with the job's bucket (versioned as declared) and the stack's objects."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # else one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        region_name=job.region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=job.bucket, CreateBucketConfiguration={"LocationConstraint": job.region})
    if job.versioned:
        client.put_bucket_versioning(Bucket=job.bucket, VersioningConfiguration={"Status": "Enabled"})
    for key, content, content_type in job.objects:
        client.put_object(Bucket=job.bucket, Key=key, Body=content.encode(), ContentType=content_type)
    return server, endpoint, client


def task_environment(*, endpoint: str, region: str, site: Path, jars: str, out: Path) -> dict[str, str]:
    """A task's environment: the wheel's install first on the path, moto's endpoint, dummy credentials, jars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABRICKS_", "PYSPARK_", "SPARK_"))}
    env.update(
        PYTHONPATH=str(site),
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=region,
        AWS_CONFIG_FILE=str(out / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(out / "no-aws-credentials"),
        DAYS_TO_SELL_SPARK_JARS=jars,
        DAYS_TO_SELL_SPARK_MASTER=os.environ.get("DAYS_TO_SELL_SPARK_MASTER", "local[2]"),
    )
    return env


# --------------------------------------------------------------------------- the tasks


def _etags(client: Any, bucket: str) -> dict[str, str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def _work_key(parameters: Mapping[str, str], bucket: str) -> str:
    work = parameters.get("work-uri", "")
    return work[len(f"s3://{bucket}/") :] if work.startswith(f"s3://{bucket}/") else ""


def _own_seconds(client: Any, bucket: str, key: str) -> Optional[float]:
    try:
        doc = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (client.exceptions.NoSuchKey, ValueError):
        return None
    return doc.get("seconds") if isinstance(doc, dict) else None


def run_task(
    task: JobTask,
    parameters: Mapping[str, str],
    *,
    job: Job,
    client: Any,
    env: Mapping[str, str],
    logs: Path,
    mleap_refused: bool,
) -> TaskResult:
    """One task as its own process; what it wrote is what changed in the bucket meanwhile."""
    result = TaskResult(task.key, task.entry_point, list(task.depends_on))
    before = _etags(client, job.bucket)
    arguments = [f"--{name}={value}" for name, value in parameters.items()]
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", WHEEL_TASK, task.package, task.entry_point, *arguments],
        env=dict(env),
        capture_output=True,
        text=True,
    )
    result.seconds, result.exit_code = round(time.monotonic() - started, 1), proc.returncode
    log = logs / f"{task.key}.log"
    log.write_text(
        f"$ python_wheel_task {task.package} {task.entry_point} {' '.join(arguments)}\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    after = _etags(client, job.bucket)
    wrote = sorted(k for k, tag in after.items() if before.get(k) != tag)
    work = _work_key(parameters, job.bucket)
    result.log, result.wrote = _relative(log), summarize_keys(wrote, base=work)
    result.ran_from = next(
        (line.split(" from ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("python_wheel_task ")), ""
    )
    result.task_seconds = _own_seconds(client, job.bucket, f"{work}durations/{task.key}.json")
    if proc.returncode == 0:
        result.missing = missing_outputs(task.key, parameters, bucket=job.bucket, keys=list(after), wrote=wrote)
    result.outcome, result.message = classify(
        exit_code=proc.returncode, stderr=proc.stderr, missing=result.missing, mleap_refused=mleap_refused
    )
    return result


def run_tasks(
    job: Job, *, values: Mapping[str, str], client: Any, env: Mapping[str, str], logs: Path, mleap_refused: bool
) -> list[TaskResult]:
    """Every task in dependency order; one whose upstream did not pass is skipped, as Databricks skips it."""
    results: dict[str, TaskResult] = {}
    for task in run_order(job.tasks):
        upstream = [d for d in task.depends_on if results[d].outcome != "passed"]
        if upstream:
            result = TaskResult(task.key, task.entry_point, list(task.depends_on))
            result.message = f"upstream {upstream[0]} {results[upstream[0]].outcome}"
        else:
            print(f"  {task.key}: running {task.package}.{task.entry_point} ...", flush=True)
            parameters = resolve_parameters(task.parameters, values=values)
            result = run_task(task, parameters, job=job, client=client, env=env, logs=logs, mleap_refused=mleap_refused)
        results[task.key] = result
        took = f" in {result.seconds:.1f} s" if result.exit_code is not None else ""
        print(f"  {task.key}: {result.outcome}{took}{': ' + result.message if result.message else ''}", flush=True)
    return list(results.values())


def save_artifacts(client: Any, *, bucket: str, parameters: Mapping[str, str], folder: Path) -> dict[str, Any]:
    """The version's published files (else the work area's copy) into ``folder``, with their sizes and digests."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    saved: dict[str, Any] = {}
    work = parameters.get("work-uri", "").rstrip("/")
    for name in ("bundle-uri", "digest-uri", "samples-uri", "metrics-uri", "stats-uri"):
        file = parameters[name].rsplit("/", 1)[1]
        for uri in (parameters[name], f"{work}/{file}"):
            try:
                data = client.get_object(Bucket=bucket, Key=uri[len(f"s3://{bucket}/") :])["Body"].read()
            except client.exceptions.NoSuchKey:
                continue
            (folder / file).write_bytes(data)
            saved[file] = {"from": uri, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            break
    return saved


# --------------------------------------------------------------------------- release (the local loop)


def release_into_copy(*, model: str, version: str, stack: str, out: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """``modelctl release MODEL VERSION --stack <copy> --from-s3`` against ``env``'s S3, on a copy of the stack file.

    The release reads the version's seal (bundle.zip.sha256) and checks the bundle's bytes against it, then
    prints the file change and the resulting stack diff; the real stack file is never touched.
    """
    from modelctl.stacks import resolve_stack

    original = resolve_stack(stack).path
    copy = out / "stack" / original.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(original, copy)
    command = [str(BIN / "modelctl"), "release", model, version, "--stack", str(copy), "--from-s3"]
    proc = subprocess.run(command, env=dict(env), capture_output=True, text=True)
    print(
        f"$ modelctl release {model} {version} --stack {_relative(copy)} --from-s3\n{proc.stdout}{proc.stderr}",
        flush=True,
    )
    record: dict[str, Any] = {
        "stackCopy": _relative(copy),
        "exitCode": proc.returncode,
        "output": (proc.stdout + proc.stderr).strip(),
    }
    return record


# --------------------------------------------------------------------------- main


def _arguments(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="make e2e: the stack's training job run locally (PySpark, moto S3, Maven jars), then released into "
        "a copy of the stack file"
    )
    parser.add_argument("--stack", default="staging", help="stack whose training job runs (default staging)")
    parser.add_argument("--model", help="model whose job runs (default: the plan's only training job)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "e2e", help="output folder (default out/e2e)")
    parser.add_argument(
        "--package", type=Path, default=ROOT / "examples" / "days-to-sell", help="training package source"
    )
    parser.add_argument("--plan", type=Path, help="a saved `modelctl plan STACK --json` to use instead of running it")
    parser.add_argument("--run-id", type=int, help="the Databricks run id to simulate (default: from the clock)")
    parser.add_argument(
        "--allow-blocked", action="store_true", help="exit 0 when only MLeap's unresolvable jars stop the run"
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _arguments(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if args.plan:
        plan = json.loads(args.plan.read_text())
    else:
        print(f"e2e: modelctl plan {args.stack} --json", flush=True)
        plan = json.loads(_run([str(BIN / "modelctl"), "plan", args.stack, "--json"], what="modelctl plan").stdout)
    steps = {"plan": round(time.monotonic() - started, 1)}  # 0 with --plan
    job = training_job(plan, model=args.model)
    order = run_order(job.tasks)
    coordinates = mleap_coordinates(job.tasks)
    start_ms = int(time.time() * 1000)
    run_id = args.run_id if args.run_id is not None else start_ms % 1_000_000_000
    values = dynamic_values(start_time_ms=start_ms, run_id=run_id, job_id=1)
    first = resolve_parameters(order[0].parameters, values=values)
    version = first.get("version", "")
    from infra.contract.layout import run_version

    if version != run_version(start_time_ms=start_ms, run_id=run_id):
        raise SystemExit(
            f"e2e: the job's --version resolves to {version!r}, not the run's version (infra.contract.layout.run_version)"
        )
    print(
        f"e2e: {job.model}: {' -> '.join(t.key for t in order)}; run {run_id}: version {version} in {job.bucket}",
        flush=True,
    )

    s3a, mleap, jars = resolve_all_jars(coordinates)
    mleap_refused = bool(mleap and coordinates and refused_coordinates(mleap, coordinates))

    print(f"e2e: the wheel of {_relative(args.package.resolve())}", flush=True)
    wheel_started = time.monotonic()
    wheel = build_wheel(package=args.package, out=out)
    steps["wheel"] = round(time.monotonic() - wheel_started, 1)
    server, endpoint, client = start_s3(job)
    release = None
    try:
        env = task_environment(endpoint=endpoint, region=job.region, site=out / "site", jars=jars, out=out)
        logs = out / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
        print(f"e2e: the job's tasks, against moto at {endpoint}", flush=True)
        results = run_tasks(job, values=values, client=client, env=env, logs=logs, mleap_refused=mleap_refused)
        artifacts = save_artifacts(client, bucket=job.bucket, parameters=first, folder=out / "artifacts")
        if all(r.outcome == "passed" for r in results):
            release_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
            release = release_into_copy(model=job.model, version=version, stack=args.stack, out=out, env=release_env)
    finally:
        server.stop()
    decision = verdict(
        results,
        mleap=mleap,
        coordinates=coordinates,
        allow_blocked=args.allow_blocked,
        release_ok=None if release is None else release["exitCode"] == 0,
    )
    metrics_file = out / "artifacts" / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    report = {
        "stack": args.stack,
        "model": job.model,
        "runId": run_id,
        "version": version,
        "bucket": job.bucket,
        "wheel": _relative(wheel),
        "maven": {"s3a": asdict(s3a), "mleap": asdict(mleap) if mleap else None, "mleapCoordinates": coordinates},
        "tasks": [asdict(r) for r in results],
        "rows": metrics.get("rows"),
        "metric": {k: metrics.get(k) for k in ("metric", "value", "threshold", "passed")} if metrics else None,
        "artifacts": artifacts,
        "release": release,
        "outcome": decision.outcome,
        "verdict": decision.line,
        "seconds": round(time.monotonic() - started, 1),
        "stepSeconds": {**steps, "maven": round(s3a.seconds + (mleap.seconds if mleap else 0), 1)},
    }
    write_report(out / "report.json", report)
    print("\n" + table(results))
    where = (
        f"{_relative(out / 'report.json')}, logs in {_relative(out / 'logs')}, files in {_relative(out / 'artifacts')}"
    )
    print(f"\n{where}; {report['seconds']} s in all")
    print(decision.line)
    return decision.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
