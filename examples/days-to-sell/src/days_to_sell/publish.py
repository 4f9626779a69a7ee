"""Publishing a version's objects: written once, never overwritten.

Every published key is written with ``PutObject`` and ``If-None-Match: *`` (S3 conditional write), in a
single request (``put_object``, never ``upload_file``: above 8 MB that goes multipart, and the writer
role's policy requires the condition on every PutObject). When the key already exists S3 answers 412:

- the same bytes (a retried task re-publishing what an earlier attempt wrote) are fine;
- different bytes fail: a version is never overwritten, so the only way forward is a new run, which
  writes a new version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

from days_to_sell.errors import TaskError
from days_to_sell.storage import s3_client, s3_failure, split_s3


class PublishConflict(TaskError):
    """The key already holds different bytes."""


@dataclass(frozen=True)
class Published:
    uri: str
    sha256: str
    #: "written" by this call, or "unchanged" (already there with identical bytes).
    outcome: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _content_type(key: str) -> str:
    if key.endswith(".json"):
        return "application/json"
    if key.endswith(".zip"):
        return "application/zip"
    return "text/plain; charset=utf-8"


def _error(error: Exception) -> tuple[str, int]:
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code", ""), int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def publish_once(uri: str, data: bytes, *, client: Any = None) -> Published:
    """Write ``data`` at ``uri`` unless the key exists; identical bytes are fine, different bytes are not."""
    client = client or s3_client()
    bucket, key = split_s3(uri)
    digest = sha256_hex(data)
    try:
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            IfNoneMatch="*",
            ChecksumAlgorithm="SHA256",
            ContentType=_content_type(key),
        )
        return Published(uri, digest, "written")
    except Exception as error:  # botocore.exceptions.ClientError
        code, status = _error(error)
        if code == "ConditionalRequestConflict" or status == 409:
            raise PublishConflict(
                f"{uri}: another writer is publishing this key at the same time; a version is written by one run only. "
                "Start a new run (it trains a new version)."
            ) from None
        if code != "PreconditionFailed" and status != 412:
            if type(error).__module__.startswith("botocore"):
                raise s3_failure(uri, "publish", error) from None
            raise
    try:
        existing = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as error:
        raise s3_failure(uri, "read back", error) from None
    if sha256_hex(existing) == digest:
        return Published(uri, digest, "unchanged")
    raise PublishConflict(
        f"{uri} is already published with different content (sha256 {sha256_hex(existing)}, this attempt "
        f"{digest}): a published version is never overwritten. Start a new run: it trains and publishes a new version."
    )


def publish_all(objects: Sequence[tuple[str, bytes]], *, client: Any = None) -> list[Published]:
    """Publish each (uri, bytes) in order; stops at the first conflict (what came before stays published)."""
    client = client or s3_client()
    return [publish_once(uri, data, client=client) for uri, data in objects]
