"""Checks a model version's bundle in the stack's S3 bucket before a stack file pins it.

A stack file may only name a complete, sealed version: its ``bundle.zip.sha256``
exists (the seal: ``check_bundle`` writes it last, only after the MLeap runtime
reproduced ``samples.json``), its ``samples.json`` exists, and the bundle's
bytes hash to the sealed digest. The bytes are checked with S3's own SHA256
checksum when the object carries a full-object one (no download); otherwise
the bundle is streamed and hashed.

The client is plain boto3: credentials, ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_S3`` come from the environment as with the AWS CLI. The
training DAG runs the same check (the stack delivers this file beside it,
infra/documents/dag_package.py) with the client of its AWS connection.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Optional

if __package__ == "modelctl":  # in the repository
    from infra.contract.layout import BundleKeys, bundle_keys, parse_digest_file
    from infra.contract.model_version import digest_message, is_sha256
else:  # delivered beside the training DAG, where the contract's modules are siblings
    from .layout import BundleKeys, bundle_keys, parse_digest_file
    from .model_version import digest_message, is_sha256

#: The digest file is a line of ``sha256sum`` output; anything much bigger is not one.
_MAX_DIGEST_FILE_BYTES = 4096
_CHUNK_BYTES = 1024 * 1024


class BundleCheckError(Exception):
    """The bundle store does not hold what the stack file would pin (exit 1)."""


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose digest file and bytes agree."""

    bucket: str
    keys: BundleKeys
    sha256: str
    #: "S3 SHA256 checksum" or "downloaded and hashed".
    checked_by: str

    @property
    def uri(self) -> str:
        return self.keys.uri(self.bucket)


def s3_client(region: str) -> Any:
    """An S3 client for the stack's region; endpoint and credentials from the environment."""
    import boto3

    return boto3.session.Session().client("s3", region_name=region)


def verify_bundle(
    client: Any, bucket: str, model: str, version: str, expected_sha256: Optional[str] = None
) -> VerifiedBundle:
    """Check ``<model>/<version>/bundle.zip`` against its ``.sha256`` file (and ``expected_sha256``).

    Raises BundleCheckError when the digest file, the samples or the bundle is
    missing, the digest file is malformed, the bundle's bytes disagree with it,
    or it differs from ``expected_sha256``.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    keys = bundle_keys(model, version)
    if expected_sha256 is not None and not is_sha256(expected_sha256):
        raise BundleCheckError(f"{keys.uri(bucket)}: the stack's digest {digest_message(expected_sha256)}")
    try:
        digest = _read_digest(client, bucket, keys)
        if expected_sha256 is not None and digest != expected_sha256:
            raise BundleCheckError(
                f"{keys.uri(bucket, keys.digest)} says {digest}, but the stack pins {expected_sha256}"
            )
        _require_samples(client, bucket, keys)
        actual, checked_by = _bundle_sha256(client, bucket, keys)
    except ClientError as exc:
        raise BundleCheckError(f"s3://{bucket}/{keys.prefix}: {_describe(exc)}") from None
    except BotoCoreError as exc:
        raise BundleCheckError(f"s3://{bucket}/{keys.prefix}: cannot reach S3: {exc}") from None
    if actual != digest:
        raise BundleCheckError(
            f"{keys.uri(bucket)}: its bytes hash to {actual} ({checked_by}), "
            f"but {keys.digest.rsplit('/', 1)[1]} says {digest}"
        )
    return VerifiedBundle(bucket, keys, digest, checked_by)


def _read_digest(client: Any, bucket: str, keys: BundleKeys) -> str:
    uri = keys.uri(bucket, keys.digest)
    try:
        obj = client.get_object(Bucket=bucket, Key=keys.digest)
    except client.exceptions.NoSuchKey:
        raise BundleCheckError(
            f"{uri}: no digest file: it is the version's seal, which check_bundle writes last, only after the MLeap "
            "runtime reproduced samples.json; without it the version is incomplete or failed its check: release a "
            "version whose training run succeeded"
        ) from None
    except client.exceptions.NoSuchBucket:
        raise BundleCheckError(f"s3://{bucket}: no such bucket (is the stack's bundleStore right?)") from None
    body = obj["Body"].read(_MAX_DIGEST_FILE_BYTES + 1)
    try:
        if len(body) > _MAX_DIGEST_FILE_BYTES:
            raise ValueError("too large")
        return parse_digest_file(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise BundleCheckError(f"{uri}: not a sha256 digest file (expected 64 hex digits)") from None


def _require_samples(client: Any, bucket: str, keys: BundleKeys) -> None:
    """A sealed version has its samples: without them nothing shows the bundle was checked."""
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=keys.samples)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise BundleCheckError(
                f"{keys.uri(bucket, keys.samples)}: no samples.json, so nothing shows the MLeap runtime reproduced "
                "this bundle's predictions, whatever its digest file (the seal check_bundle writes last) says: the "
                "version is incomplete; release a version a complete training run published"
            ) from None
        raise


def _bundle_sha256(client: Any, bucket: str, keys: BundleKeys) -> tuple[str, str]:
    """The bundle's sha256 (hex), from S3's checksum when it has a full-object one, else by download."""
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=keys.bundle, ChecksumMode="ENABLED")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise BundleCheckError(f"{keys.uri(bucket)}: no such bundle") from None
        raise
    from_s3 = _full_object_sha256(head)
    if from_s3 is not None:
        return from_s3, "S3 SHA256 checksum"
    body = client.get_object(Bucket=bucket, Key=keys.bundle)["Body"]
    hasher = hashlib.sha256()
    for chunk in body.iter_chunks(_CHUNK_BYTES):
        hasher.update(chunk)
    return hasher.hexdigest(), "downloaded and hashed"


def _full_object_sha256(head: dict[str, Any]) -> Optional[str]:
    """Hex of ``ChecksumSHA256`` when it covers the whole object (not a multipart composite)."""
    value = head.get("ChecksumSHA256")
    if not value or head.get("ChecksumType") == "COMPOSITE" or "-" in value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        return None
    return raw.hex() if len(raw) == 32 else None


def _describe(exc: Any) -> str:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "error"), error.get("Message", "")
    if code in ("403", "AccessDenied"):
        return "access denied (do the credentials belong to the stack's AWS account?)"
    return f"{code}: {message}".rstrip(": ")
