"""The one place where running on Databricks and running locally differ.

On Databricks the task runs inside the cluster's Spark session, ``s3://`` paths work natively, and MLeap's
jars come from the job's Maven library. Locally (tests, ``make e2e``) this module builds a local-mode session
from the environment:

``DAYS_TO_SELL_SPARK_MASTER``  Spark master (default ``local[2]``)
``DAYS_TO_SELL_SPARK_JARS``    jars for ``spark.jars``: files or folders of ``*.jar``, separated by ',' or
                               ':' (e.g. ``.cache/jars/s3a``, resolved with ``tools/spark-jars/pom.xml``)
``AWS_ENDPOINT_URL[_S3]``      an S3 API other than AWS (e.g. moto): S3A uses it with path-style access
``AWS_REGION``/``AWS_DEFAULT_REGION``  region S3A signs requests for

and reads ``s3://`` URIs through Hadoop's S3A connector as ``s3a://``. Credentials stay in the environment
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, read by the JVM at start), never in the Spark configuration.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping


def on_databricks(env: Mapping[str, str] = os.environ) -> bool:
    """Databricks sets DATABRICKS_RUNTIME_VERSION in every cluster process."""
    return bool(env.get("DATABRICKS_RUNTIME_VERSION"))


def spark_path(uri: str, env: Mapping[str, str] = os.environ) -> str:
    """The path Spark reads/writes for ``uri``: ``s3://`` as is on Databricks, ``s3a://`` elsewhere."""
    if uri.startswith("s3://") and not on_databricks(env):
        return "s3a://" + uri[len("s3://") :]
    return uri


def _jar_files(spec: str) -> list[str]:
    jars: list[str] = []
    for item in (part.strip() for chunk in spec.split(",") for part in chunk.split(os.pathsep)):
        if not item:
            continue
        path = Path(item)
        if path.is_dir():
            jars += sorted(str(p.resolve()) for p in path.glob("*.jar"))
        elif path.is_file():
            jars.append(str(path.resolve()))
        else:
            raise FileNotFoundError(f"DAYS_TO_SELL_SPARK_JARS: {item} is neither a jar nor a folder of jars")
    return jars


def local_spark_conf(env: Mapping[str, str]) -> dict[str, str]:
    """The Spark configuration of a local session, from ``env`` (see the module docstring)."""
    conf = {
        "spark.master": env.get("DAYS_TO_SELL_SPARK_MASTER") or "local[2]",
        "spark.app.name": "days-to-sell",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.session.timeZone": "UTC",
    }
    jars = _jar_files(env.get("DAYS_TO_SELL_SPARK_JARS", ""))
    if jars:
        conf["spark.jars"] = ",".join(jars)
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https://")).lower()
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf


def spark_session() -> Any:
    """The running session (Databricks, or one a caller started), else a local one built from the environment."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder
    if not on_databricks():
        for key, value in local_spark_conf(os.environ).items():
            builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
