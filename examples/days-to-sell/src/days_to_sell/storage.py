"""Bytes at a URI: ``s3://bucket/key`` through boto3, anything else as a local path.

The work URI is scratch space the writer may overwrite; published objects go through
:mod:`days_to_sell.publish` instead, which never overwrites. boto3 finds its endpoint (``AWS_ENDPOINT_URL``),
region and credentials in the environment, as on Databricks (instance profile) or against moto locally.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

from days_to_sell.errors import TaskError


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://`` URI."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.lstrip("/"):
        raise TaskError(f"{uri} is not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    """The local file of a ``file:`` URI or plain path."""
    return Path(urlparse(uri).path) if uri.startswith("file:") else Path(uri)


def join(base: str, name: str) -> str:
    """``base``/``name`` with exactly one '/' between them."""
    return base.rstrip("/") + "/" + name.lstrip("/")


def s3_client() -> Any:
    """A boto3 S3 client configured from the environment (endpoint, region, credentials)."""
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.client("s3", region_name=region) if region else boto3.client("s3")


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def s3_failure(uri: str, action: str, error: Exception) -> TaskError:
    """A clear TaskError for an S3 error that is not the task's own doing (permissions, bucket, network)."""
    hints = {
        "AccessDenied": f"; the training role may not {action} this key",
        "NoSuchBucket": "; the bucket does not exist: check the stack's bundle store and the job's parameters",
    }
    return TaskError(f"cannot {action} {uri}: {error}{hints.get(_code(error), '')}")


def _is_aws_error(error: Exception) -> bool:
    return type(error).__module__.startswith(("botocore", "boto3"))


def read_bytes(uri: str, *, client: Any = None) -> Optional[bytes]:
    """The object's bytes, or None when there is none."""
    if not is_s3(uri):
        path = local_path(uri)
        return path.read_bytes() if path.is_file() else None
    bucket, key = split_s3(uri)
    try:
        return (client or s3_client()).get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as error:  # botocore's ClientError/BotoCoreError; boto3 is imported lazily
        if _code(error) in {"NoSuchKey", "404", "NotFound"}:
            return None
        if _is_aws_error(error):
            raise s3_failure(uri, "read", error) from None
        raise


def write_bytes(uri: str, data: bytes, *, client: Any = None) -> None:
    """Write (or overwrite) scratch data: the work URI only, never a published key."""
    if not is_s3(uri):
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    bucket, key = split_s3(uri)
    try:
        (client or s3_client()).put_object(Bucket=bucket, Key=key, Body=data)
    except Exception as error:
        if _is_aws_error(error):
            raise s3_failure(uri, "write", error) from None
        raise


def delete(uri: str, *, client: Any = None) -> None:
    """Remove scratch data (the work URI only); a missing object is fine."""
    if not is_s3(uri):
        local_path(uri).unlink(missing_ok=True)
        return
    bucket, key = split_s3(uri)
    try:
        (client or s3_client()).delete_object(Bucket=bucket, Key=key)
    except Exception as error:
        if _is_aws_error(error):
            raise s3_failure(uri, "delete", error) from None
        raise


def json_bytes(doc: Any) -> bytes:
    """The one JSON encoding of every file the package writes (stable: the same document, the same bytes)."""
    return (json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def read_json(uri: str, *, client: Any = None) -> Optional[Any]:
    """The JSON document at ``uri``, or None when there is none; TaskError when it is not JSON."""
    data = read_bytes(uri, client=client)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError as error:
        raise TaskError(f"{uri} is not valid JSON: {error}") from None


def write_json(uri: str, doc: Any, *, client: Any = None) -> None:
    write_bytes(uri, json_bytes(doc), client=client)
