"""Pure logic of the days-to-sell package, without Spark: data generator, checks, PSI, tolerance, local config."""

from __future__ import annotations

import math

import pytest

import tests.examples.days_to_sell_support  # noqa: F401  (puts the package's source on sys.path)
from days_to_sell.features import COLUMNS, FEATURE_NAMES, LABEL, SEASONS
from days_to_sell.integrity import check_drift, check_nulls, check_ranges, check_rows, check_schema, feature_drift
from days_to_sell.mleap_bundle import maven_coordinates, missing_mleap_message
from days_to_sell.samples import compare
from days_to_sell.spark_env import local_spark_conf, spark_path
from days_to_sell.stats import CategoricalStats, DataStats, NumericStats, bin_index, categorical_psi, psi
from days_to_sell.synthetic import generate

# --------------------------------------------------------------------------- synthetic data


def test_the_synthetic_data_set_is_the_same_for_the_same_seed_and_differs_for_another():
    first = generate(rows=2000, seed=7)
    assert first.equals(generate(rows=2000, seed=7))
    assert not first.equals(generate(rows=2000, seed=8))


def test_the_synthetic_data_set_passes_its_own_contract():
    frame = generate(rows=5000, seed=1)
    assert list(frame.columns) == [*FEATURE_NAMES, LABEL.name]
    assert not frame.isna().any().any()
    for col in COLUMNS:
        if col.kind == "numeric":
            assert col.minimum <= frame[col.name].min() and frame[col.name].max() <= col.maximum, col.name
    assert set(frame["season"]) == set(SEASONS)


def test_price_over_market_slows_the_sale_in_the_synthetic_data():
    frame = generate(rows=20000, seed=3)
    cheap = frame[frame.price_to_market < 0.95].days_to_sell.median()
    dear = frame[frame.price_to_market > 1.10].days_to_sell.median()
    assert dear > cheap * 1.2


# --------------------------------------------------------------------------- checks


def numeric(lo: float, hi: float, nulls: int = 0, fractions: tuple[float, ...] = (0.5, 0.5)) -> NumericStats:
    return NumericStats(nulls=nulls, min=lo, max=hi, mean=(lo + hi) / 2, stddev=1.0, edges=(1.0,), fractions=fractions)


def categorical(frequencies: dict[str, float], nulls: int = 0) -> CategoricalStats:
    return CategoricalStats(nulls=nulls, distinct=len(frequencies), frequencies=frequencies)


def good_stats(**overrides) -> DataStats:
    columns = {
        "make": categorical({"Ford": 1.0}),
        "model": categorical({"Focus": 1.0}),
        "age_years": numeric(0, 10),
        "mileage": numeric(0, 90000),
        "price_to_market": numeric(0.8, 1.2),
        "region": categorical({"Wales": 1.0}),
        "season": categorical({"winter": 0.5, "summer": 0.5}),
        "days_to_sell": numeric(3, 90),
    }
    return DataStats("days-to-sell", "v1", 5000, {**columns, **overrides})


GOOD_SCHEMA = {c.name: ("double" if c.kind == "numeric" else "string") for c in COLUMNS}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (GOOD_SCHEMA, []),
        ({**GOOD_SCHEMA, "age_years": "int", "mileage": "bigint", "extra": "boolean"}, []),
        ({**GOOD_SCHEMA, "price_to_market": "decimal(5,3)"}, []),
        ({k: v for k, v in GOOD_SCHEMA.items() if k != "region"}, ["schema region: missing column"]),
        ({**GOOD_SCHEMA, "mileage": "string"}, ["schema mileage: is string, expected a number"]),
        ({**GOOD_SCHEMA, "season": "int"}, ["schema season: is int, expected a string"]),
        ({**GOOD_SCHEMA, "days_to_sell": "timestamp"}, ["schema days_to_sell: is timestamp, expected a number"]),
    ],
)
def test_schema_check(schema, expected):
    problems = [str(p) for p in check_schema(schema)]
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected):
        assert problem.startswith(start)


@pytest.mark.parametrize(("rows", "minimum", "failed"), [(999, 1000, True), (1000, 1000, False), (5, 1, False)])
def test_min_rows_check(rows, minimum, failed):
    problems = check_rows(rows, min_rows=minimum)
    assert bool(problems) is failed
    if failed:
        assert str(problems[0]) == f"min-rows: {rows} rows, fewer than --min-rows={minimum}"


def test_null_check_names_each_column_with_nulls():
    stats = good_stats(mileage=numeric(0, 9, nulls=3), region=categorical({"Wales": 1.0}, nulls=2))
    assert [str(p) for p in check_nulls(stats)] == [
        "nulls mileage: 3 of 5000 rows are null or NaN (none allowed)",
        "nulls region: 2 of 5000 rows are null or blank (none allowed)",
    ]
    assert check_nulls(good_stats()) == []


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({}, []),
        ({"price_to_market": numeric(0.3, 3.0)}, []),  # bounds are inclusive
        ({"price_to_market": numeric(0.8, 5.0)}, ["range price_to_market: values from 0.8 to 5, outside the valid range [0.3, 3]"]),
        ({"age_years": numeric(-1, 5)}, ["range age_years: values from -1 to 5, outside the valid range [0, 40]"]),
        ({"days_to_sell": numeric(0, 1000)}, ["range days_to_sell: values from 0 to 1000, outside the valid range [0, 730]"]),
        ({"season": categorical({"winter": 0.5, "monsoon": 0.5})}, ["range season: unexpected values 'monsoon'; allowed: winter, spring, summer, autumn"]),
    ],
)
def test_range_check(override, expected):
    assert [str(p) for p in check_ranges(good_stats(**override))] == expected


# --------------------------------------------------------------------------- drift (PSI)


@pytest.mark.parametrize(
    ("expected", "actual", "value"),
    [
        ([0.5, 0.5], [0.5, 0.5], 0.0),
        ([0.5, 0.5], [0.6, 0.4], 0.1 * math.log(0.6 / 0.5) - 0.1 * math.log(0.4 / 0.5)),
        ([1.0, 0.0], [0.0, 1.0], 2 * (1 - 1e-4) * math.log(1 / 1e-4)),  # empty bins count as the floor
    ],
)
def test_psi(expected, actual, value):
    assert psi(expected, actual) == pytest.approx(value)


def test_categorical_psi_counts_a_category_new_on_one_side():
    assert categorical_psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0
    assert categorical_psi({"a": 1.0}, {"a": 0.5, "c": 0.5}) > 1.0


@pytest.mark.parametrize(("value", "edges", "index"), [(0.5, (1.0, 2.0), 0), (1.0, (1.0, 2.0), 0), (1.5, (1.0, 2.0), 1), (9, (1.0, 2.0), 2)])
def test_bins_are_closed_on_the_right(value, edges, index):
    assert bin_index(value, edges) == index


def test_drift_check_flags_only_features_beyond_the_threshold():
    baseline = good_stats()
    current = good_stats(season=categorical({"winter": 0.95, "summer": 0.05}))
    drift = feature_drift(
        baseline=baseline,
        current=current,
        current_in_baseline_bins={"age_years": (0.5, 0.5), "mileage": (0.52, 0.48), "price_to_market": (0.1, 0.9)},
    )
    assert drift["age_years"] == 0.0 and drift["mileage"] < 0.01
    assert "days_to_sell" not in drift  # the label is not a feature
    problems = [str(p) for p in check_drift(drift, max_drift=0.2, baseline_version="1.4.0")]
    assert [p.split(":")[0] for p in problems] == ["drift price_to_market", "drift season"]
    assert "against released version 1.4.0 exceeds --max-drift=0.2" in problems[0]


# --------------------------------------------------------------------------- MLeap tolerance and messages


@pytest.mark.parametrize(
    ("expected", "actual", "reproduced"),
    [
        ([10.0, 20.0], [10.0, 20.0], True),
        ([10.0], [10.0 + 9e-7], True),
        ([1e6], [1e6 + 1e-6 + 5e-4], True),  # the relative part: 1e-9 x 1e6 = 1e-3
        ([10.0], [10.00001], False),
        ([10.0], [float("nan")], False),
        ([10.0, 20.0], [10.0], False),  # a missing prediction
        ([10.0], [10.0, 11.0], False),  # an extra one
    ],
)
def test_tolerance(expected, actual, reproduced):
    assert compare(expected, actual).reproduced is reproduced


def test_comparison_reports_the_largest_difference_and_the_first_mismatches():
    result = compare([1.0, 2.0, 3.0], [1.0, 2.5, 3.0000001])
    assert result.max_abs_error == pytest.approx(0.5)
    assert result.mismatch_count == 1 and result.mismatches == ((1, 2.0, 2.5),)


def test_missing_mleap_message_names_the_maven_coordinates_to_install():
    coordinates = maven_coordinates(scala="2.12", mleap_version="0.23.0")
    assert coordinates == "ml.combust.mleap:mleap-spark_2.12:0.23.0"
    message = missing_mleap_message(task="check_bundle", class_name="a.B", coordinates=coordinates)
    assert "a.B is not on its classpath" in message and "Install the Maven library ml.combust.mleap:mleap-spark_2.12:0.23.0" in message


# --------------------------------------------------------------------------- local vs Databricks


def test_s3_paths_use_s3a_locally_and_s3_on_databricks():
    assert spark_path("s3://b/_work/m/v/data", env={}) == "s3a://b/_work/m/v/data"
    assert spark_path("s3://b/_work/m/v/data", env={"DATABRICKS_RUNTIME_VERSION": "13.3"}) == "s3://b/_work/m/v/data"
    assert spark_path("/tmp/data", env={}) == "/tmp/data"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"spark.master": "local[2]"}),
        (
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_REGION": "eu-west-2"},
            {
                "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:5000",
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
                "spark.hadoop.fs.s3a.endpoint.region": "eu-west-2",
            },
        ),
        ({"AWS_ENDPOINT_URL_S3": "https://s3.example", "AWS_ENDPOINT_URL": "http://x"}, {"spark.hadoop.fs.s3a.endpoint": "https://s3.example", "spark.hadoop.fs.s3a.connection.ssl.enabled": "true"}),
        ({"DAYS_TO_SELL_SPARK_MASTER": "local[1]"}, {"spark.master": "local[1]"}),
    ],
)
def test_local_spark_conf_comes_from_the_environment(env, expected):
    conf = local_spark_conf(env)
    assert expected.items() <= conf.items()
    assert not any("secret" in k.lower() or "access.key" in k.lower() for k in conf), "credentials stay in the environment"


def test_local_jars_are_files_or_folders_of_jars(tmp_path):
    (tmp_path / "a.jar").write_bytes(b"")
    (tmp_path / "b.jar").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    single = tmp_path / "one" / "c.jar"
    single.parent.mkdir()
    single.write_bytes(b"")
    conf = local_spark_conf({"DAYS_TO_SELL_SPARK_JARS": f"{tmp_path},{single}"})
    assert conf["spark.jars"].split(",") == [str(tmp_path / "a.jar"), str(tmp_path / "b.jar"), str(single)]
    with pytest.raises(FileNotFoundError, match="DAYS_TO_SELL_SPARK_JARS: .*missing is neither a jar nor a folder"):
        local_spark_conf({"DAYS_TO_SELL_SPARK_JARS": str(tmp_path / "missing")})
