"""Wall time of each task on the default-size data set, locally: Spark local mode, S3 served by moto.

    python examples/days-to-sell/benchmarks/time_tasks.py [--rows N] [--jars DIR,...]

Runs the five tasks in job order, each in its own process (``python -m days_to_sell TASK``), against a
moto server on 127.0.0.1 and a fresh bucket, with the contract's parameters and the package's defaults.
Prints per task the process wall time (JVM start included, as a fresh process pays it) and the time the
task measured itself (what a task on a running Databricks cluster costs). A task that fails (here:
export_bundle and check_bundle without MLeap's jars) is reported with its message; later tasks still run.
Prints, never asserts: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
ROOT = PACKAGE.parents[1]
TASKS = ("prepare_data", "validate_data", "train", "export_bundle", "check_bundle")
MODEL, VERSION, REGION = "days-to-sell", "2026-12-02-1", "eu-west-2"


def contract_parameters(bucket: str) -> list[str]:
    published = f"s3://{bucket}/{MODEL}/{VERSION}"
    params = {
        "model": MODEL,
        "version": VERSION,
        "work-uri": f"s3://{bucket}/_work/{MODEL}/{VERSION}/",
        "bundle-uri": f"{published}/bundle.zip",
        "samples-uri": f"{published}/samples.json",
        "metrics-uri": f"{published}/metrics.json",
        "stats-uri": f"{published}/stats.json",
        "digest-uri": f"{published}/bundle.zip.sha256",
        "released-uri": f"s3://{bucket}/{MODEL}/released.json",
    }
    return [f"--{k}={v}" for k, v in params.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", help="rows of the synthetic data set (default: the package's default)")
    parser.add_argument("--jars", default=str(ROOT / ".cache" / "jars" / "s3a"), help="DAYS_TO_SELL_SPARK_JARS")
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(PACKAGE / "src"),
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "DAYS_TO_SELL_SPARK_JARS": args.jars,
    }
    os.environ.update({k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")})
    client = boto3.client("s3", region_name=REGION)
    bucket = "days-to-sell-benchmark"
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    extra = [f"--rows={args.rows}"] if args.rows else []
    try:
        print(f"{'task':<14} {'exit':>4} {'process s':>10} {'task s':>8}  note")
        for task in TASKS:
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "days_to_sell", task, *contract_parameters(bucket), *extra],
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.monotonic() - started
            key = f"_work/{MODEL}/{VERSION}/durations/{task}.json"
            try:
                own = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())["seconds"]
                own_text = f"{own:8.1f}"
            except client.exceptions.NoSuchKey:
                own_text = f"{'-':>8}"
            note = result.stderr.strip().splitlines()[-1][:160] if result.returncode else result.stdout.strip().splitlines()[-2][:160]
            print(f"{task:<14} {result.returncode:>4} {wall:10.1f} {own_text}  {note}", flush=True)
        metrics = json.loads(client.get_object(Bucket=bucket, Key=f"_work/{MODEL}/{VERSION}/metrics.json")["Body"].read())
        print(f"hold-out RMSE {metrics['value']:.3f} days on {metrics['rows']['holdout']} of {metrics['rows']['total']} rows")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
