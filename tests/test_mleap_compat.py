"""The runtime/MLeap compatibility table, and how a stack file with a bad pair is refused."""

from __future__ import annotations

import pytest

from infra.config import ConfigError
from infra.contract.mleap_compat import (
    DATABRICKS_RUNTIMES,
    LAST_MLEAP_RUNTIME,
    MLEAP_RELEASES,
    MleapLibrary,
    check_runtime_mleap_pair,
    mleap_python_requirement,
    mleap_spark_coordinates,
    parse_mleap_jar,
    parse_mleap_wheel,
    parse_runtime,
)
from tests.conftest import plan_doc, set_path, stack_doc

DB = "model-platform:databricks"


@pytest.mark.parametrize(
    "runtime,mleap",
    [
        ("13.3.x-cpu-ml-scala2.12", "0.23.0"),
        ("13.3.x-gpu-ml-scala2.12", "0.23.3"),
        ("12.2.x-cpu-ml-scala2.12", "0.22.0"),
        ("11.3.x-cpu-ml-scala2.12", "0.22.0"),
        ("10.4.x-cpu-ml-scala2.12", "0.21.1"),
        ("10.4.x-cpu-ml-scala2.12", "0.20.0"),
    ],
)
def test_pairs_that_work_are_accepted(runtime, mleap):
    assert check_runtime_mleap_pair(runtime, mleap) is None


@pytest.mark.parametrize(
    "runtime,mleap,key,reason",
    [
        # MLeap 0.24+ is built for Spark 4 / Scala 2.13; the last MLeap-capable runtime has Spark 3.4 / Scala 2.12.
        ("13.3.x-cpu-ml-scala2.12", "0.24.0", "mleapVersion", "MLeap 0.24.0 needs Spark 4.0 / Scala 2.13"),
        ("13.3.x-cpu-ml-scala2.12", "0.22.0", "mleapVersion", "needs Spark 3.3 / Scala 2.12, but runtime '13.3.x-cpu-ml-scala2.12' has Spark 3.4"),
        ("12.2.x-cpu-ml-scala2.12", "0.23.0", "mleapVersion", "MLeap 0.23.0 needs Spark 3.4"),
        ("13.3.x-cpu-ml-scala2.12", "0.19.0", "mleapVersion", "not a known release"),
        # Newer runtimes have no open-source MLeap support, whatever the MLeap version.
        ("14.3.x-cpu-ml-scala2.12", "0.23.0", "sparkVersion", "newer than 13.3 LTS ML"),
        ("17.3.x-cpu-ml-scala2.13", "0.24.0", "sparkVersion", "newer than 13.3 LTS ML"),
        ("13.3.x-scala2.12", "0.23.0", "sparkVersion", "not an ML runtime"),
        ("13.3.x-photon-scala2.12", "0.23.0", "sparkVersion", "not an ML runtime"),
        ("13.0.x-cpu-ml-scala2.12", "0.23.0", "sparkVersion", "not a known LTS runtime"),
        ("13.3 LTS ML", "0.23.0", "sparkVersion", "not a Databricks runtime key"),
    ],
)
def test_pairs_that_cannot_work_are_refused_naming_the_key_at_fault(runtime, mleap, key, reason):
    problem = check_runtime_mleap_pair(runtime, mleap)
    assert problem is not None
    assert problem.key == key
    assert reason in problem.message


def test_every_runtime_in_the_table_can_export_some_mleap_release():
    """The table lists MLeap-capable runtimes only: no entry is dead weight behind the 13.3 cut-off."""
    for runtime, line in DATABRICKS_RUNTIMES.items():
        usable = [m for m in MLEAP_RELEASES if check_runtime_mleap_pair(f"{runtime}.x-cpu-ml-scala{line.scala}", f"{m}.0") is None]
        assert usable, runtime
    assert LAST_MLEAP_RUNTIME == (13, 3) == max(tuple(map(int, r.split("."))) for r in DATABRICKS_RUNTIMES)


@pytest.mark.parametrize("runtime", ["14.3.x-cpu-ml-scala2.12", "15.4.x-gpu-ml-scala2.12", "16.4.x-cpu-ml-scala2.12", "17.3.x-cpu-ml-scala2.13"])
def test_no_mleap_release_pairs_with_a_runtime_newer_than_13_3(runtime):
    # 0.24/0.25 need Spark 4, which only runtimes past 13.3 ship, and those have no open-source MLeap support.
    for line in MLEAP_RELEASES:
        problem = check_runtime_mleap_pair(runtime, f"{line}.0")
        assert problem == ("sparkVersion", f"runtime {runtime!r} is newer than 13.3 LTS ML, the last Databricks runtime that supports open-source MLeap")


def test_parse_runtime_reads_version_ml_flag_and_scala():
    assert parse_runtime("13.3.x-gpu-ml-scala2.12") == ((13, 3), True, "2.12")
    assert parse_runtime("17.3.x-scala2.13") == ((17, 3), False, "2.13")
    assert parse_runtime("latest") is None


def test_mleap_libraries_follow_the_runtime_scala_and_the_mleap_version():
    assert mleap_spark_coordinates("13.3.x-cpu-ml-scala2.12", "0.23.0") == "ml.combust.mleap:mleap-spark_2.12:0.23.0"
    assert mleap_spark_coordinates("17.3.x-cpu-ml-scala2.13", "0.24.1") == "ml.combust.mleap:mleap-spark_2.13:0.24.1"
    assert mleap_python_requirement("0.23.0") == "mleap==0.23.0"
    with pytest.raises(ValueError):
        mleap_spark_coordinates("not-a-runtime", "0.23.0")


@pytest.mark.parametrize("runtime,mleap", [("13.3.x-cpu-ml-scala2.12", "0.23.0"), ("17.3.x-cpu-ml-scala2.13", "0.24.1")])
def test_the_pack_reads_back_the_libraries_the_program_writes(runtime, mleap):
    """The parsers are the builders' reverse: the pack never misreads (or misses) a library the program installs."""
    scala = parse_runtime(runtime).scala
    assert parse_mleap_jar(mleap_spark_coordinates(runtime, mleap)) == MleapLibrary(mleap, scala)
    assert parse_mleap_wheel(mleap_python_requirement(mleap)) == MleapLibrary(mleap, None)


@pytest.mark.parametrize(
    "coordinates,expected",
    [
        ("ml.combust.mleap:mleap-spark-extension_2.12:0.23.0", MleapLibrary("0.23.0", "2.12")),
        ("ml.combust.mleap:mleap-spark_2.12:latest", None),
        ("ml.combust.mleapx:mleap-spark_2.12:0.23.0", None),
        ("org.example:mleap-spark_2.12:0.23.0", None),
    ],
)
def test_any_mleap_artifact_is_read_and_nothing_else(coordinates, expected):
    assert parse_mleap_jar(coordinates) == expected


@pytest.mark.parametrize("requirement", ["mleap>=0.23.0", "mleap", "mleapx==0.23.0", "numpy==1.26.4"])
def test_only_a_pinned_mleap_requirement_is_an_mleap_wheel(requirement):
    assert parse_mleap_wheel(requirement) is None


@pytest.mark.parametrize(
    "path,value,expected",
    [
        (
            f"{DB}.mleapVersion",
            "0.24.0",
            "stacks/Pulumi.staging.yaml: model-platform:databricks.mleapVersion: MLeap 0.24.0 needs Spark 4.0 / Scala 2.13, "
            "but runtime '13.3.x-cpu-ml-scala2.12' has Spark 3.4 / Scala 2.12",
        ),
        (
            f"{DB}.sparkVersion",
            "15.4.x-cpu-ml-scala2.12",
            "stacks/Pulumi.staging.yaml: model-platform:databricks.sparkVersion: runtime '15.4.x-cpu-ml-scala2.12' is newer "
            "than 13.3 LTS ML, the last Databricks runtime that supports open-source MLeap",
        ),
    ],
)
def test_a_stack_with_an_incompatible_pair_is_refused_before_any_resource(path, value, expected):
    doc = set_path(stack_doc("staging"), path, value)
    with pytest.raises(ConfigError) as info:
        plan_doc(doc, "staging")
    assert str(info.value) == expected
