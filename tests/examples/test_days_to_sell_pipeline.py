"""The job's tasks end to end on real Spark (local mode): the work URI on moto's S3 through S3A, published
objects through boto3 on the same server.

Data sets are small (a few thousand rows, a small forest) so the module stays fast; the default-size run is
measured by examples/days-to-sell/benchmarks/time_tasks.py.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from tests.examples.days_to_sell_support import MODEL, S3Env, TaskResult, contract_parameters, run_entry_point

# PySpark 3.4's own imports and its pandas conversion warn about deprecated APIs (not this package's usage).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pyspark.*")

FIRST, SECOND = "2026-12-01-1001", "2026-12-02-1002"
SMALL = {"rows": "3000", "min-rows": "500", "trees": "10", "max-depth": "5", "sample-rows": "50", "max-rmse": "12"}


def parameters(s3_env: S3Env, version: str, **user: str) -> dict[str, str]:
    return {**contract_parameters(s3_env.bucket, version), **SMALL, **user}


def run_tasks(tasks: list[str], params: dict[str, str]) -> dict[str, TaskResult]:
    results = {}
    for task in tasks:
        results[task] = run_entry_point(task, params)
        assert results[task].code == 0, f"{task} failed:\n{results[task].err}"
    return results


def work_keys(s3_env: S3Env, version: str) -> list[str]:
    return s3_env.keys(f"_work/{MODEL}/{version}/")


def published_keys(s3_env: S3Env, version: str) -> list[str]:
    return s3_env.keys(f"{MODEL}/{version}/")


def work_json(s3_env: S3Env, version: str, name: str) -> Any:
    return json.loads(s3_env.get(f"_work/{MODEL}/{version}/{name}"))


@pytest.fixture(scope="module")
def first_run(spark, s3_env) -> dict[str, TaskResult]:
    """prepare_data, validate_data and train of a first version (no released version yet)."""
    return run_tasks(["prepare_data", "validate_data", "train"], parameters(s3_env, FIRST, seed="1"))


def write_source(spark: Any, path: str, corrupt: Callable[[Any], Any], *, rows: int = 3000, seed: int = 5) -> str:
    """A Parquet data source: the synthetic data set, changed by ``corrupt`` (a pandas frame -> frame)."""
    from days_to_sell.synthetic import generate
    from days_to_sell.tasks import _schema_ddl

    frame = corrupt(generate(rows=rows, seed=seed))
    spark.createDataFrame(frame, schema=_schema_ddl()).write.mode("overwrite").parquet(path)
    return path


# --------------------------------------------------------------------------- one run


def test_prepare_validate_and_train_write_the_run_to_its_work_uri_and_publish_nothing(first_run, s3_env):
    keys = work_keys(s3_env, FIRST)
    prefix = f"_work/{MODEL}/{FIRST}/"
    assert any(k.startswith(prefix + "data/") and k.endswith(".parquet") for k in keys)
    assert any(k.startswith(prefix + "model/stages/") for k in keys)
    assert {prefix + n for n in ("stats.json", "metrics.json", "samples.json")} <= set(keys)
    assert published_keys(s3_env, FIRST) == []
    assert "no released version yet" in first_run["validate_data"].out and "drift check skipped" in first_run["validate_data"].out


def test_metrics_hold_the_holdout_rmse_threshold_rows_and_durations(first_run, s3_env):
    metrics = work_json(s3_env, FIRST, "metrics.json")
    assert (metrics["model"], metrics["version"], metrics["metric"]) == (MODEL, FIRST, "rmse")
    assert metrics["passed"] is True and 0 < metrics["value"] <= metrics["threshold"] == 12.0
    assert metrics["rows"]["total"] == 3000 == metrics["rows"]["train"] + metrics["rows"]["holdout"]
    assert 400 < metrics["rows"]["holdout"] < 800  # --holdout-fraction=0.2
    assert set(metrics["durationsSeconds"]) == {"prepare_data", "validate_data", "train"}
    print(f"\nsmall run: hold-out RMSE {metrics['value']:.2f} days, durations {metrics['durationsSeconds']}")


def test_stats_describe_every_column_of_the_validated_data(first_run, s3_env):
    from days_to_sell.features import COLUMNS
    from days_to_sell.stats import DataStats

    stats = DataStats.from_json(work_json(s3_env, FIRST, "stats.json"), source="stats.json")
    assert (stats.rows, stats.version) == (3000, FIRST)
    assert set(stats.columns) == {c.name for c in COLUMNS}
    mileage = stats.columns["mileage"]
    assert len(mileage.fractions) == len(mileage.edges) + 1 and sum(mileage.fractions) == pytest.approx(1.0)
    assert sum(stats.columns["season"].frequencies.values()) == pytest.approx(1.0)


def test_samples_are_holdout_rows_in_the_pipelines_input_schema_with_sparks_predictions(first_run, s3_env, spark):
    from pyspark.ml import PipelineModel

    from days_to_sell.features import FEATURE_NAMES
    from days_to_sell.samples import Samples

    samples = Samples.from_json(work_json(s3_env, FIRST, "samples.json"), source="samples.json")
    assert [name for name, _ in samples.fields] == list(FEATURE_NAMES)
    assert dict(samples.fields) == {
        "make": "string", "model": "string", "age_years": "double", "mileage": "double",
        "price_to_market": "double", "region": "string", "season": "string",
    }  # fmt: skip
    assert len(samples.rows) == len(samples.predictions) == 50
    # The fitted model in the work area, run by Spark on the very rows of samples.json, gives the same predictions.
    model = PipelineModel.load(f"s3a://{s3_env.bucket}/_work/{MODEL}/{FIRST}/model")
    ddl = ", ".join(f"`{n}` {t}" for n, t in samples.fields)
    frame = spark.createDataFrame([list(r) for r in samples.rows], schema=ddl)
    assert [row.prediction for row in model.transform(frame).select("prediction").collect()] == list(samples.predictions)


def test_a_model_worse_than_the_threshold_is_refused_and_not_saved(spark, s3_env):
    version = "2026-12-01-worse"
    params = parameters(s3_env, version, rows="1500", **{"max-rmse": "0.5"})
    run_tasks(["prepare_data", "validate_data"], params)
    result = run_entry_point("train", params)
    assert result.code == 1
    assert "days-to-sell train: hold-out RMSE" in result.err and "is worse than --max-rmse=0.5: the model is refused" in result.err
    assert "Traceback" not in result.err
    metrics = work_json(s3_env, version, "metrics.json")
    assert metrics["passed"] is False and metrics["value"] > metrics["threshold"] == 0.5
    assert not any("/model/" in k or k.endswith("samples.json") for k in work_keys(s3_env, version))
    assert published_keys(s3_env, version) == []


# --------------------------------------------------------------------------- integrity checks


def with_nulls(frame):
    frame.loc[frame.index[::50], "mileage"] = float("nan")
    frame.loc[frame.index[7::100], "region"] = None
    return frame


def out_of_range(frame):
    frame.loc[frame.index[::300], "price_to_market"] = 5.0
    frame.loc[frame.index[3], "season"] = "monsoon"
    return frame


@pytest.mark.parametrize(
    ("name", "corrupt", "rows", "expected"),
    [
        ("nulls", with_nulls, 3000, ["nulls mileage: 60 of 3000 rows are null or NaN", "nulls region: 30 of 3000 rows are null or blank"]),
        ("range", out_of_range, 3000, ["range price_to_market: values from", "outside the valid range [0.3, 3]", "range season: unexpected values 'monsoon'"]),
        ("rows", lambda frame: frame, 400, ["min-rows: 400 rows, fewer than --min-rows=500"]),
    ],
)
def test_a_failed_integrity_check_stops_validate_data_and_nothing_after_it_runs(spark, s3_env, tmp_path, name, corrupt, rows, expected):
    version = f"2026-12-01-bad-{name}"
    params = parameters(s3_env, version, **{"data-source": write_source(spark, str(tmp_path / "source"), corrupt, rows=rows)})
    run_tasks(["prepare_data"], params)
    result = run_entry_point("validate_data", params)
    assert result.code == 1
    assert "integrity check(s) failed; nothing is trained or published" in result.err
    for text in expected:
        assert text in result.err
    assert "Traceback" not in result.err
    assert not any(k.endswith("stats.json") for k in work_keys(s3_env, version))
    refused = run_entry_point("train", params)
    assert refused.code == 1 and "validate_data has not passed for this run" in refused.err
    assert published_keys(s3_env, version) == []


def test_a_missing_column_is_a_schema_failure(spark, s3_env, tmp_path):
    from days_to_sell.synthetic import generate

    path = str(tmp_path / "source")
    spark.createDataFrame(generate(rows=600, seed=2).drop(columns=["season"])).write.parquet(path)
    params = parameters(s3_env, "2026-12-01-bad-schema", **{"data-source": path})
    run_tasks(["prepare_data"], params)
    result = run_entry_point("validate_data", params)
    assert result.code == 1 and "schema season: missing column" in result.err


# --------------------------------------------------------------------------- versions: publish, release, drift


STAND_IN_BUNDLE = b"stand-in bytes for bundle.zip: these tests check the publishing rules, not MLeap"


@pytest.fixture(scope="module")
def first_published(first_run, s3_env) -> dict[str, bytes]:
    """The first version published (export's publishing step) and released (released.json, as the stack writes it)."""
    from days_to_sell.parameters import parse_parameters
    from days_to_sell.tasks import publish_version
    from days_to_sell.work import WorkArea
    from tests.examples.days_to_sell_support import as_arguments

    params = parse_parameters(as_arguments(parameters(s3_env, FIRST)))
    outcomes = publish_version(params, WorkArea(params.work_uri), STAND_IN_BUNDLE)
    assert [o.outcome for o in outcomes] == ["written"] * 4
    released = {
        "model": MODEL,
        "version": FIRST,
        "bundleSha256": outcomes[-1].sha256,
        "files": {
            "bundle": params.bundle_uri,
            "digest": params.digest_uri,
            "samples": params.samples_uri,
            "metrics": params.metrics_uri,
            "stats": params.stats_uri,
        },
    }
    s3_env.put(f"{MODEL}/released.json", json.dumps(released).encode())
    return {key: s3_env.get(key) for key in published_keys(s3_env, FIRST)}


def test_a_published_version_holds_the_runs_files(first_published, s3_env):
    assert sorted(k.rsplit("/", 1)[1] for k in first_published) == ["bundle.zip", "metrics.json", "samples.json", "stats.json"]
    for name in ("samples.json", "metrics.json", "stats.json"):
        assert first_published[f"{MODEL}/{FIRST}/{name}"] == s3_env.get(f"_work/{MODEL}/{FIRST}/{name}")


def test_a_retried_publish_is_fine_and_other_bytes_are_refused(first_published, s3_env):
    from days_to_sell.errors import TaskError
    from days_to_sell.parameters import parse_parameters
    from days_to_sell.tasks import publish_version
    from days_to_sell.work import WorkArea
    from tests.examples.days_to_sell_support import as_arguments

    params = parse_parameters(as_arguments(parameters(s3_env, FIRST)))
    retried = publish_version(params, WorkArea(params.work_uri), STAND_IN_BUNDLE)
    assert [o.outcome for o in retried] == ["unchanged"] * 4
    with pytest.raises(TaskError, match=r"bundle.zip is already published with different content .* Start a new run"):
        publish_version(params, WorkArea(params.work_uri), STAND_IN_BUNDLE + b"!")
    assert {k: s3_env.get(k) for k in published_keys(s3_env, FIRST)} == first_published


def test_a_second_run_writes_a_second_version_and_leaves_the_first_unchanged(first_published, s3_env):
    from days_to_sell.parameters import parse_parameters
    from days_to_sell.tasks import publish_version
    from days_to_sell.work import WorkArea
    from tests.examples.days_to_sell_support import as_arguments

    results = run_tasks(["prepare_data", "validate_data", "train"], parameters(s3_env, SECOND, seed="2"))
    # Same distribution, another seed: the drift check ran against the released first version, and passed.
    assert f"drift (PSI) against released version {FIRST}: make " in results["validate_data"].out
    params = parse_parameters(as_arguments(parameters(s3_env, SECOND)))
    assert [o.outcome for o in publish_version(params, WorkArea(params.work_uri), b"second stand-in bundle")] == ["written"] * 4
    assert {k: s3_env.get(k) for k in published_keys(s3_env, FIRST)} == first_published
    assert len(published_keys(s3_env, SECOND)) == 4
    assert json.loads(s3_env.get(f"{MODEL}/{SECOND}/metrics.json"))["version"] == SECOND


def test_a_drifted_feature_stops_validate_data(first_published, spark, s3_env, tmp_path):
    version = "2026-12-03-drifted"

    def dearer(frame):
        frame["price_to_market"] = frame["price_to_market"] * 1.12  # every advert 12 % dearer: still in range
        return frame

    params = parameters(s3_env, version, **{"data-source": write_source(spark, str(tmp_path / "source"), dearer)})
    run_tasks(["prepare_data"], params)
    result = run_entry_point("validate_data", params)
    assert result.code == 1
    assert "drift price_to_market: PSI" in result.err and f"against released version {FIRST} exceeds --max-drift=0.2" in result.err
    assert "drift mileage" not in result.err  # only the drifted feature is named
    assert published_keys(s3_env, version) == []


# --------------------------------------------------------------------------- MLeap missing on the JVM


def test_the_class_probe_tells_a_class_on_the_jvm_from_a_missing_one(spark):
    from days_to_sell.mleap_bundle import jvm_has_class, scala_binary_version

    jvm = spark.sparkContext._jvm
    assert jvm_has_class(jvm, "org.apache.spark.ml.PipelineModel")
    assert not jvm_has_class(jvm, "org.apache.spark.ml.NoSuchModel")
    assert scala_binary_version(jvm) == "2.12"


@pytest.mark.parametrize("task", ["export_bundle", "check_bundle"])
def test_without_mleap_jars_export_and_check_stop_at_once_naming_the_maven_coordinates(first_run, s3_env, job_tasks, task):
    """What a cluster without the MLeap library shows: the coordinates the job is meant to install, no py4j traceback."""
    (declared,) = [t for t in job_tasks if t["taskKey"] == task]
    (coordinates,) = [lib["maven"]["coordinates"] for lib in declared["libraries"] if "maven" in lib]
    before = s3_env.keys()
    result = run_entry_point(task, parameters(s3_env, FIRST))
    assert result.code == 1
    assert f"Install the Maven library {coordinates} on the job cluster" in result.err
    assert "is not on its classpath" in result.err
    assert "Traceback" not in result.err and "Py4J" not in result.err
    assert s3_env.keys() == before  # nothing written, published or sealed
