"""Plain helpers of the days-to-sell package tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "examples" / "days-to-sell"
SPARK_JARS_POM = ROOT / "tools" / "spark-jars" / "pom.xml"
S3A_JARS = ROOT / ".cache" / "jars" / "s3a"
MODEL = "days-to-sell"
REGION = "eu-west-2"

# The package is imported from its source tree, as the wheel built from it would install it.
if str(PACKAGE / "src") not in sys.path:
    sys.path.insert(0, str(PACKAGE / "src"))


@dataclass
class S3Env:
    endpoint: str
    bucket: str
    client: Any

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


@dataclass(frozen=True)
class TaskResult:
    code: int
    out: str
    err: str


def contract_parameters(bucket: str, version: str, *, model: str = MODEL) -> dict[str, str]:
    """The platform's parameters of one run (MODEL-PATH-CONTRACT.md), for a bucket of the test's own."""
    published = f"s3://{bucket}/{model}/{version}"
    return {
        "model": model,
        "version": version,
        "work-uri": f"s3://{bucket}/_work/{model}/{version}/",
        "bundle-uri": f"{published}/bundle.zip",
        "samples-uri": f"{published}/samples.json",
        "metrics-uri": f"{published}/metrics.json",
        "stats-uri": f"{published}/stats.json",
        "digest-uri": f"{published}/bundle.zip.sha256",
        "released-uri": f"s3://{bucket}/{model}/released.json",
    }


def as_arguments(parameters: dict[str, str]) -> list[str]:
    return [f"--{name}={value}" for name, value in parameters.items()]


def run_entry_point(task: str, parameters: dict[str, str]) -> TaskResult:
    """Run a task's console-script function in-process, as Databricks calls it: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from days_to_sell.tasks import ENTRY_POINTS

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ENTRY_POINTS[task](as_arguments(parameters))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return TaskResult(code, out.getvalue(), err.getvalue())
