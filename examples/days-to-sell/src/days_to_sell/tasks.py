"""The five tasks of the training job, in run order: the package's console-script entry points.

Databricks runs each as a ``python_wheel_task`` (``package_name=days_to_sell``, ``entry_point=<task key>``),
calling the function with no arguments and the job's named parameters in ``sys.argv`` as ``--name=value``.
A task that must stop prints one clear message to stderr and exits non-zero (2: bad parameters, 1: a failed
step), so the run stops there and nothing after it is published.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from days_to_sell.errors import ParameterError, TaskError
from days_to_sell.features import COLUMNS, FEATURES, NUMERIC_FEATURES
from days_to_sell.integrity import (
    Problem,
    check_drift,
    check_nulls,
    check_ranges,
    check_rows,
    check_schema,
    feature_drift,
)
from days_to_sell.parameters import TaskParameters, parse_parameters
from days_to_sell.publish import Published, publish_all, publish_once, sha256_hex
from days_to_sell.samples import ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE, Samples, compare
from days_to_sell.spark_env import spark_path, spark_session
from days_to_sell.stats import DataStats, NumericStats
from days_to_sell.storage import delete, read_bytes, read_json, write_bytes, write_json
from days_to_sell.work import WorkArea

TASKS: tuple[str, ...] = ("prepare_data", "validate_data", "train", "export_bundle", "check_bundle")


@dataclass(frozen=True)
class Run:
    """One task run: its parameters, the run's work area, and when it started."""

    task: str
    params: TaskParameters
    started: float

    @property
    def work(self) -> WorkArea:
        return WorkArea(self.params.work_uri)

    def log(self, message: str) -> None:
        print(f"days-to-sell {self.task}: {message}", flush=True)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)


def _run(task: str, body: Callable[[Run], None], argv: Optional[Sequence[str]]) -> None:
    started = time.monotonic()
    try:
        run = Run(task, parse_parameters(list(sys.argv[1:] if argv is None else argv)), started)
        body(run)
        write_json(run.work.duration(task), {"task": task, "seconds": run.elapsed()})
        run.log(f"done in {run.elapsed():.1f} s")
    except ParameterError as error:
        print(f"days-to-sell {task}: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except TaskError as error:
        print(f"days-to-sell {task}: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


# --------------------------------------------------------------------------- prepare_data


def _schema_ddl() -> str:
    return ", ".join(f"`{c.name}` {'double' if c.kind == 'numeric' else 'string'}" for c in COLUMNS)


def _read_source(spark: Any, source: str) -> Any:
    """A table name (``catalog.schema.table``) or a path (``s3://...``, ``/dbfs/...``, ``file:...``)."""
    from pyspark.sql.utils import AnalysisException

    try:
        if "/" in source or ":" in source:
            return spark.read.load(spark_path(source))
        return spark.table(source)
    except AnalysisException as error:
        raise TaskError(f"cannot read --data-source={source}: {str(error).splitlines()[0]}") from None


def _prepare_data(run: Run) -> None:
    from days_to_sell.synthetic import generate

    p, spark = run.params, spark_session()
    if p.data_source == "synthetic":
        df = spark.createDataFrame(generate(rows=p.rows, seed=p.seed), schema=_schema_ddl())
        what = f"{p.rows} synthetic rows (seed {p.seed})"
    else:
        df, what = _read_source(spark, p.data_source), f"the data set {p.data_source}"
    df.write.mode("overwrite").parquet(run.work.data)
    run.log(f"wrote {what} to {run.work.data}")


def prepare_data(argv: Optional[Sequence[str]] = None) -> None:
    """Read --data-source (or generate the synthetic data set) and write it to the work URI."""
    _run("prepare_data", _prepare_data, argv)


# --------------------------------------------------------------------------- validate_data


def _report(problems: list[Problem]) -> str:
    lines = "\n".join(f"  - {p}" for p in problems)
    return f"{len(problems)} integrity check(s) failed; nothing is trained or published:\n{lines}"


def _released_stats(run: Run) -> Optional[tuple[str, DataStats]]:
    """(version, stats) of the served version, from released.json; None (logged) when there is none."""
    p = run.params
    released = read_json(p.released_uri)
    if released is None:
        run.log(f"no released version yet ({p.released_uri} does not exist): drift check skipped")
        return None
    try:
        version, stats_uri = str(released["version"]), str(released["files"]["stats"])
    except (KeyError, TypeError):
        raise TaskError(f"{p.released_uri}: expected {{\"version\": ..., \"files\": {{\"stats\": \"s3://...\"}}}}") from None
    stats_doc = read_json(stats_uri)
    if stats_doc is None:
        run.log(f"WARNING: released version {version} has no statistics at {stats_uri}: drift check skipped")
        return None
    return version, DataStats.from_json(stats_doc, source=stats_uri)


def _validate_data(run: Run) -> None:
    from days_to_sell.profiling import fractions_in, profile, schema_of

    p, spark = run.params, spark_session()
    df = _read_work_data(spark, run)
    problems = check_schema(schema_of(df))
    if problems:
        raise TaskError(_report(problems))
    df = df.cache()
    current = profile(df, model=p.model, version=p.version)
    problems = check_rows(current.rows, min_rows=p.min_rows) + check_nulls(current) + check_ranges(current)
    baseline = _released_stats(run)
    if baseline is not None:
        version, stats = baseline
        edges = {n: s.edges for n, s in stats.columns.items() if isinstance(s, NumericStats) and n in NUMERIC_FEATURES}
        drift = feature_drift(baseline=stats, current=current, current_in_baseline_bins=fractions_in(df, edges))
        run.log(f"drift (PSI) against released version {version}: " + ", ".join(f"{n} {v:.4f}" for n, v in drift.items()))
        problems += check_drift(drift, max_drift=p.max_drift, baseline_version=version)
    if problems:
        raise TaskError(_report(problems))
    write_json(run.work.stats, current.to_json())
    run.log(f"{current.rows} rows passed schema, nulls, ranges, min-rows and drift checks")


def _read_work_data(spark: Any, run: Run) -> Any:
    from pyspark.sql.utils import AnalysisException

    try:
        return spark.read.parquet(run.work.data)
    except AnalysisException:
        raise TaskError(f"no data set at {run.work.data}: run prepare_data first") from None


def validate_data(argv: Optional[Sequence[str]] = None) -> None:
    """Integrity checks on the prepared data: schema, nulls, ranges, minimum rows, drift against the served version."""
    _run("validate_data", _validate_data, argv)


# --------------------------------------------------------------------------- train


def _durations(run: Run, tasks: Sequence[str]) -> dict[str, float]:
    found = {}
    for task in tasks:
        doc = read_json(run.work.duration(task))
        if isinstance(doc, dict) and isinstance(doc.get("seconds"), (int, float)):
            found[task] = float(doc["seconds"])
    return found


def _train(run: Run) -> None:
    from days_to_sell.training import fit_and_evaluate, sample_rows, training_frame

    p, spark = run.params, spark_session()
    if read_bytes(run.work.stats) is None:
        raise TaskError(f"validate_data has not passed for this run (no {run.work.stats}): run the tasks in order")
    df = training_frame(_read_work_data(spark, run)).cache()
    trained = fit_and_evaluate(
        df, holdout_fraction=p.holdout_fraction, trees=p.trees, max_depth=p.max_depth, seed=p.seed
    )
    ev = trained.evaluation
    passed = ev.rmse <= p.max_rmse
    metrics = {
        "model": p.model,
        "version": p.version,
        "metric": "rmse",
        "value": ev.rmse,
        "threshold": p.max_rmse,
        "passed": passed,
        "holdout": {"rmse": ev.rmse, "mae": ev.mae, "r2": ev.r2},
        "rows": {"total": ev.train_rows + ev.holdout_rows, "train": ev.train_rows, "holdout": ev.holdout_rows},
        "estimator": {"name": "RandomForestRegressor", "trees": p.trees, "maxDepth": p.max_depth, "seed": p.seed},
        "label": "days_to_sell",
        "features": [c.name for c in FEATURES],
    }
    run.log(f"hold-out RMSE {ev.rmse:.3f} days (MAE {ev.mae:.3f}, R2 {ev.r2:.3f}) on {ev.holdout_rows} rows")
    if not passed:
        write_json(run.work.metrics, {**metrics, "durationsSeconds": _durations(run, TASKS[:2])})
        raise TaskError(
            f"hold-out RMSE {ev.rmse:.3f} days is worse than --max-rmse={p.max_rmse:g}: the model is refused "
            f"(not saved, nothing published; metrics in {run.work.metrics})"
        )
    samples = sample_rows(trained.holdout_predictions, count=p.sample_rows, model=p.model, version=p.version)
    write_json(run.work.samples, samples.to_json())
    delete(run.work.bundle)  # a bundle an earlier export serialised belongs to the model this one replaces
    trained.model.write().overwrite().save(run.work.model)
    # Written last: a metrics.json that passed means the model and samples beside it are complete.
    durations = {**_durations(run, TASKS[:2]), "train": run.elapsed()}
    write_json(run.work.metrics, {**metrics, "durationsSeconds": durations})


def train(argv: Optional[Sequence[str]] = None) -> None:
    """Fit the pipeline on a hold-out split; refuse a model worse than --max-rmse; save model, samples, metrics."""
    _run("train", _train, argv)


# --------------------------------------------------------------------------- export_bundle


def _bundle_bytes(spark: Any, run: Run, samples: Samples) -> bytes:
    """The bundle serialised once per run (kept in the work area), so a retried export publishes the same bytes."""
    from pyspark.ml import PipelineModel

    from days_to_sell.mleap_bundle import serialize_bundle

    staged = read_bytes(run.work.bundle)
    if staged is not None:
        run.log(f"re-using the bundle serialised by an earlier attempt ({run.work.bundle})")
        return staged
    model = PipelineModel.load(run.work.model)
    ddl = ", ".join(f"`{name}` {kind}" for name, kind in samples.fields)
    transformed = model.transform(spark.createDataFrame([list(r) for r in samples.rows], schema=ddl))
    with tempfile.TemporaryDirectory(prefix="days-to-sell-") as tmp:
        data = serialize_bundle(model, transformed, Path(tmp) / "bundle.zip")
    write_bytes(run.work.bundle, data)
    return data


def publish_version(params: TaskParameters, work: WorkArea, bundle: bytes) -> list[Published]:
    """Publish the run's samples, metrics and stats from the work area, then ``bundle``: each written once.

    The bundle goes last: once it is published, everything it is checked and released with is too.
    """
    metrics = read_json(work.metrics)
    if not isinstance(metrics, dict) or metrics.get("passed") is not True:
        raise TaskError(f"no model passed train for this run ({work.metrics}): nothing to publish")
    files = {uri: read_bytes(uri) for uri in (work.samples, work.metrics, work.stats)}
    missing = [uri for uri, data in files.items() if data is None]
    if missing:
        raise TaskError(f"the work area lacks {', '.join(missing)}: re-run validate_data and train")
    return publish_all(
        [
            (params.samples_uri, files[work.samples]),
            (params.metrics_uri, files[work.metrics]),
            (params.stats_uri, files[work.stats]),
            (params.bundle_uri, bundle),
        ]
    )


def _export_bundle(run: Run) -> None:
    from days_to_sell.mleap_bundle import SERIALIZER_CLASS, require_mleap

    spark = spark_session()
    coordinates = require_mleap(spark, task=run.task, class_name=SERIALIZER_CLASS)
    metrics = read_json(run.work.metrics)
    if not isinstance(metrics, dict) or metrics.get("passed") is not True:
        raise TaskError(f"no model passed train for this run ({run.work.metrics}): nothing to export")
    samples_doc = read_json(run.work.samples)
    if samples_doc is None:
        raise TaskError(f"no {run.work.samples}: re-run train")
    bundle = _bundle_bytes(spark, run, Samples.from_json(samples_doc, source=run.work.samples))
    run.log(f"bundle.zip: {len(bundle)} bytes, sha256 {sha256_hex(bundle)} (MLeap {coordinates})")
    for published in publish_version(run.params, run.work, bundle):
        run.log(f"{published.uri}: {published.outcome}")


def export_bundle(argv: Optional[Sequence[str]] = None) -> None:
    """Serialise the PipelineModel to an MLeap bundle; publish bundle.zip, samples, metrics and stats (write-once)."""
    _run("export_bundle", _export_bundle, argv)


# --------------------------------------------------------------------------- check_bundle


def _check_bundle(run: Run) -> None:
    from days_to_sell.mleap_bundle import RUNTIME_CLASS, replay, require_mleap

    p, spark = run.params, spark_session()
    require_mleap(spark, task=run.task, class_name=RUNTIME_CLASS)
    bundle = read_bytes(p.bundle_uri)
    if bundle is None:
        raise TaskError(f"no bundle at {p.bundle_uri}: export_bundle has not published this version")
    doc = read_json(p.samples_uri)
    if doc is None:
        raise TaskError(f"no samples at {p.samples_uri}: export_bundle has not published this version")
    samples = Samples.from_json(doc, source=p.samples_uri)
    with tempfile.TemporaryDirectory(prefix="days-to-sell-") as tmp:
        path = Path(tmp) / "bundle.zip"
        path.write_bytes(bundle)
        predictions = replay(spark, bundle=path, samples=samples)
    result = compare(samples.predictions, predictions)
    tolerance = f"{ABSOLUTE_TOLERANCE:g} + {RELATIVE_TOLERANCE:g} x |spark|"
    if not result.reproduced:
        first = "; ".join(f"row {i}: spark {e!r}, mleap {a!r}" for i, e, a in result.mismatches)
        raise TaskError(
            f"MLeap's runtime does not reproduce {p.samples_uri}: {result.mismatch_count} of {result.rows} predictions "
            f"differ by more than {tolerance} ({first}). bundle.zip.sha256 is not written: this version cannot be released."
        )
    digest = sha256_hex(bundle)
    published = publish_once(p.digest_uri, f"{digest}  bundle.zip\n".encode())
    run.log(
        f"MLeap reproduced {result.rows} samples (largest difference {result.max_abs_error:.3g}, tolerance {tolerance}); "
        f"{published.uri}: {published.outcome} ({digest})"
    )


def check_bundle(argv: Optional[Sequence[str]] = None) -> None:
    """Replay samples.json through MLeap's runtime; on success write bundle.zip.sha256, the version's seal."""
    _run("check_bundle", _check_bundle, argv)


ENTRY_POINTS: dict[str, Callable[[Optional[Sequence[str]]], None]] = {
    "prepare_data": prepare_data,
    "validate_data": validate_data,
    "train": train,
    "export_bundle": export_bundle,
    "check_bundle": check_bundle,
}
