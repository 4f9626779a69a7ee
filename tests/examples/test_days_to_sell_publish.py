"""Publishing a version: conditional single-request writes, idempotent retries, no overwrite (moto's S3 API)."""

from __future__ import annotations

import os

import pytest

import tests.examples.days_to_sell_support  # noqa: F401  (puts the package's source on sys.path)
from days_to_sell.publish import PublishConflict, publish_all, publish_once, sha256_hex


def test_a_new_key_is_written_with_its_sha256_checksum(s3_env):
    uri = s3_env.uri("days-to-sell/v1/metrics.json")
    published = publish_once(uri, b'{"value": 6.1}\n')
    assert (published.outcome, published.sha256) == ("written", sha256_hex(b'{"value": 6.1}\n'))
    assert s3_env.get("days-to-sell/v1/metrics.json") == b'{"value": 6.1}\n'
    head = s3_env.client.head_object(Bucket=s3_env.bucket, Key="days-to-sell/v1/metrics.json", ChecksumMode="ENABLED")
    assert head["ContentType"] == "application/json"
    assert "ChecksumSHA256" in head


def test_a_retry_with_identical_bytes_is_fine(s3_env):
    uri = s3_env.uri("days-to-sell/v2/samples.json")
    publish_once(uri, b"same")
    assert publish_once(uri, b"same").outcome == "unchanged"
    assert s3_env.get("days-to-sell/v2/samples.json") == b"same"


def test_different_bytes_are_refused_and_the_published_object_is_kept(s3_env):
    uri = s3_env.uri("days-to-sell/v3/bundle.zip")
    publish_once(uri, b"first bundle")
    with pytest.raises(PublishConflict) as raised:
        publish_once(uri, b"second bundle")
    message = str(raised.value)
    assert message.startswith(f"{uri} is already published with different content")
    assert "Start a new run" in message
    assert s3_env.get("days-to-sell/v3/bundle.zip") == b"first bundle"


def test_publishing_stops_at_the_first_conflict(s3_env):
    prefix = "days-to-sell/v4/"
    publish_once(s3_env.uri(prefix + "metrics.json"), b"old metrics")
    objects = [(s3_env.uri(prefix + "samples.json"), b"s"), (s3_env.uri(prefix + "metrics.json"), b"new metrics"), (s3_env.uri(prefix + "bundle.zip"), b"b")]
    with pytest.raises(PublishConflict):
        publish_all(objects)
    assert s3_env.keys(prefix) == [prefix + "metrics.json", prefix + "samples.json"]  # no bundle after the conflict


def test_a_large_bundle_goes_in_one_request_not_multipart(s3_env):
    """upload_file would split 9 MB into parts (its threshold is 8 MB); a multipart ETag ends in -<parts>."""
    data = os.urandom(9 * 1024 * 1024)
    publish_once(s3_env.uri("days-to-sell/v5/bundle.zip"), data)
    etag = s3_env.client.head_object(Bucket=s3_env.bucket, Key="days-to-sell/v5/bundle.zip")["ETag"]
    assert "-" not in etag.strip('"')
    assert s3_env.get("days-to-sell/v5/bundle.zip") == data


def test_s3_errors_name_the_uri_instead_of_a_traceback(s3_env):
    from days_to_sell.errors import TaskError
    from days_to_sell.storage import read_bytes, read_json

    assert read_bytes(s3_env.uri("days-to-sell/released.json")) is None  # a missing key is an answer, not an error
    with pytest.raises(TaskError, match=r"cannot read s3://no-such-bucket-h1/x.json: .*NoSuchBucket.*the bucket does not exist"):
        read_json("s3://no-such-bucket-h1/x.json")
    with pytest.raises(TaskError, match=r"cannot publish s3://no-such-bucket-h1/m/v/bundle.zip: .*NoSuchBucket"):
        publish_once("s3://no-such-bucket-h1/m/v/bundle.zip", b"x")
