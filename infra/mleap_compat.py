"""Moved to ``infra.contract.mleap_compat``; this re-export keeps old imports working until the lead removes it."""

from infra.contract.mleap_compat import (  # noqa: F401
    DATABRICKS_RUNTIMES,
    IMAGE_VERSION_TAG,
    LAST_MLEAP_RUNTIME,
    MLEAP_RELEASES,
    SEMVER,
    Incompatibility,
    Runtime,
    SparkLine,
    check_runtime_mleap_pair,
    image_mleap_line,
    is_mleap_version,
    mleap_line,
    mleap_python_requirement,
    mleap_spark_coordinates,
    parse_runtime,
)
