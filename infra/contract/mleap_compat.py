"""Which Databricks runtime can export which MLeap version, and the libraries that do it.

A bundle exported by an MLeap that does not match the cluster's Spark/Scala
fails at training time, hours after ``pulumi up`` succeeded; refusing the pair
in config is cheaper. Facts (Databricks and MLeap release notes): open-source
MLeap is supported only up to Databricks Runtime 13.3 LTS ML; MLeap 0.23.x
pairs with Spark 3.4 / Scala 2.12; 0.24+ targets Spark 4 / Scala 2.13 / Java 17.

The two tables below are the whole compatibility matrix: a new runtime or
MLeap release is one line here (and one case in tests/test_mleap_compat.py).
A runtime newer than the last one in the table is refused as such, with no
table entry of its own.

Part of ``infra.contract``: the stack config validates ``databricks.*`` with
this table and the policy pack judges clusters and libraries with it, so the
two never disagree about a runtime. The grammar of an MLeap version (a
semantic version), of a serving image's version tag and of the MLeap
libraries a cluster installs (written by the program, read by the pack)
live here too.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple, Optional


class SparkLine(NamedTuple):
    spark: str  # major.minor
    scala: str


#: Databricks LTS ML runtime (major.minor) -> Spark line it ships: the runtimes that can export MLeap bundles.
#: Newer runtimes are left out on purpose: open-source MLeap is not supported on them, whatever the MLeap version.
DATABRICKS_RUNTIMES: dict[str, SparkLine] = {
    "10.4": SparkLine("3.2", "2.12"),
    "11.3": SparkLine("3.3", "2.12"),
    "12.2": SparkLine("3.3", "2.12"),
    "13.3": SparkLine("3.4", "2.12"),
}

#: MLeap (major.minor) -> Spark line it is built for.
MLEAP_RELEASES: dict[str, SparkLine] = {
    "0.20": SparkLine("3.2", "2.12"),
    "0.21": SparkLine("3.2", "2.12"),
    "0.22": SparkLine("3.3", "2.12"),
    "0.23": SparkLine("3.4", "2.12"),
    "0.24": SparkLine("4.0", "2.13"),
    "0.25": SparkLine("4.0", "2.13"),
}


#: An MLeap release's version: a semantic version (``0.23.1``). Model versions follow ``model_version`` instead.
SEMVER = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
_SEMVER = re.compile(SEMVER)
#: An image tag that is a plain version, e.g. ``0.23.0``: read as the MLeap version the image serves.
IMAGE_VERSION_TAG = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def is_mleap_version(value: object) -> bool:
    """Whether ``value`` is an MLeap version (a semantic version such as ``0.23.0``)."""
    return isinstance(value, str) and _SEMVER.fullmatch(value) is not None


def mleap_line(version: str) -> str:
    """The major.minor line of a version: '0.23' for '0.23.1'."""
    major, minor = version.split(".")[:2]
    return f"{int(major)}.{int(minor)}"


def image_mleap_line(image: str) -> Optional[str]:
    """The MLeap line an image's tag names ('0.23' for '…/mleap-serving:0.23.0@sha256:…'), None if the tag is no version."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    _, colon, tag = name.rpartition(":")
    return mleap_line(tag) if colon and IMAGE_VERSION_TAG.fullmatch(tag) else None


def _version(major_minor: str) -> tuple[int, int]:
    major, minor = major_minor.split(".")
    return int(major), int(minor)


#: Newest runtime on which open-source MLeap is supported: the table's last.
LAST_MLEAP_RUNTIME: tuple[int, int] = max(map(_version, DATABRICKS_RUNTIMES))

_RUNTIME_KEY = re.compile(r"^(\d+)\.(\d+)\.x-(?:(?:cpu|gpu)-)?(ml-)?(?:photon-)?scala(2\.\d+)$")


class Runtime(NamedTuple):
    version: tuple[int, int]
    ml: bool
    scala: str


class Incompatibility(NamedTuple):
    """Why a runtime/MLeap pair cannot work, and which of the two keys is at fault."""

    key: Literal["sparkVersion", "mleapVersion"]
    message: str


def parse_runtime(spark_version: str) -> Optional[Runtime]:
    """Parse a Databricks runtime key such as ``13.3.x-cpu-ml-scala2.12``."""
    m = _RUNTIME_KEY.match(spark_version)
    if not m:
        return None
    return Runtime((int(m.group(1)), int(m.group(2))), bool(m.group(3)), m.group(4))


def check_runtime_mleap_pair(spark_version: str, mleap_version: str) -> Optional[Incompatibility]:
    """Why ``spark_version`` cannot export bundles with ``mleap_version``, or None if it can."""
    runtime = parse_runtime(spark_version)
    if runtime is None:
        return Incompatibility(
            "sparkVersion", f"runtime {spark_version!r} is not a Databricks runtime key like '13.3.x-cpu-ml-scala2.12'"
        )
    if not runtime.ml:
        return Incompatibility(
            "sparkVersion", f"runtime {spark_version!r} is not an ML runtime; MLeap is supported on Databricks Runtime ML only"
        )
    if runtime.version > LAST_MLEAP_RUNTIME:
        return Incompatibility(
            "sparkVersion",
            f"runtime {spark_version!r} is newer than {'.'.join(map(str, LAST_MLEAP_RUNTIME))} LTS ML, the last Databricks "
            "runtime that supports open-source MLeap",
        )
    line = DATABRICKS_RUNTIMES.get(f"{runtime.version[0]}.{runtime.version[1]}")
    if line is None:
        return Incompatibility(
            "sparkVersion", f"runtime {spark_version!r} is not a known LTS runtime (known: {', '.join(DATABRICKS_RUNTIMES)})"
        )
    mleap = MLEAP_RELEASES.get(".".join(mleap_version.split(".")[:2]))
    if mleap is None:
        return Incompatibility(
            "mleapVersion", f"MLeap {mleap_version} is not a known release (known: {', '.join(sorted(MLEAP_RELEASES))})"
        )
    if (line.spark, runtime.scala) != (mleap.spark, mleap.scala):
        return Incompatibility(
            "mleapVersion",
            f"MLeap {mleap_version} needs Spark {mleap.spark} / Scala {mleap.scala}, but runtime "
            f"{spark_version!r} has Spark {line.spark} / Scala {runtime.scala}",
        )
    return None


#: Where MLeap is published: its Maven group (every artifact ``mleap-<name>_<scala>``) and its PyPI package.
_MAVEN_GROUP = "ml.combust.mleap"
_PYPI_PACKAGE = "mleap"
#: A version as a library pin spells it: looser than ``SEMVER``, so a malformed pin is still read and then judged.
_PIN = r"(?P<version>[0-9][0-9A-Za-z.+-]*)"
#: Maven coordinates of any MLeap artifact, e.g. ``ml.combust.mleap:mleap-spark_2.12:0.23.0``.
_MLEAP_JAR = re.compile(rf"^{re.escape(_MAVEN_GROUP)}:mleap-[a-z-]+_(?P<scala>2\.\d+):{_PIN}$")
#: The pinned PyPI requirement of the MLeap Python package, e.g. ``mleap==0.23.0``.
_MLEAP_WHEEL = re.compile(rf"^{re.escape(_PYPI_PACKAGE)}=={_PIN}$")


class MleapLibrary(NamedTuple):
    """An MLeap library a cluster installs: its version, and the Scala line of a jar (None for the Python package)."""

    version: str
    scala: Optional[str]


def mleap_spark_coordinates(spark_version: str, mleap_version: str) -> str:
    """Maven coordinates of ``mleap-spark`` built for the runtime's Scala line (the bundle exporter)."""
    runtime = parse_runtime(spark_version)
    if runtime is None:
        raise ValueError(f"runtime {spark_version!r} is not a Databricks runtime key")
    return f"{_MAVEN_GROUP}:mleap-spark_{runtime.scala}:{mleap_version}"


def mleap_python_requirement(mleap_version: str) -> str:
    """PyPI requirement of the ``mleap`` Python package (PySpark's bundle serializer), pinned like the jar."""
    return f"{_PYPI_PACKAGE}=={mleap_version}"


def parse_mleap_jar(coordinates: str) -> Optional[MleapLibrary]:
    """The MLeap library that Maven ``coordinates`` name, or None if they are not an MLeap artifact.

    The reverse of ``mleap_spark_coordinates`` (for any MLeap artifact), so the
    policy pack reads a cluster's libraries with the spelling the program writes.
    """
    m = _MLEAP_JAR.match(coordinates)
    return MleapLibrary(m["version"], m["scala"]) if m else None


def parse_mleap_wheel(requirement: str) -> Optional[MleapLibrary]:
    """The MLeap library a PyPI ``requirement`` pins, or None if it is not a pinned ``mleap``.

    The reverse of ``mleap_python_requirement``, for the same reason as ``parse_mleap_jar``.
    """
    m = _MLEAP_WHEEL.match(requirement)
    return MleapLibrary(m["version"], None) if m else None
