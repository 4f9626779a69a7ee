"""The one S3 key layout: what training writes, serving reads and release checks."""

from __future__ import annotations

import hashlib
import json

import pytest

from infra.contract.layout import (
    RUN_VERSION,
    WORK_PREFIX,
    BundleKeys,
    bundle_keys,
    bundle_uri,
    model_prefix,
    parse_digest_file,
    released_document,
    released_key,
    run_keys,
    work_prefix,
)
from infra.contract.model_version import is_model_version
from infra.contract.naming import (
    PLATFORM_TAG_KEYS,
    aws_tags,
    k8s_labels,
    label_value,
    physical_name,
    training_role_name,
)


def test_keys_of_a_version_live_under_model_and_version():
    keys = bundle_keys("days-to-sell", "1.4.0")
    assert keys.prefix == "days-to-sell/1.4.0/"
    assert keys.bundle == "days-to-sell/1.4.0/bundle.zip"
    assert keys.digest == "days-to-sell/1.4.0/bundle.zip.sha256"
    assert keys.samples == "days-to-sell/1.4.0/samples.json"
    assert keys.metrics == "days-to-sell/1.4.0/metrics.json"
    assert keys.stats == "days-to-sell/1.4.0/stats.json"
    assert keys.work == "_work/days-to-sell/1.4.0/"
    assert keys.released == "days-to-sell/released.json"


def test_the_digest_file_is_published_last_as_the_seal():
    keys = bundle_keys("days-to-sell", "2026-12-02-884422123")
    assert keys.published[-1] == keys.digest
    assert set(keys.published) == {keys.bundle, keys.samples, keys.metrics, keys.stats, keys.digest}


def test_scratch_and_released_json_are_outside_every_versions_folder():
    keys = bundle_keys("days-to-sell", "1.4.0")
    assert not keys.work.startswith(model_prefix("days-to-sell")) and keys.work.startswith(WORK_PREFIX)
    assert work_prefix("days-to-sell") == "_work/days-to-sell/"
    assert not released_key("days-to-sell").startswith(keys.prefix)
    # No model's prefix can start with '_': scratch never falls under a model's published keys.
    with pytest.raises(ValueError):
        model_prefix("_work")


def test_run_keys_name_the_version_databricks_resolves_at_run_time():
    keys = run_keys("days-to-sell")
    assert keys.version == RUN_VERSION == "{{job.start_time.iso_date}}-{{job.run_id}}"
    assert keys.bundle == "days-to-sell/{{job.start_time.iso_date}}-{{job.run_id}}/bundle.zip"
    resolved = RUN_VERSION.replace("{{job.start_time.iso_date}}", "2026-12-02").replace("{{job.run_id}}", "884422123")
    assert resolved == "2026-12-02-884422123" and is_model_version(resolved)


@pytest.mark.parametrize("version", ["1.4.0", "2026-12-02-884422123", "1.5.0-rc.1", "v2", "a" * 63, "7"])
def test_a_version_is_one_key_segment_and_a_label_value_as_is(version):
    keys = bundle_keys("days-to-sell", version)
    assert keys.prefix == f"days-to-sell/{version}/"
    assert label_value(version) == version


def test_released_json_names_the_served_version_and_its_files_with_sorted_keys():
    text = released_document(bucket="b", model="days-to-sell", version="2026-12-02-884422123", bundle_sha256="a" * 64)
    document = json.loads(text)
    keys = bundle_keys("days-to-sell", "2026-12-02-884422123")
    assert document == {
        "model": "days-to-sell",
        "version": "2026-12-02-884422123",
        "bundleSha256": "a" * 64,
        "files": {
            "bundle": f"s3://b/{keys.bundle}",
            "digest": f"s3://b/{keys.digest}",
            "samples": f"s3://b/{keys.samples}",
            "metrics": f"s3://b/{keys.metrics}",
            "stats": f"s3://b/{keys.stats}",
        },
    }
    assert text == json.dumps(document, sort_keys=True, indent=2) + "\n", "the same release always gives the same bytes"
    with pytest.raises(ValueError, match="not a model version"):
        released_document(bucket="b", model="days-to-sell", version="1.4.0+b", bundle_sha256="a" * 64)


def test_every_key_of_a_version_is_under_its_model_prefix():
    keys = bundle_keys("car-valuation", "2.0.0-rc.1")
    for key in (keys.bundle, keys.digest, keys.samples):
        assert key.startswith(model_prefix("car-valuation"))
        assert key.startswith(keys.prefix)


def test_uri_defaults_to_the_bundle():
    keys = bundle_keys("days-to-sell", "1.4.0")
    assert keys.uri("my-bucket") == "s3://my-bucket/days-to-sell/1.4.0/bundle.zip"
    assert keys.uri("my-bucket", keys.digest) == "s3://my-bucket/days-to-sell/1.4.0/bundle.zip.sha256"


def test_the_bundle_uri_is_the_keys_uri_of_the_bundle():
    """One spelling of a bundle's URI, for serving, training and the DAG alike."""
    assert bundle_uri(bucket="my-bucket", model="days-to-sell", version="1.4.0") == bundle_keys("days-to-sell", "1.4.0").uri(
        "my-bucket"
    )
    with pytest.raises(ValueError, match="is not a model version"):
        bundle_uri(bucket="my-bucket", model="days-to-sell", version="1.4.0+build")


def test_names_tags_and_labels_come_from_plain_values():
    """The contract's naming needs no stack config: the environment name and the stack's tags."""
    assert physical_name("days-to-sell", "reader", environment="prod") == "model-platform-prod-days-to-sell-reader"
    assert training_role_name(environment="staging") == "model-platform-staging-training"
    tags = aws_tags(environment="prod", tags={"team": "pricing", "project": "spoof"}, model="days-to-sell")
    assert tags == {"team": "pricing", "project": "model-platform", "environment": "prod", "managed-by": "pulumi", "model": "days-to-sell"}
    assert set(aws_tags(environment="prod", tags={})) == set(PLATFORM_TAG_KEYS) - {"model"}
    labels = k8s_labels(environment="prod", tags={"team": "pricing"}, model="days-to-sell", version="1.4.0+x")
    assert labels["app.kubernetes.io/part-of"] == "model-platform"
    assert labels["app.kubernetes.io/version"] == "1.4.0_x"
    assert labels["model-platform/team"] == "pricing"
    assert "app.kubernetes.io/version" not in k8s_labels(environment="prod", tags={}, model="days-to-sell", version=None)


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


@pytest.mark.parametrize(
    "version", ["", "1/2", ".", "..", "1.0.0*", "1.0 .0", "-1", "1.0.0+build.7", "1.0.", "a" * 64, "{{job.run_id}}"]
)
def test_versions_that_are_not_one_key_segment_are_refused(version):
    with pytest.raises(ValueError, match="is not a model version: 1 to 63 letters"):
        bundle_keys("days-to-sell", version)
    with pytest.raises(ValueError, match="is not a model version"):
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
