"""The one key layout of the bundle store.

Training writes it, serving reads it, ``modelctl release``/``promote`` check
it, the stack writes ``released.json``; nothing else spells these keys.

Published, immutable (each written once, with ``PutObject(IfNoneMatch="*")``;
the training role may neither overwrite nor delete them)::

    <model>/<version>/bundle.zip          the MLeap bundle
    <model>/<version>/samples.json        hold-out rows with their Spark predictions
    <model>/<version>/metrics.json        hold-out metric, threshold, rows, task durations
    <model>/<version>/stats.json          per-feature statistics of the training data (drift baseline)
    <model>/<version>/bundle.zip.sha256   written last, once the MLeap runtime reproduced samples.json: the seal

Written by the stack (``pulumi up``), never by training::

    <model>/released.json                 the served version and its files (``released_document``)

A run's scratch, overwritable, expired by a lifecycle rule::

    _work/<model>/<version>/...

Part of ``infra.contract``. The module imports nothing but the standard library and its sibling
``model_version``: the stack delivers both, byte for byte, beside the training
DAG (infra/documents/dag_package.py), so the DAG finds a run's objects with the
very keys the job's parameters name, and derives the run's version as
Databricks resolves ``RUN_VERSION`` (``run_version``).
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass

# Relative: the same bytes import the grammar as infra.model_version here and as a sibling module beside the DAG.
from .model_version import MODEL_NAME, is_model_version, is_sha256, version_message

BUNDLE_FILE = "bundle.zip"
DIGEST_FILE = "bundle.zip.sha256"
SAMPLES_FILE = "samples.json"
METRICS_FILE = "metrics.json"
STATS_FILE = "stats.json"
RELEASED_FILE = "released.json"
#: Prefix of every run's scratch objects. Model names are DNS labels, so no model's prefix starts with '_'.
WORK_PREFIX = "_work/"

#: A training run's own version, resolved by Databricks when the run starts (dynamic value references):
#: the run's UTC start date and its run id, e.g. ``2026-12-02-884422123``. Never reused, never the served version.
RUN_VERSION = "{{job.start_time.iso_date}}-{{job.run_id}}"


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def run_version(*, start_time_ms: int, run_id: int) -> str:
    """The version a run resolved ``RUN_VERSION`` to: its UTC start date, '-', its run id (``2026-12-02-884422123``).

    ``start_time_ms`` and ``run_id`` are the job run's ``start_time`` (epoch
    milliseconds) and ``run_id`` as the Jobs API returns them (``runs/get``);
    Databricks formats ``{{job.start_time.iso_date}}`` in UTC. ValueError for
    anything else than two non-negative integers (within the calendar).
    """
    if isinstance(start_time_ms, bool) or not isinstance(start_time_ms, int) or start_time_ms < 0:
        raise ValueError(f"start_time {start_time_ms!r} is not epoch milliseconds")
    if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id < 0:
        raise ValueError(f"run_id {run_id!r} is not a Databricks run id")
    try:
        started = _EPOCH + datetime.timedelta(milliseconds=start_time_ms)  # exact: no float rounding at midnight
    except OverflowError:
        raise ValueError(f"start_time {start_time_ms!r} is past the calendar's end") from None
    version = f"{started.date().isoformat()}-{run_id}"
    if not is_model_version(version):
        raise ValueError(version_message(version))
    return version


@dataclass(frozen=True)
class BundleKeys:
    """S3 keys of one model version (``version`` may be ``RUN_VERSION``: the keys of whichever run resolves it)."""

    model: str
    version: str

    def __post_init__(self) -> None:
        if self.version != RUN_VERSION and not is_model_version(self.version):
            raise ValueError(version_message(self.version))
        model_prefix(self.model)

    @property
    def prefix(self) -> str:
        """Folder of this version, ending with '/'."""
        return f"{model_prefix(self.model)}{self.version}/"

    @property
    def bundle(self) -> str:
        return self.prefix + BUNDLE_FILE

    @property
    def digest(self) -> str:
        return self.prefix + DIGEST_FILE

    @property
    def samples(self) -> str:
        return self.prefix + SAMPLES_FILE

    @property
    def metrics(self) -> str:
        return self.prefix + METRICS_FILE

    @property
    def stats(self) -> str:
        return self.prefix + STATS_FILE

    @property
    def published(self) -> tuple[str, ...]:
        """Every published key of the version, the seal (the digest file) last, as training writes them."""
        return (self.bundle, self.samples, self.metrics, self.stats, self.digest)

    @property
    def work(self) -> str:
        """Folder of the run's scratch objects, ending with '/'."""
        return f"{work_prefix(self.model)}{self.version}/"

    @property
    def released(self) -> str:
        """The model's ``released.json`` (one per model, not per version)."""
        return released_key(self.model)

    def uri(self, bucket: str, key: str | None = None) -> str:
        """``s3://`` URI of ``key`` (default: the bundle) in ``bucket``."""
        return s3_uri(bucket, key or self.bundle)


def s3_uri(bucket: str, key: str) -> str:
    """``s3://<bucket>/<key>``: the one spelling of an object's URI in the bundle store."""
    return f"s3://{bucket}/{key}"


def bundle_uri(*, bucket: str, model: str, version: str) -> str:
    """The URI of ``model``'s bundle at ``version``: what serving downloads and training writes."""
    return bundle_keys(model, version).uri(bucket)


def model_prefix(model: str) -> str:
    """Key prefix holding every version of ``model`` (IAM scopes on it).

    The trailing '/' keeps ``days/`` from covering ``days-to-sell/``; the DNS-label
    rule keeps '*' and '?' (IAM wildcards) out of the ARNs built from it.
    """
    if not re.fullmatch(MODEL_NAME, model or ""):
        raise ValueError(f"invalid model name {model!r}: must be a DNS label")
    return f"{model}/"


def work_prefix(model: str) -> str:
    """Key prefix of ``model``'s run scratch (``_work/<model>/``), outside its published prefix."""
    return f"{WORK_PREFIX}{model_prefix(model)}"


def released_key(model: str) -> str:
    """``<model>/released.json``: what the stack serves of ``model``, for training's drift check."""
    return f"{model_prefix(model)}{RELEASED_FILE}"


def bundle_keys(model: str, version: str) -> BundleKeys:
    """The keys of ``model`` at ``version``; raises ValueError for names that are not one key segment."""
    return BundleKeys(model, version)


def run_keys(model: str) -> BundleKeys:
    """The keys the job's parameters name: ``model`` at the version the run resolves (``RUN_VERSION``)."""
    return BundleKeys(model, RUN_VERSION)


def released_document(*, bucket: str, model: str, version: str, bundle_sha256: str) -> str:
    """The text of ``<model>/released.json``: the served version, its digest and its files' URIs.

    JSON with sorted keys and a final newline, so the same release always
    yields the same bytes (and no diff)::

        {"bundleSha256": ..., "files": {"bundle", "digest", "metrics", "samples", "stats"}, "model": ..., "version": ...}
    """
    keys = bundle_keys(model, version)
    document = {
        "model": model,
        "version": version,
        "bundleSha256": bundle_sha256,
        "files": {
            "bundle": keys.uri(bucket, keys.bundle),
            "digest": keys.uri(bucket, keys.digest),
            "samples": keys.uri(bucket, keys.samples),
            "metrics": keys.uri(bucket, keys.metrics),
            "stats": keys.uri(bucket, keys.stats),
        },
    }
    return json.dumps(document, sort_keys=True, indent=2) + "\n"


def parse_digest_file(text: str) -> str:
    """The hex digest in a ``.sha256`` file (``sha256sum`` format or bare)."""
    token = (text.strip().split()[0] if text.strip() else "").lower()
    if not is_sha256(token):
        raise ValueError("not a sha256 digest file")
    return token
