"""``manifest.json``: what the stack declares for the training DAGs, read when the DAG file is parsed.

The stack writes it beside the DAG file (infra/documents/dag_package.py): the
models, each model's DAG id, schedule, run timeout and variable names, the
connection ids and the release target. It holds no version and no credential,
and reading it costs the scheduler a local file read per parse instead of a
secrets-backend call per model. A manifest this code cannot read is refused
with a message naming the file and the key, which Airflow shows as the DAG
file's import error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

#: The manifest format this code reads (infra/documents/dag_package.py MANIFEST_FORMAT).
FORMAT = 1


class ManifestError(ValueError):
    """The manifest cannot be read; the message names the file and the key."""


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str


@dataclass(frozen=True)
class ModelDag:
    """One model's DAG as the stack declares it."""

    model: str
    dag_id: str
    schedule: Optional[Schedule]
    training_timeout_minutes: int
    #: Airflow variable holding the Databricks job id of the model's training job.
    training_job_id_variable: str
    #: Airflow variable holding the bundle store's bucket name.
    bundle_bucket_variable: str


@dataclass(frozen=True)
class Release:
    """Where the release pull request goes."""

    repository: str
    base_branch: str
    stack_file: str
    conn_id: str


@dataclass(frozen=True)
class Manifest:
    project: str
    environment: str
    databricks_conn_id: str
    aws_conn_id: str
    release: Optional[Release]
    models: tuple[ModelDag, ...]


class _Reader:
    """Typed access to the JSON document, each failure naming the key."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, message: str) -> ManifestError:
        return ManifestError(f"{self.source}: {key}: {message} (the stack writes this file: run `pulumi up` again)")

    def mapping(self, document: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(document, Mapping):
            raise self.fail(key, "is not an object")
        return document

    def text(self, document: Mapping[str, Any], key: str, where: str) -> str:
        value = document.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{where}.{key}" if where else key, "is missing or not a non-empty string")
        return value

    def whole(self, document: Mapping[str, Any], key: str, where: str) -> int:
        value = document.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(f"{where}.{key}", "is missing or not a positive whole number")
        return value


def _model(reader: _Reader, name: str, entry: Any) -> ModelDag:
    where = f"models.{name}"
    entry = reader.mapping(entry, where)
    variables = reader.mapping(entry.get("variables"), f"{where}.variables")
    schedule_doc = entry.get("schedule")
    schedule = None
    if schedule_doc is not None:
        schedule_doc = reader.mapping(schedule_doc, f"{where}.schedule")
        schedule = Schedule(
            reader.text(schedule_doc, "cron", f"{where}.schedule"), reader.text(schedule_doc, "timezone", f"{where}.schedule")
        )
    return ModelDag(
        model=name,
        dag_id=reader.text(entry, "dagId", where),
        schedule=schedule,
        training_timeout_minutes=reader.whole(entry, "trainingTimeoutMinutes", where),
        training_job_id_variable=reader.text(variables, "trainingJobId", f"{where}.variables"),
        bundle_bucket_variable=reader.text(variables, "bundleBucket", f"{where}.variables"),
    )


def _release(reader: _Reader, document: Any) -> Optional[Release]:
    if document is None:
        return None
    document = reader.mapping(document, "release")
    return Release(
        repository=reader.text(document, "repository", "release"),
        base_branch=reader.text(document, "baseBranch", "release"),
        stack_file=reader.text(document, "stackFile", "release"),
        conn_id=reader.text(document, "connId", "release"),
    )


def parse_manifest(text: str, source: str) -> Manifest:
    """The manifest in ``text``; ManifestError naming ``source`` and the key when it is not one this code reads."""
    reader = _Reader(source)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{source}: not JSON ({exc}): the stack writes this file: run `pulumi up` again") from None
    document = reader.mapping(document, "(the document)")
    if document.get("format") != FORMAT:
        raise reader.fail("format", f"is {document.get('format')!r}; this DAG code reads format {FORMAT}")
    connections = reader.mapping(document.get("connections"), "connections")
    models = reader.mapping(document.get("models"), "models")
    return Manifest(
        project=reader.text(document, "project", ""),
        environment=reader.text(document, "environment", ""),
        databricks_conn_id=reader.text(connections, "databricks", "connections"),
        aws_conn_id=reader.text(connections, "aws", "connections"),
        release=_release(reader, document.get("release")),
        models=tuple(_model(reader, name, models[name]) for name in sorted(models)),
    )


def read_manifest(path: Path) -> Manifest:
    """``manifest.json`` beside the DAG file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(
            f"{path}: cannot read ({exc.strerror}): the stack delivers it with the DAG file; run `pulumi up` again"
        ) from None
    return parse_manifest(text, str(path))
