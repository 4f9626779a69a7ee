"""What the training DAG's tasks do after the Databricks run: its version, its checked bundle, the release.

Plain functions of plain values (the task factory in factory.py binds them to
Airflow): connections and variables are read here, at run time, through
Airflow's own API, so the same code works with the Secrets Manager backend
and with environment-variable connections. A check that fails for good (no
seal, a digest conflict) raises ReleaseCheckFailed, which Airflow does not
retry; a failed call to S3 or GitHub is retried.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Mapping

from airflow.sdk.exceptions import AirflowFailException

from .bundles import BundleCheckError, verify_bundle
from .github import GitHub, ReleaseRequest, open_release_pull_request
from .layout import bundle_keys, run_version
from .pin_edit import BundlePin, PinConflict, PinEditError

log = logging.getLogger(__name__)


class ReleaseCheckFailed(AirflowFailException):
    """The run's version cannot be released (a retry would not help): the message says why and what to do."""


def run_of(*, run_id: int, databricks_conn_id: str) -> dict[str, Any]:
    """The training run's version (``layout.run_version``: what Databricks resolved ``RUN_VERSION`` to) and its page."""
    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    run = DatabricksHook(databricks_conn_id, caller="model-platform").get_run(int(run_id))
    try:
        version = run_version(start_time_ms=run["start_time"], run_id=run["run_id"])
    except (KeyError, ValueError) as exc:
        raise ReleaseCheckFailed(f"Databricks run {run_id}: no version can be derived from runs/get ({exc})") from None
    log.info("run %s started %s ms after the epoch: version %s", run["run_id"], run["start_time"], version)
    return {"version": version, "runId": run["run_id"], "jobId": run.get("job_id"), "runPageUrl": run.get("run_page_url", "")}


def metric_summary(metrics: Any) -> str:
    """One line about the run's metric: ``rmse 6.1 (threshold 12.0)``; the document's scalars when it names none."""
    if not isinstance(metrics, Mapping):
        return "metrics.json holds no object"
    if "metric" in metrics and "value" in metrics:
        threshold = f" (threshold {metrics['threshold']})" if "threshold" in metrics else ""
        return f"{metrics['metric']} {metrics['value']}{threshold}"
    scalars = [f"{k}={v}" for k, v in sorted(metrics.items()) if isinstance(v, (str, int, float, bool))]
    return ", ".join(scalars[:8]) or "metrics.json names no metric"


def checked_release(*, model: str, run: Mapping[str, Any], bucket_variable: str, aws_conn_id: str) -> dict[str, Any]:
    """The run's sealed bundle, checked as ``modelctl release --from-s3`` checks it, and its metric.

    The seal (``bundle.zip.sha256``) exists only when check_bundle saw the MLeap
    runtime reproduce the samples; ``verify_bundle`` also requires
    ``samples.json`` and that the bundle's bytes hash to the seal.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.sdk import Variable

    bucket = Variable.get(bucket_variable)
    client = S3Hook(aws_conn_id=aws_conn_id).get_conn()
    version = run["version"]
    try:
        bundle = verify_bundle(client, bucket, model, version)
    except BundleCheckError as exc:
        raise ReleaseCheckFailed(f"{model} {version} cannot be released: {exc}") from None
    keys = bundle_keys(model, version)
    try:
        metrics = json.loads(client.get_object(Bucket=bucket, Key=keys.metrics)["Body"].read())
    except client.exceptions.NoSuchKey:
        raise ReleaseCheckFailed(f"{keys.uri(bucket, keys.metrics)}: no metrics.json: the version is incomplete") from None
    except ValueError:
        raise ReleaseCheckFailed(f"{keys.uri(bucket, keys.metrics)}: not JSON") from None
    summary = metric_summary(metrics)
    log.info("%s: sha256 %s (%s); metric: %s", bundle.uri, bundle.sha256, bundle.checked_by, summary)
    return {
        "model": model,
        "version": version,
        "bundleSha256": bundle.sha256,
        "bundleUri": bundle.uri,
        "metric": summary,
        "runId": run["runId"],
        "runPageUrl": run["runPageUrl"],
    }


def release_text(*, release: Mapping[str, Any], stack_file: str, dag_id: str, environment: str) -> tuple[str, str]:
    """(title, body) of the release pull request: model, version, digest, metric, and where they come from."""
    model, version = release["model"], release["version"]
    title = f"Release {model} {version} to {environment}"
    run_line = f"[run {release['runId']}]({release['runPageUrl']})" if release.get("runPageUrl") else f"run {release['runId']}"
    body = "\n".join(
        (
            f"The training DAG `{dag_id}` trained and checked a new version of **{model}**; this pins it in `{stack_file}`.",
            "",
            "| | |",
            "| --- | --- |",
            f"| model | `{model}` |",
            f"| version | `{version}` |",
            f"| bundle sha256 | `{release['bundleSha256']}` |",
            f"| metric | {release['metric']} |",
            f"| bundle | `{release['bundleUri']}` |",
            f"| Databricks | {run_line} |",
            "",
            "The bundle is sealed (`bundle.zip.sha256`: the MLeap runtime reproduced the samples) and its bytes match the "
            "digest, as `modelctl release --from-s3` checks. Merging deploys it through CI like any stack change.",
        )
    )
    return title, body


def github_client(*, conn_id: str, repository: str) -> GitHub:
    """The GitHub API behind the release connection: its host (https://api.github.com by default), its password the token."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if not conn.password:
        raise ReleaseCheckFailed(f"connection {conn_id!r} has no password: it must hold the GitHub token (airflow.connections)")
    host = (conn.host or "api.github.com").rstrip("/")
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
    if conn.port:
        host = f"{host}:{conn.port}"
    return GitHub(host, repository, conn.password)


def pull_request(
    *, release: Mapping[str, Any], repository: str, base_branch: str, stack_file: str, conn_id: str, dag_id: str, environment: str
) -> str:
    """Open the release pull request (or find the one an earlier attempt opened); its URL, "" when none was needed."""
    title, body = release_text(release=release, stack_file=stack_file, dag_id=dag_id, environment=environment)
    request = ReleaseRequest(
        model=release["model"],
        pin=BundlePin(release["version"], release["bundleSha256"]),
        base_branch=base_branch,
        stack_file=stack_file,
        title=title,
        body=body,
    )
    try:
        result = open_release_pull_request(github_client(conn_id=conn_id, repository=repository), request)
    except (PinConflict, PinEditError) as exc:
        raise ReleaseCheckFailed(f"{stack_file} in {repository} cannot take the release: {exc}") from None
    if result.outcome == "unchanged":
        log.info("%s@%s already pins %s: no pull request needed", stack_file, base_branch, request.pin)
        return ""
    log.info("pull request %s (%s): %s\n%s", result.url, result.outcome, title, result.diff)
    return result.url
