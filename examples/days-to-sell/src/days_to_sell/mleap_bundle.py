"""MLeap: the PipelineModel to ``bundle.zip`` (export_bundle), and the bundle replayed by MLeap's runtime (check_bundle).

Both run on the JVM the task already has (the Spark driver), through py4j:

- export: ``mleap.pyspark``'s ``serializeToBundle`` (Python package ``mleap``, JVM class
  ``ml.combust.mleap.spark.SimpleSparkSerializer``);
- check: MLeap's runtime Java API (``ml.combust.mleap.runtime.javadsl``: ``ContextBuilder``, ``BundleBuilder``,
  ``LeapFrameBuilder``, ``LeapFrameSupport``), not Spark's transform, so the check exercises what serving runs.

The jars come from Maven (``ml.combust.mleap:mleap-spark_<scala>:<mleap version>``, which brings
mleap-runtime): the Databricks job installs them as a task library. When they are missing the task stops at
once, naming those coordinates, instead of failing later with a py4j error.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from days_to_sell.errors import TaskError
from days_to_sell.samples import Samples

SERIALIZER_CLASS = "ml.combust.mleap.spark.SimpleSparkSerializer"
RUNTIME_CLASS = "ml.combust.mleap.runtime.javadsl.BundleBuilder"


def installed_mleap_version() -> Optional[str]:
    """Version of the ``mleap`` Python package (the job installs it at the stack's databricks.mleapVersion)."""
    try:
        return metadata.version("mleap")
    except metadata.PackageNotFoundError:
        return None


def scala_binary_version(jvm: Any) -> str:
    """``2.12`` for the Scala library on the JVM (Databricks 13.3 LTS, PySpark 3.4)."""
    try:
        full = str(jvm.scala.util.Properties.versionNumberString())
        return ".".join(full.split(".")[:2])
    except Exception:  # an unusual JVM: fall back to Spark 3.4's Scala line
        return "2.12"


def maven_coordinates(*, scala: str, mleap_version: Optional[str]) -> str:
    return f"ml.combust.mleap:mleap-spark_{scala}:{mleap_version or '<databricks.mleapVersion>'}"


def jvm_has_class(jvm: Any, class_name: str) -> bool:
    """Whether py4j resolves ``class_name`` to a class (a missing class resolves to a JavaPackage)."""
    from py4j.java_gateway import JavaClass

    node = jvm
    for part in class_name.split("."):
        node = getattr(node, part)
    return isinstance(node, JavaClass)


def missing_mleap_message(*, task: str, class_name: str, coordinates: str) -> str:
    return (
        f"{task} needs MLeap on the Spark driver's JVM, but {class_name} is not on its classpath. "
        f"Install the Maven library {coordinates} on the job cluster (the training job's task libraries do, "
        "from the stack's databricks.mleapVersion), together with the PyPI package mleap at the same version. "
        "Locally: resolve it with `mvn -f tools/spark-jars/pom.xml -Pmleap dependency:copy-dependencies` and add "
        "the folder to DAYS_TO_SELL_SPARK_JARS."
    )


def require_mleap(spark: Any, *, task: str, class_name: str) -> str:
    """Stop ``task`` at once unless MLeap's ``class_name`` is loadable; returns the Maven coordinates in use."""
    jvm = spark.sparkContext._jvm
    coordinates = maven_coordinates(scala=scala_binary_version(jvm), mleap_version=installed_mleap_version())
    if not jvm_has_class(jvm, class_name):
        raise TaskError(missing_mleap_message(task=task, class_name=class_name, coordinates=coordinates))
    return coordinates


def serialize_bundle(model: Any, transformed: Any, path: Path) -> bytes:
    """``model`` as an MLeap bundle (zip) at ``path``; ``transformed`` is a frame the model produced.

    MLeap reads the output schema (e.g. vector sizes) from ``transformed``.
    """
    try:
        import mleap.pyspark  # noqa: F401  (adds serializeToBundle to Spark's Transformer)
    except ImportError:
        raise TaskError(
            "export_bundle needs the PyPI package mleap (the training job installs mleap==<databricks.mleapVersion>)"
        ) from None
    from py4j.protocol import Py4JJavaError

    if path.exists():
        path.unlink()
    try:
        model.serializeToBundle(f"jar:file:{path.resolve()}", transformed)
    except Py4JJavaError as error:
        raise TaskError(f"MLeap could not serialise the pipeline: {error.java_exception}") from None
    return path.read_bytes()


def replay(spark: Any, *, bundle: Path, samples: Samples) -> list[float]:
    """The predictions MLeap's runtime makes for the samples' rows from the bundle at ``bundle``."""
    from py4j.protocol import Py4JJavaError

    jvm = spark.sparkContext._jvm
    javadsl = jvm.ml.combust.mleap.runtime.javadsl
    try:
        context = javadsl.ContextBuilder().createMleapContext()
        transformer = javadsl.BundleBuilder().load(jvm.java.io.File(str(bundle.resolve())), context).root()
        frames = javadsl.LeapFrameBuilder()
        schema = frames.createSchema(json.dumps(samples.schema_json()))
        rows = jvm.java.util.ArrayList()
        for values in samples.rows:
            row_values = jvm.java.util.ArrayList()
            for (_, mleap_type), value in zip(samples.fields, values):
                row_values.add(_java_value(mleap_type, value))
            rows.add(frames.createRowFromIterable(row_values))
        result = transformer.transform(frames.createFrame(schema, rows)).get()
        selected = javadsl.LeapFrameSupport().select(result, _java_list(jvm, [samples.prediction_column]))
        return [float(row.getDouble(0)) for row in javadsl.LeapFrameSupport().collect(selected)]
    except Py4JJavaError as error:
        raise TaskError(f"MLeap's runtime could not load or run {bundle.name}: {error.java_exception}") from None


def _java_value(mleap_type: str, value: Any) -> Any:
    """py4j sends a Python float as java.lang.Double, which a ``double`` field needs (a JSON 3 would be an Integer)."""
    return float(value) if mleap_type == "double" and value is not None else value


def _java_list(jvm: Any, values: list[Any]) -> Any:
    items = jvm.java.util.ArrayList()
    for value in values:
        items.add(value)
    return items
