"""How a bundle reaches prod's bucket: ``modelctl promote --copy`` copies a sealed version between bundle stores.

Each stack reads bundles only from its own bucket. A version validated in
staging is copied, object by object, from staging's store to prod's before
prod's stack file pins it, with checks at both ends:

* the source version must pass ``modelctl.bundles.verify_bundle`` against the
  digest the source stack pins (seal, samples, bytes);
* the bundle's bytes are hashed again while copying and must equal that digest;
* every object is written with ``IfNoneMatch='*'`` (write once): an object the
  target already holds is left alone when its bytes are the same, and is an
  error when they differ (a released version never changes);
* the seal (``bundle.zip.sha256``) is written last, as training writes it, so
  a copy that stops half way leaves an unsealed version that nothing pins;
* the target is verified like ``promote --verify`` afterwards.

``metrics.json`` and ``stats.json`` are copied when the source has them; the
bundle, its samples and its seal are required.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import Any, BinaryIO

from infra.contract.layout import bundle_keys
from modelctl.bundles import BundleCheckError, VerifiedBundle, verify_bundle

_CHUNK_BYTES = 1024 * 1024
#: Objects held in memory below this size; larger ones (the bundle) spill to a temporary file.
_SPOOL_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class BundleStore:
    """One stack's bundle store: an S3 client for its region and its bucket."""

    client: Any
    bucket: str


@dataclass(frozen=True)
class CopyReport:
    """What ``copy_version`` did: keys written, keys already there with the same bytes, the verified target."""

    written: tuple[str, ...]
    present: tuple[str, ...]
    target: VerifiedBundle

    def lines(self, source_bucket: str) -> list[str]:
        out = [f"copied s3://{source_bucket}/{key} -> s3://{self.target.bucket}/{key}" for key in self.written]
        out += [f"already in s3://{self.target.bucket}/{key} (same bytes)" for key in self.present]
        out.append(f"verified {self.target.uri}: sha256 {self.target.sha256} ({self.target.checked_by})")
        return out


def copy_version(*, source: BundleStore, target: BundleStore, model: str, version: str, sha256: str) -> CopyReport:
    """Copy ``<model>/<version>/`` from ``source`` to ``target``, write-once, the seal last; BundleCheckError on any
    mismatch (the target may then hold some of the version's objects, never its seal unless all are right)."""
    from botocore.exceptions import BotoCoreError, ClientError

    verify_bundle(source.client, source.bucket, model, version, expected_sha256=sha256)
    keys = bundle_keys(model, version)
    required = {keys.bundle, keys.samples, keys.digest}
    written: list[str] = []
    present: list[str] = []
    for key in keys.published:  # the seal is last
        try:
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as body:
                digest = _download(source, key, body)
                if digest is None:
                    if key in required:
                        raise BundleCheckError(f"s3://{source.bucket}/{key}: missing from the source store")
                    continue
                if key == keys.bundle and digest != sha256:
                    raise BundleCheckError(
                        f"s3://{source.bucket}/{key}: its bytes hash to {digest} while copying, but the stack pins {sha256}"
                    )
                (written if _put_once(target, key, body, digest) else present).append(key)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise BundleCheckError(f"s3://{target.bucket}/{key}: {error.get('Code', 'error')}: {error.get('Message', '')}") from None
        except BotoCoreError as exc:
            raise BundleCheckError(f"{key}: cannot reach S3: {exc}") from None
    verified = verify_bundle(target.client, target.bucket, model, version, expected_sha256=sha256)
    return CopyReport(tuple(written), tuple(present), verified)


def _download(store: BundleStore, key: str, out: BinaryIO) -> str | None:
    """Stream ``key`` into ``out`` (rewound) and return its sha256; None when the object does not exist."""
    from botocore.exceptions import ClientError

    try:
        body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise
    hasher = hashlib.sha256()
    for chunk in body.iter_chunks(_CHUNK_BYTES):
        hasher.update(chunk)
        out.write(chunk)
    out.seek(0)
    return hasher.hexdigest()


def _put_once(store: BundleStore, key: str, body: BinaryIO, sha256: str) -> bool:
    """Write ``key`` unless it exists (True: written); an existing object must have the same bytes."""
    from botocore.exceptions import ClientError

    try:
        store.client.put_object(Bucket=store.bucket, Key=key, Body=body, IfNoneMatch="*", ChecksumAlgorithm="SHA256")
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as existing:
        there = _download(store, key, existing)
    if there != sha256:
        raise BundleCheckError(
            f"s3://{store.bucket}/{key}: already exists with other bytes (sha256 {there}, the source's is {sha256}): "
            "a released version's objects never change; find out who wrote it before promoting"
        )
    return False
