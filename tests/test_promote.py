"""`modelctl promote`: a version validated in staging reaches prod as a reviewed two-line change."""

from __future__ import annotations

import re

import copy

import pytest
import yaml

from modelctl.stack_edit import BundlePin, StackDocument, plan_pin_change
from modelctl.stacks import resolve_stack
from tests.fixtures.release_env import BUNDLE, MODEL, NEW_DIGEST, NEW_VERSION, RUN_VERSION, sha256_hex

KEY = f"model-platform:models.{MODEL}"
PROMOTE = ("promote", MODEL, "--from", "staging", "--to", "prod")


#: Staging's bytes after ``released_to_staging``'s edit, by its bytes before.
_released_staging: dict[bytes, bytes] = {}


@pytest.fixture
def released_to_staging(project):
    """Staging serves NEW_VERSION (as `modelctl release` leaves it, without its report); prod does not yet.

    The edit is made once per session; later uses write the bytes it wrote (composing a stack file for an edit
    costs more than a promotion's checks).
    """
    before = project.read("staging")
    if before not in _released_staging:
        plan_pin_change(StackDocument(resolve_stack("staging")), MODEL, BundlePin(NEW_VERSION, NEW_DIGEST)).write()
        _released_staging[before] = project.read("staging")
    project.path("staging").write_bytes(_released_staging[before])
    assert project.config("staging").models[MODEL].version == NEW_VERSION
    assert project.config("prod").models[MODEL].version != NEW_VERSION
    return project


def test_promotion_copies_exactly_version_and_digest(released_to_staging, cli):
    project = released_to_staging
    # Staging differs from prod in much more than the pin: a canary, replicas, workers, schedule.
    project.replace(
        "staging",
        "      serving:\n        replicas: {min: 1, max: 3}",
        f"      canary:\n        version: 1.6.0-rc.1\n        bundleSha256: {sha256_hex(b'rc')}\n"
        "      serving:\n        replicas: {min: 1, max: 3}",
    )
    staging_before, prod_before = project.read("staging"), project.read("prod")

    code, out, err = cli(*PROMOTE)

    assert code == 0, err
    prod_after = project.read("prod")
    expected = copy.deepcopy(yaml.safe_load(prod_before))
    expected["config"]["model-platform:models"][MODEL].update(version=NEW_VERSION, bundleSha256=NEW_DIGEST)
    assert yaml.safe_load(prod_after) == expected, "only version and bundleSha256 change in prod"
    old_lines, new_lines = prod_before.decode().splitlines(True), prod_after.decode().splitlines(True)
    assert len(old_lines) == len(new_lines)
    changed = [(a, b) for a, b in zip(old_lines, new_lines) if a != b]
    assert [b.split(":")[0].strip() for _, b in changed] == ["version", "bundleSha256"]
    assert project.read("staging") == staging_before, "the source stack is only read"
    assert "+++ b/stacks/Pulumi.prod.yaml" in out and f"'{NEW_VERSION}'" in out


def test_promoting_the_version_prod_already_serves_says_so(released_to_staging, cli):
    project = released_to_staging
    assert cli(*PROMOTE)[0] == 0
    before = project.snapshot()

    code, out, _ = cli(*PROMOTE)

    assert code == 0
    assert f"stacks/Pulumi.prod.yaml: {KEY} is already {NEW_VERSION}" in out
    assert project.snapshot() == before


def test_dry_run_prints_the_change_and_writes_nothing(released_to_staging, cli):
    project = released_to_staging
    before = project.snapshot()

    code, out, _ = cli(*PROMOTE, "--dry-run")

    assert code == 0
    assert f"+      version: {NEW_VERSION}" in out and "dry run" in out
    assert project.snapshot() == before


# --------------------------------------------------------------------------- refusals (files untouched)


def test_a_model_missing_from_the_source_is_refused(project, cli):
    before = project.snapshot()
    code, _, err = cli("promote", "no-such-model", "--from", "staging", "--to", "prod")
    assert code == 2
    assert "stacks/Pulumi.staging.yaml: model-platform:models.no-such-model: no such model" in err
    assert project.snapshot() == before


def test_a_model_missing_from_the_target_must_be_added_deliberately(project, cli):
    staging = project.path("staging").read_text()
    entry = staging[staging.index(f"    {MODEL}:\n"):]
    project.path("staging").write_text(staging + entry.replace(f"    {MODEL}:", "    list-price:", 1))
    assert "list-price" in project.config("staging").models
    before = project.snapshot()

    code, _, err = cli("promote", "list-price", "--from", "staging", "--to", "prod")

    assert code == 2
    assert "stacks/Pulumi.prod.yaml: model-platform:models.list-price: no such model" in err
    assert "deliberately" in err
    assert project.snapshot() == before


def test_the_same_version_with_another_bundle_is_refused(project, cli):
    prod = project.config("prod").models[MODEL]
    project.replace("prod", prod.bundle_sha256, sha256_hex(b"a rebuilt bundle"))
    before = project.snapshot()

    code, _, err = cli(*PROMOTE)

    assert code == 1
    assert f"stacks/Pulumi.prod.yaml: {KEY}.bundleSha256: version {prod.version} is pinned to" in err
    assert project.snapshot() == before


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(("--from", "staging", "--to", "staging"), "same stack file", id="same-stack"),
        pytest.param(("--from", "staging", "--to", "qa"), "stacks/Pulumi.qa.yaml: no such stack file", id="unknown-target"),
        pytest.param(("--from", "staging"), "the following arguments are required: --to", id="no-target"),
    ],
)
def test_bad_stack_arguments_are_refused(released_to_staging, cli, args, message):
    project = released_to_staging
    before = project.snapshot()
    code, _, err = cli("promote", MODEL, *args)
    assert code == 2
    assert message in err
    assert project.snapshot() == before


def test_a_promotion_that_breaks_the_target_config_is_refused(released_to_staging, cli):
    project = released_to_staging
    project.replace(
        "prod",
        "      serving:\n        replicas: {min: 2, max: 10}",
        f"      canary:\n        version: {NEW_VERSION}\n        bundleSha256: {NEW_DIGEST}\n"
        "      serving:\n        replicas: {min: 2, max: 10}",
    )
    before = project.snapshot()
    code, _, err = cli(*PROMOTE)
    assert code == 2
    assert re.search(rf"stacks/Pulumi\.prod\.yaml:\d+: {re.escape(KEY)}\.canary\.version", err)
    assert project.snapshot() == before


# --------------------------------------------------------------------------- --verify (moto server)


def test_verify_checks_the_target_bucket_then_promotes(released_to_staging, cli, s3):
    project = released_to_staging
    bucket = s3.create_bucket(project.config("prod"))
    s3.release(bucket, NEW_VERSION, BUNDLE)

    code, out, err = cli(*PROMOTE, "--verify")

    assert code == 0, err
    assert f"verified s3://{bucket}/{MODEL}/{NEW_VERSION}/bundle.zip" in out
    assert project.config("prod").models[MODEL].version == NEW_VERSION


def test_verify_refuses_a_bundle_present_only_in_the_source_bucket(released_to_staging, cli, s3):
    project = released_to_staging
    s3.release(s3.create_bucket(project.config("staging")), NEW_VERSION, BUNDLE)
    prod_bucket = s3.create_bucket(project.config("prod"))
    before = project.snapshot()

    code, _, err = cli(*PROMOTE, "--verify")

    assert code == 1
    assert f"s3://{prod_bucket}/{MODEL}/{NEW_VERSION}/bundle.zip.sha256: no digest file" in err
    assert project.snapshot() == before


@pytest.mark.parametrize(
    "bundle, digest_file, message",
    [
        pytest.param(None, f"{NEW_DIGEST}  bundle.zip\n", "bundle.zip: no such bundle", id="bundle-missing"),
        pytest.param(b"another bundle", f"{sha256_hex(b'another bundle')}  bundle.zip\n", f"but the stack pins {NEW_DIGEST}", id="digest-differs-from-pin"),
        pytest.param(b"corrupted", f"{NEW_DIGEST}  bundle.zip\n", "its bytes hash to", id="bundle-disagrees-with-digest"),
    ],
)
def test_verify_refuses_a_target_bundle_that_does_not_check_out(released_to_staging, cli, s3, bundle, digest_file, message):
    project = released_to_staging
    bucket = s3.create_bucket(project.config("prod"))
    s3.upload(bucket, NEW_VERSION, bundle, digest_file)
    before = project.snapshot()

    code, _, err = cli(*PROMOTE, "--verify", "--dry-run")

    assert code == 1
    assert f"s3://{bucket}/{MODEL}/{NEW_VERSION}/" in err and message in err
    assert project.snapshot() == before


def test_a_training_runs_version_is_verified_in_the_target_and_promoted(project, cli, s3):
    document = StackDocument(resolve_stack("staging"))
    plan_pin_change(document, MODEL, BundlePin(RUN_VERSION, NEW_DIGEST)).write()
    bucket = s3.create_bucket(project.config("prod"))
    s3.release(bucket, RUN_VERSION, BUNDLE)

    code, out, err = cli(*PROMOTE, "--verify")

    assert code == 0, err
    assert f"verified s3://{bucket}/{MODEL}/{RUN_VERSION}/bundle.zip" in out
    served = project.config("prod").models[MODEL]
    assert (served.version, served.bundle_sha256) == (RUN_VERSION, NEW_DIGEST)


def test_verify_refuses_a_target_version_without_its_samples(released_to_staging, cli, s3):
    project = released_to_staging
    bucket = s3.create_bucket(project.config("prod"))
    s3.upload(bucket, NEW_VERSION, BUNDLE, f"{NEW_DIGEST}  bundle.zip\n", samples=None)
    before = project.snapshot()

    code, _, err = cli(*PROMOTE, "--verify")

    assert code == 1
    assert f"s3://{bucket}/{MODEL}/{NEW_VERSION}/samples.json: no samples.json" in err
    assert project.snapshot() == before


# --------------------------------------------------------------------------- --copy: staging's store to prod's (moto server)

METRICS = b'{"rmse": 9.5}'


def published_keys(version: str = NEW_VERSION) -> dict[str, str]:
    prefix = f"{MODEL}/{version}/"
    return {name: prefix + name for name in ("bundle.zip", "samples.json", "metrics.json", "stats.json", "bundle.zip.sha256")}


def objects(s3, bucket: str) -> dict[str, bytes]:
    listed = s3.client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


@pytest.fixture
def two_stores(released_to_staging, s3):
    """Staging's bucket holds the sealed NEW_VERSION with its metrics and stats; prod's bucket is empty."""
    project = released_to_staging
    staging = s3.create_bucket(project.config("staging"))
    prod = s3.create_bucket(project.config("prod"))
    assert staging != prod
    s3.release(staging, NEW_VERSION, BUNDLE)
    keys = published_keys()
    s3.client.put_object(Bucket=staging, Key=keys["metrics.json"], Body=METRICS)
    s3.client.put_object(Bucket=staging, Key=keys["stats.json"], Body=b"{}")
    return project, staging, prod


def test_copy_brings_the_version_to_prods_bucket_then_pins_it(two_stores, cli, s3):
    project, staging, prod = two_stores

    code, out, err = cli(*PROMOTE, "--copy")

    assert code == 0, err
    assert objects(s3, prod) == objects(s3, staging), "every object of the version, byte for byte"
    assert set(objects(s3, prod)) == set(published_keys().values())
    lines = out.splitlines()
    copied = [line for line in lines if line.startswith("copied ")]
    assert copied[-1].endswith("bundle.zip.sha256"), "the seal is written last"
    assert f"verified s3://{prod}/{MODEL}/{NEW_VERSION}/bundle.zip: sha256 {NEW_DIGEST}" in out
    served = project.config("prod").models[MODEL]
    assert (served.version, served.bundle_sha256) == (NEW_VERSION, NEW_DIGEST)


def test_copy_again_finds_identical_objects_and_is_fine(two_stores, cli, s3):
    project, staging, prod = two_stores
    s3.release(prod, NEW_VERSION, BUNDLE)  # an earlier, interrupted promotion: bundle, samples and seal already there

    code, out, err = cli(*PROMOTE, "--copy")

    assert code == 0, err
    assert f"already in s3://{prod}/{MODEL}/{NEW_VERSION}/bundle.zip (same bytes)" in out
    assert objects(s3, prod) == objects(s3, staging)
    assert project.config("prod").models[MODEL].version == NEW_VERSION


def test_copy_never_overwrites_a_different_object(two_stores, cli, s3):
    project, staging, prod = two_stores
    key = published_keys()["samples.json"]
    s3.client.put_object(Bucket=prod, Key=key, Body=b'{"rows": ["someone else\'s"]}')
    before = project.snapshot()

    code, _, err = cli(*PROMOTE, "--copy")

    assert code == 1
    assert f"s3://{prod}/{key}: already exists with other bytes" in err
    assert s3.client.get_object(Bucket=prod, Key=key)["Body"].read() == b'{"rows": ["someone else\'s"]}'
    assert published_keys()["bundle.zip.sha256"] not in objects(s3, prod), "no seal on a version that did not copy"
    assert project.snapshot() == before


@pytest.mark.parametrize(
    "bundle, digest_file, message",
    [
        pytest.param(b"another bundle", f"{sha256_hex(b'another bundle')}  bundle.zip\n", f"but the stack pins {NEW_DIGEST}", id="seal-differs-from-pin"),
        pytest.param(b"corrupted", f"{NEW_DIGEST}  bundle.zip\n", "its bytes hash to", id="bundle-differs-from-seal"),
        pytest.param(BUNDLE, None, "no digest file", id="unsealed"),
    ],
)
def test_copy_refuses_a_source_version_that_does_not_check_out(released_to_staging, cli, s3, bundle, digest_file, message):
    project = released_to_staging
    staging = s3.create_bucket(project.config("staging"))
    prod = s3.create_bucket(project.config("prod"))
    s3.upload(staging, NEW_VERSION, bundle, digest_file, sha256_checksum=False)
    before = project.snapshot()

    code, _, err = cli(*PROMOTE, "--copy")

    assert code == 1
    assert f"s3://{staging}/{MODEL}/{NEW_VERSION}/" in err and message in err
    assert objects(s3, prod) == {}, "nothing is copied from a version that does not check out"
    assert project.snapshot() == before


def test_copy_with_dry_run_checks_the_source_and_copies_nothing(two_stores, cli, s3):
    project, staging, prod = two_stores
    before = project.snapshot()

    code, out, err = cli(*PROMOTE, "--copy", "--dry-run")

    assert code == 0, err
    assert f"verified s3://{staging}/{MODEL}/{NEW_VERSION}/bundle.zip" in out
    assert f"(dry run: {MODEL}/{NEW_VERSION}/ not copied to s3://{prod})" in out
    assert objects(s3, prod) == {}
    assert project.snapshot() == before
