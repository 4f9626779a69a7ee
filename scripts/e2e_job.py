"""The pure half of ``scripts/e2e.py``: the training job read from a plan, and what a local run's results mean.

Nothing here starts a process or touches S3, so tests/examples/test_e2e_script.py checks all of it in
milliseconds: the job's tasks, parameters, order and MLeap library as ``modelctl plan --json`` declares
them (never restated), the Databricks dynamic value references filled as a run fills them, Maven's refusal,
each task's outcome, the verdict (passed, BLOCKED by MLeap's jars, failed), the table and the report.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

EXIT_OK, EXIT_FAILED, EXIT_BLOCKED = 0, 1, 3

#: The coordinates of MLeap's Spark integration among a task's Maven libraries.
MLEAP_SPARK = re.compile(r"^ml\.combust\.mleap:mleap-spark_(?P<scala>[0-9.]+):(?P<version>[^:]+)$")
#: What a task prints when MLeap's JVM classes are missing (days_to_sell.mleap_bundle.missing_mleap_message).
MLEAP_MISSING = re.compile(r"ml\.combust\.mleap\.[\w.$]+ is not on its classpath")
#: Databricks dynamic value references, e.g. ``{{job.run_id}}``.
REFERENCE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

#: What each task of the reference package leaves in S3 (examples/days-to-sell/README.md, "Tasks"): pairs of
#: (parameter naming a URI, path under it). A task not listed here must have written at least one object.
EXPECTED_OUTPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "prepare_data": (("work-uri", "data/"),),
    "validate_data": (("work-uri", "stats.json"),),
    "train": (("work-uri", "model/"), ("work-uri", "samples.json"), ("work-uri", "metrics.json")),
    "export_bundle": (("bundle-uri", ""), ("samples-uri", ""), ("metrics-uri", ""), ("stats-uri", "")),
    "check_bundle": (("digest-uri", ""),),
}


# --------------------------------------------------------------------------- the job, from the plan


@dataclass(frozen=True)
class JobTask:
    """One task of the training job as the plan declares it to Databricks (a ``python_wheel_task``)."""

    key: str
    package: str
    entry_point: str
    parameters: dict[str, str]
    depends_on: tuple[str, ...]
    maven: tuple[str, ...]


@dataclass(frozen=True)
class Job:
    """A model's training job and the bucket it writes to, as the stack declares them."""

    model: str
    tasks: tuple[JobTask, ...]
    bucket: str
    versioned: bool
    region: str
    #: (key, content, content type) of the objects the stack itself writes into the bucket (released.json).
    objects: tuple[tuple[str, str, str], ...]


def _task(task: Mapping[str, Any]) -> JobTask:
    wheel = task.get("pythonWheelTask")
    if not wheel:
        raise ValueError(f"task {task['taskKey']} is not a python_wheel_task: only wheel jobs run locally")
    return JobTask(
        key=task["taskKey"],
        package=wheel["packageName"],
        entry_point=wheel["entryPoint"],
        parameters=dict(wheel.get("namedParameters") or {}),
        depends_on=tuple(d["taskKey"] for d in task.get("dependsOns") or ()),
        maven=tuple(lib["maven"]["coordinates"] for lib in task.get("libraries") or () if lib.get("maven")),
    )


def training_job(plan: Mapping[str, Any], *, model: Optional[str] = None) -> Job:
    """The training job of ``model`` (default: the plan's only one) and its bucket; ValueError when ambiguous."""
    resources = plan["resources"]
    jobs = [r["inputs"] for r in resources if r["type"] == "databricks:index/job:Job"]
    if model is not None:
        jobs = [j for j in jobs if j.get("tags", {}).get("model") == model]
    if len(jobs) != 1:
        names = sorted(j.get("tags", {}).get("model", "?") for j in jobs)
        wanted = f" for {model}" if model else ""
        raise ValueError(f"expected one training job{wanted} in the plan, found {names or 'none'}: pass --model")
    job = jobs[0]
    bucket = plan["outputs"]["bucketName"]
    on_bucket = [r for r in resources if r["inputs"].get("bucket") == bucket]
    versioned = any(
        r["type"] == "aws:s3/bucketVersioning:BucketVersioning"
        and r["inputs"]["versioningConfiguration"]["status"] == "Enabled"
        for r in on_bucket
    )
    objects = tuple(
        (r["inputs"]["key"], r["inputs"]["content"], r["inputs"].get("contentType", "application/octet-stream"))
        for r in on_bucket
        if r["type"] == "aws:s3/bucketObjectv2:BucketObjectv2" and isinstance(r["inputs"].get("content"), str)
    )
    region = next(r["inputs"]["region"] for r in resources if r["type"] == "pulumi:providers:aws")
    tasks = tuple(_task(t) for t in job["tasks"])
    return Job(
        model=job["tags"]["model"], tasks=tasks, bucket=bucket, versioned=versioned, region=region, objects=objects
    )


def run_order(tasks: Sequence[JobTask]) -> list[JobTask]:
    """The tasks in an order Databricks may run them one at a time: each after all of its ``depends_on``.

    Among tasks ready together the declared order wins. ValueError for an unknown dependency or a cycle.
    """
    keys = {t.key for t in tasks}
    for t in tasks:
        unknown = [d for d in t.depends_on if d not in keys]
        if unknown:
            raise ValueError(f"task {t.key} depends on {', '.join(unknown)}, which the job does not declare")
    done: list[JobTask] = []
    pending = list(tasks)
    while pending:
        finished = {t.key for t in done}
        ready = next((t for t in pending if set(t.depends_on) <= finished), None)
        if ready is None:
            raise ValueError(f"the tasks {', '.join(t.key for t in pending)} depend on each other in a cycle")
        done.append(ready)
        pending.remove(ready)
    return done


def dynamic_values(*, start_time_ms: int, run_id: int, job_id: int) -> dict[str, str]:
    """What Databricks substitutes for the job references a task parameter may hold (times in UTC)."""
    started = datetime.datetime.fromtimestamp(start_time_ms / 1000, tz=datetime.timezone.utc)
    return {
        "job.run_id": str(run_id),
        "job.id": str(job_id),
        "job.start_time.iso_date": started.date().isoformat(),
        "job.start_time.iso_datetime": started.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "job.start_time.timestamp_ms": str(start_time_ms),
    }


def resolve_parameters(parameters: Mapping[str, str], *, values: Mapping[str, str]) -> dict[str, str]:
    """``parameters`` with every ``{{reference}}`` replaced; ValueError naming one it has no value for."""
    resolved = {}
    for name, text in parameters.items():
        unknown = [m.group(1) for m in REFERENCE.finditer(text) if m.group(1) not in values]
        if unknown:
            known = ", ".join(sorted(values))
            raise ValueError(f"--{name}={text}: no local value for {{{{{unknown[0]}}}}} (known: {known})")
        resolved[name] = REFERENCE.sub(lambda m: values[m.group(1)], text)
    return resolved


def mleap_coordinates(tasks: Sequence[JobTask]) -> Optional[str]:
    """The job's ``ml.combust.mleap:mleap-spark_<scala>:<version>`` library, if a task installs it."""
    found = {c for t in tasks for c in t.maven if MLEAP_SPARK.match(c)}
    if len(found) > 1:
        raise ValueError(f"the tasks install different MLeap libraries: {', '.join(sorted(found))}")
    return found.pop() if found else None


# --------------------------------------------------------------------------- Maven


@dataclass
class Resolution:
    """One Maven run of tools/spark-jars/pom.xml."""

    what: str
    command: list[str]
    exit_code: int
    seconds: float
    folder: str
    jars: list[str] = field(default_factory=list)
    #: Maven's own words when it failed: its ``[ERROR] Failed to execute goal`` and missing-POM lines, verbatim.
    refusal: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def maven_refusal(output: str) -> str:
    """The lines of Maven's output that say why it failed (``[ERROR] Failed to execute goal ...`` first)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in output.splitlines()]
    goal = [line for line in lines if line.startswith("[ERROR] Failed to execute goal")]
    missing = [line for line in lines if line.startswith("[WARNING] The POM for") and "is missing" in line]
    return "\n".join(goal + missing) or "\n".join(line for line in lines if line.startswith("[ERROR] ") and line[8:])


def refused_coordinates(resolution: Resolution, coordinates: str) -> bool:
    """Whether Maven ran and its repository lacks exactly these coordinates (not: no Maven, no network, a typo)."""
    group_artifact = coordinates.rsplit(":", 1)[0]
    not_served = "Could not find artifact" in resolution.refusal or "was not found in" in resolution.refusal
    return not resolution.ok and group_artifact in resolution.refusal and not_served


# --------------------------------------------------------------------------- a task's outcome


@dataclass
class TaskResult:
    """One task of the run: passed, failed, blocked (stopped by missing MLeap jars Maven refused) or skipped."""

    task: str
    entry_point: str
    depends_on: list[str]
    outcome: str = "skipped"
    exit_code: Optional[int] = None
    seconds: float = 0.0
    wrote: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    message: str = ""
    log: str = ""
    #: Where the task's package was imported from (the wheel's install, not the source tree).
    ran_from: str = ""
    #: The time the task measured itself (<work>/durations/<task>.json): without the JVM's start.
    task_seconds: Optional[float] = None


def classify(*, exit_code: int, stderr: str, missing: Sequence[str], mleap_refused: bool) -> tuple[str, str]:
    """(outcome, message) of a finished task process: the task's own one-line message when it stopped."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = next((line for line in reversed(lines) if line.startswith("days-to-sell ")), lines[-1] if lines else "")
    if exit_code == 0:
        if missing:
            return "failed", f"exited 0 but did not write {', '.join(missing)}"
        return "passed", ""
    if mleap_refused and MLEAP_MISSING.search(stderr):
        return "blocked", last
    return "failed", last or f"exit code {exit_code}"


def expected_outputs(task: str, parameters: Mapping[str, str]) -> list[str]:
    """URIs (a folder ends with '/') ``task`` must have written, from its own parameters."""
    return [
        parameters[name].rstrip("/") + "/" + path if path else parameters[name]
        for name, path in EXPECTED_OUTPUTS.get(task, ())
    ]


def missing_outputs(
    task: str, parameters: Mapping[str, str], *, bucket: str, keys: Sequence[str], wrote: Sequence[str]
) -> list[str]:
    """What ``task`` should have written but the bucket (its ``keys`` after the task) does not hold."""
    expected = expected_outputs(task, parameters)
    if not expected:
        return [] if wrote else ["any object"]
    prefix = f"s3://{bucket}/"
    return [
        uri for uri in expected if not (uri.startswith(prefix) and any(k.startswith(uri[len(prefix) :]) for k in keys))
    ]


def summarize_keys(keys: Sequence[str], *, base: str) -> list[str]:
    """Keys relative to ``base``; a folder of several objects as ``folder/ (n objects)``."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        rest = key[len(base) :] if base and key.startswith(base) else key
        head = rest.split("/", 1)[0] + "/" if "/" in rest.rstrip("/") else rest
        groups.setdefault(head, []).append(rest)
    return [f"{name} ({len(found)} objects)" if len(found) > 1 else found[0] for name, found in sorted(groups.items())]


# --------------------------------------------------------------------------- the verdict and the report


@dataclass(frozen=True)
class Verdict:
    outcome: str  # passed | blocked | failed
    exit_code: int
    line: str


def verdict(
    results: Sequence[TaskResult],
    *,
    mleap: Optional[Resolution],
    coordinates: Optional[str],
    allow_blocked: bool,
    release_ok: Optional[bool],
) -> Verdict:
    """passed: every task passed and the release worked. blocked: the only failures are tasks stopped by missing
    MLeap classes while Maven refused MLeap's coordinates, and every task before them passed. Else failed."""
    failed = [r for r in results if r.outcome == "failed"]
    blocked = [r for r in results if r.outcome == "blocked"]
    if failed:
        return Verdict("failed", EXIT_FAILED, f"FAILED: {failed[0].task}: {failed[0].message}")
    if not blocked:
        if any(r.outcome != "passed" for r in results):
            return Verdict("failed", EXIT_FAILED, "FAILED: a task did not run")
        if release_ok is not True:
            return Verdict(
                "failed", EXIT_FAILED, "FAILED: every task passed, but modelctl release did not release the version"
            )
        return Verdict(
            "passed", EXIT_OK, f"PASSED: {len(results)} tasks; the version is released into the stack file's copy"
        )
    first = results.index(blocked[0])
    before_ok = all(r.outcome == "passed" for r in results[:first])
    after_ok = all(r.outcome in ("blocked", "skipped") for r in results[first:])
    if not (mleap and coordinates and refused_coordinates(mleap, coordinates) and before_ok and after_ok):
        return Verdict("failed", EXIT_FAILED, f"FAILED: {blocked[0].task} stopped without MLeap: {blocked[0].message}")
    passed = ", ".join(r.task for r in results[:first])
    stopped = ", ".join(f"{r.task} ({r.outcome})" for r in results[first:])
    line = (
        f"BLOCKED: {coordinates} (the stack's databricks.mleapVersion) is not served by this machine's Maven "
        f"repository, so {stopped} could not run and nothing was released; {passed} passed with their outputs in "
        f"S3. Maven said: {mleap.refusal.splitlines()[0]}"
    )
    return Verdict("blocked", EXIT_OK if allow_blocked else EXIT_BLOCKED, line)


def table(results: Sequence[TaskResult]) -> str:
    """The per-task table printed at the end of a run."""
    rows = [("task", "seconds", "exit", "outcome", "wrote in S3 (relative to the run's work area)")]
    for r in results:
        ran = r.exit_code is not None
        rows.append(
            (
                r.task,
                f"{r.seconds:.1f}" if ran else "-",
                str(r.exit_code) if ran else "-",
                r.outcome,
                ", ".join(r.wrote) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows)


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    """``report.json``: indented, sorted keys, so two runs compare line by line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
