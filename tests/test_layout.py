"""The one S3 key layout: what training writes, serving reads and release checks."""

from __future__ import annotations

import hashlib

import pytest

from infra.layout import BundleKeys, bundle_keys, model_prefix, parse_digest_file


def test_keys_of_a_version_live_under_model_and_version():
    keys = bundle_keys("days-to-sell", "1.4.0")
    assert keys.prefix == "days-to-sell/1.4.0/"
    assert keys.bundle == "days-to-sell/1.4.0/bundle.zip"
    assert keys.digest == "days-to-sell/1.4.0/bundle.zip.sha256"
    assert keys.samples == "days-to-sell/1.4.0/samples.json"


def test_every_key_of_a_version_is_under_its_model_prefix():
    keys = bundle_keys("car-valuation", "2.0.0-rc.1+build.7")
    for key in (keys.bundle, keys.digest, keys.samples):
        assert key.startswith(model_prefix("car-valuation"))
        assert key.startswith(keys.prefix)


def test_uri_defaults_to_the_bundle():
    keys = bundle_keys("days-to-sell", "1.4.0")
    assert keys.uri("my-bucket") == "s3://my-bucket/days-to-sell/1.4.0/bundle.zip"
    assert keys.uri("my-bucket", keys.digest) == "s3://my-bucket/days-to-sell/1.4.0/bundle.zip.sha256"


def test_versions_do_not_share_keys():
    a, b = bundle_keys("days-to-sell", "1.4.0"), bundle_keys("days-to-sell", "1.4.1")
    assert not {a.bundle, a.digest, a.samples} & {b.bundle, b.digest, b.samples}


def test_model_prefixes_never_cover_another_model():
    # IAM scopes each model on "<prefix>*": "days/" must not reach "days-to-sell/".
    short, long_ = model_prefix("days"), model_prefix("days-to-sell")
    assert short.endswith("/")
    assert not long_.startswith(short)
    assert not bundle_keys("days-to-sell", "1.0.0").bundle.startswith(short)


@pytest.mark.parametrize("model", ["", "a/b", "Days", "days*", "days?", "-days", "x" * 41, "days_to_sell"])
def test_model_names_that_are_not_dns_labels_are_refused(model):
    with pytest.raises(ValueError, match="model name"):
        model_prefix(model)
    with pytest.raises(ValueError):
        bundle_keys(model, "1.0.0")


@pytest.mark.parametrize("version", ["", "1/2", ".", "..", "1.0.0*", "1.0 .0", "-1"])
def test_versions_that_are_not_one_key_segment_are_refused(version):
    with pytest.raises(ValueError, match="version"):
        bundle_keys("days-to-sell", version)
    with pytest.raises(ValueError, match="version"):
        BundleKeys("days-to-sell", version)


def test_digest_file_in_sha256sum_format_or_bare():
    digest = hashlib.sha256(b"bundle").hexdigest()
    assert parse_digest_file(f"{digest}  bundle.zip\n") == digest
    assert parse_digest_file(f"{digest} *bundle.zip") == digest
    assert parse_digest_file(digest) == digest
    assert parse_digest_file(digest.upper() + "\n") == digest


@pytest.mark.parametrize("text", ["", "   \n", "abc", "g" * 64, "a" * 63, "a" * 65 + "  bundle.zip"])
def test_malformed_digest_files_are_refused(text):
    with pytest.raises(ValueError):
        parse_digest_file(text)
