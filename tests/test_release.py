"""`modelctl release`: a new model version is a reviewed two-line change to a stack file."""

from __future__ import annotations

import re

import pytest

from modelctl.stack_edit import PinChange
from tests.fixtures.release_env import BUNDLE, MODEL, NEW_DIGEST, NEW_VERSION, RUN_VERSION, sha256_hex

KEY = f"model-platform:models.{MODEL}"
#: The one message for a bad version, wherever it is checked.
NOT_A_VERSION = (
    "is not a model version: 1 to 63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit "
    "(e.g. 1.4.0 or 2026-12-02-884422)"
)


def changed_lines(before: bytes, after: bytes) -> list[tuple[str, str]]:
    """(old, new) for every line that differs; the files must have the same number of lines."""
    old, new = before.decode().splitlines(True), after.decode().splitlines(True)
    assert len(old) == len(new), "lines were added or removed"
    return [(a, b) for a, b in zip(old, new) if a != b]


def assert_only_pin_changed(
    before: bytes, after: bytes, old_version: str, old_digest: str, digest: str, version: str = NEW_VERSION
) -> None:
    """Exactly the version line and the digest line changed, each only in its value."""
    changed = changed_lines(before, after)
    assert len(changed) == 2, changed
    (old_v, new_v), (old_d, new_d) = changed
    assert "version:" in old_v and old_v.replace(old_version, version) == new_v
    assert "bundleSha256:" in old_d and old_d.replace(old_digest, digest) == new_d


@pytest.fixture
def unplanned(monkeypatch):
    """For tests of the file edit alone: the release skips its plan diff.

    Each version or digest these tests write is a stack content no other test
    plans (~0.6 s a plan); what a release prints of the plan is asserted by
    test_release_prints_the_file_change_and_what_it_does_to_the_stack and
    test_a_training_runs_version_is_released_like_any_other.
    """
    monkeypatch.setattr(PinChange, "plan_diff", lambda change: "(plan diff not computed in this test)")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_release_changes_only_the_pin_lines(project, cli, stack):
    before = project.read(stack)
    old = project.config(stack).models[MODEL]

    code, out, err = cli("release", MODEL, NEW_VERSION, "--stack", stack, "--sha256", NEW_DIGEST)

    assert code == 0, err
    assert_only_pin_changed(before, project.read(stack), old.version, old.bundle_sha256, NEW_DIGEST)
    new = project.config(stack).models[MODEL]
    assert (new.version, new.bundle_sha256) == (NEW_VERSION, NEW_DIGEST)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_training_runs_version_is_released_like_any_other(project, cli, stack):
    before = project.read(stack)
    old = project.config(stack).models[MODEL]

    code, out, err = cli("release", MODEL, RUN_VERSION, "--stack", stack, "--sha256", NEW_DIGEST)

    assert code == 0, err
    assert_only_pin_changed(before, project.read(stack), old.version, old.bundle_sha256, NEW_DIGEST, RUN_VERSION)
    assert (project.config(stack).models[MODEL].version) == RUN_VERSION
    assert f"modelVersions.{MODEL}: '{old.version}' => '{RUN_VERSION}'" in out
    assert "databricks:index/job:Job" not in out, "a release never changes the training job"


@pytest.mark.parametrize("version", ["1.10", "2026-12-02", "1e5", "884422123"])
def test_a_version_yaml_would_read_as_a_number_or_date_is_written_quoted(project, cli, unplanned, version):
    code, _, err = cli("release", MODEL, version, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 0, err
    assert f'      version: "{version}"\n' in project.read("staging").decode()
    assert project.config("staging").models[MODEL].version == version


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda t: t.replace("version: 1.4.0", 'version:   "1.4.0"   # pinned by hand'), id="quoted-with-comment"),
        pytest.param(lambda t: t.replace("bundleSha256: ", "bundleSha256: '", 1).replace(
            "a1b2c3\n      training", "a1b2c3'\n      training"), id="single-quoted-digest"),
        pytest.param(lambda t: t.replace("replicas: {min: 1, max: 3}", "replicas: { min: 1,  max: 3 }"), id="spaced-flow-map"),
        pytest.param(lambda t: t.replace("numWorkers: 2", "numWorkers:    2"), id="aligned-values"),
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: t.rstrip("\n"), id="no-final-newline"),
    ],
)
def test_hand_formatting_survives_byte_for_byte(project, cli, layout):
    path = project.path("staging")
    path.write_bytes(layout(path.read_bytes().decode()).encode())
    before = project.read("staging")
    old = project.config("staging").models[MODEL]

    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)

    assert code == 0, err
    after = project.read("staging")
    assert_only_pin_changed(before, after, old.version, old.bundle_sha256, NEW_DIGEST)
    assert after.endswith(b"\n") == before.endswith(b"\n")
    assert project.config("staging").models[MODEL].version == NEW_VERSION


def test_release_prints_the_file_change_and_what_it_does_to_the_stack(project, cli):
    old_version = project.config("staging").models[MODEL].version

    code, out, _ = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)

    assert code == 0
    assert "+++ b/stacks/Pulumi.staging.yaml" in out
    assert f"+      bundleSha256: {NEW_DIGEST}" in out
    assert f"modelVersions.{MODEL}: '{old_version}' => '{NEW_VERSION}'" in out  # the plan diff (modelctl diff)
    assert "wrote stacks/Pulumi.staging.yaml" in out


def test_uppercase_digest_is_written_lowercase(project, cli):
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST.upper())
    assert code == 0, err
    assert project.config("staging").models[MODEL].bundle_sha256 == NEW_DIGEST


def test_an_all_digit_digest_stays_a_string(project, cli, unplanned):
    all_digits = "0123456789" * 6 + "0123"
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", all_digits)
    assert code == 0, err
    assert project.config("staging").models[MODEL].bundle_sha256 == all_digits


def test_dry_run_prints_the_change_and_writes_nothing(project, cli):
    before = project.snapshot()
    code, out, _ = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST, "--dry-run")
    assert code == 0
    assert f"+      version: {NEW_VERSION}" in out and "dry run" in out
    assert project.snapshot() == before


def test_releasing_the_pinned_version_again_is_a_no_op(project, cli):
    current = project.config("staging").models[MODEL]
    before = project.snapshot()
    code, out, _ = cli("release", MODEL, current.version, "--stack", "staging", "--sha256", current.bundle_sha256)
    assert code == 0
    assert "already" in out
    assert project.snapshot() == before


# --------------------------------------------------------------------------- refusals (files untouched)


@pytest.mark.parametrize(
    "args, exit_code, message",
    [
        pytest.param(
            (MODEL, "1.5.0+build.7", "--sha256", NEW_DIGEST),
            2,
            f"stacks/Pulumi.staging.yaml: {KEY}.version: '1.5.0+build.7' {NOT_A_VERSION}",
            id="not-a-version",
        ),
        pytest.param((MODEL, "_run", "--sha256", NEW_DIGEST), 2, f"{KEY}.version: '_run' {NOT_A_VERSION}", id="bad-first-character"),
        pytest.param((MODEL, NEW_VERSION, "--sha256", "abc123"), 2, f"stacks/Pulumi.staging.yaml: {KEY}.bundleSha256: 'abc123'", id="bad-digest"),
        pytest.param(("no-such-model", NEW_VERSION, "--sha256", NEW_DIGEST), 2, "model-platform:models.no-such-model: no such model", id="unknown-model"),
        pytest.param((MODEL, NEW_VERSION), 2, "one of the arguments --sha256 --from-s3 is required", id="no-digest-source"),
        pytest.param((MODEL, NEW_VERSION, "--sha256", NEW_DIGEST, "--from-s3"), 2, "not allowed with", id="two-digest-sources"),
    ],
)
def test_bad_input_is_refused_with_exit_2(project, cli, args, exit_code, message):
    before = project.snapshot()
    code, _, err = cli("release", *args, "--stack", "staging")
    assert code == exit_code
    assert message in err
    assert project.snapshot() == before


def test_unknown_stack_is_refused(project, cli):
    before = project.snapshot()
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "qa", "--sha256", NEW_DIGEST)
    assert code == 2
    assert "stacks/Pulumi.qa.yaml: no such stack file" in err
    assert project.snapshot() == before


def test_a_released_version_cannot_change_its_bundle(project, cli):
    pinned = project.config("staging").models[MODEL].version
    before = project.snapshot()
    code, _, err = cli("release", MODEL, pinned, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 1
    assert f"stacks/Pulumi.staging.yaml: {KEY}.bundleSha256: version {pinned} is pinned to" in err
    assert project.snapshot() == before


def test_an_edit_that_breaks_the_stack_config_is_refused(project, cli):
    # A canary of 1.5.0 is already running: serving 1.5.0 as the main version too is invalid config.
    project.replace(
        "staging",
        "      serving:\n        replicas: {min: 1, max: 3}",
        f"      canary:\n        version: {NEW_VERSION}\n        bundleSha256: {NEW_DIGEST}\n"
        "      serving:\n        replicas: {min: 1, max: 3}",
    )
    before = project.snapshot()
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 2
    assert re.search(rf"stacks/Pulumi\.staging\.yaml:\d+: {re.escape(KEY)}\.canary\.version", err)
    assert project.snapshot() == before


def test_a_pin_shared_through_a_yaml_alias_is_not_edited(project, cli):
    pinned = project.config("staging").models[MODEL].version
    project.replace("staging", f"      version: {pinned}\n", f"      version: &served {pinned}\n")
    before = project.snapshot()
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 2
    assert f"{KEY}.version: is a YAML anchor or alias" in err
    assert project.snapshot() == before


def test_a_failed_write_leaves_the_file_and_no_temporary_file(project, cli, monkeypatch):
    before = project.snapshot()

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("modelctl.stack_edit.os.replace", fail)
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 2
    assert err.strip().splitlines()[-1] == f"modelctl: {project.path('staging')}: No space left on device"
    assert project.snapshot() == before


STAGING_ENTRY = "config:\n  model-platform:environment: staging\n  model-platform:models:\n"


@pytest.mark.parametrize(
    "models_block, message",
    [
        pytest.param(
            f"    {MODEL}: null\n    other:\n      version: 1.0.0\n",
            f"{KEY}: is not a mapping of the model's settings (it is null)",
            id="model-entry-null",
        ),
        pytest.param(
            f"    {MODEL}: [1.4.0]\n",
            f"{KEY}: is not a mapping of the model's settings (it is a list)",
            id="model-entry-list",
        ),
        pytest.param(
            f"    {MODEL}:\n      version: [1]\n      bundleSha256: {NEW_DIGEST}\n",
            f"{KEY}.version: is not a single value (it is a list)",
            id="version-list",
        ),
        pytest.param(
            f"    {MODEL}:\n      bundleSha256: {NEW_DIGEST}\n",
            f"{KEY}.version: not set in this model's entry",
            id="version-missing",
        ),
        pytest.param("    other:\n      version: 1.0.0\n", f"{KEY}: no such model (models: other)", id="model-missing"),
    ],
)
def test_a_malformed_models_block_is_described_as_it_is(project, cli, models_block, message):
    project.path("staging").write_text(STAGING_ENTRY + models_block)
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 2
    assert f"stacks/Pulumi.staging.yaml: {message}" in err


@pytest.mark.parametrize(
    "text, message",
    [
        ("config:\n  model-platform:models: [a, b]\n", "model-platform:models: is not a mapping of model names (it is a list)"),
        ("config:\n  model-platform:environment: staging\n", "model-platform:models: no models block"),
    ],
)
def test_a_models_key_that_is_not_a_block_is_described_as_it_is(project, cli, text, message):
    project.path("staging").write_text(text)
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 2
    assert f"stacks/Pulumi.staging.yaml: {message}" in err


def test_a_file_changed_during_the_edit_is_not_overwritten(project, cli, monkeypatch):
    path = project.path("staging")
    plan_diff = PinChange.plan_diff

    def someone_else_edits(change: PinChange) -> str:
        path.write_bytes(path.read_bytes() + b"# concurrent edit\n")
        return plan_diff(change)

    monkeypatch.setattr(PinChange, "plan_diff", someone_else_edits)
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 2
    assert "changed on disk" in err
    assert path.read_bytes().endswith(b"# concurrent edit\n")
    assert project.config("staging").models[MODEL].version != NEW_VERSION


# --------------------------------------------------------------------------- --from-s3 (moto server)


@pytest.mark.parametrize("version", [NEW_VERSION, RUN_VERSION])
@pytest.mark.parametrize("sha256_checksum, checked_by", [(True, "S3 SHA256 checksum"), (False, "downloaded and hashed")])
def test_from_s3_pins_the_digest_of_the_uploaded_bundle(project, cli, s3, sha256_checksum, checked_by, version):
    bucket = s3.create_bucket(project.config("staging"))
    digest = s3.release(bucket, version, BUNDLE, sha256_checksum=sha256_checksum)
    old = project.config("staging").models[MODEL]
    before = project.read("staging")

    code, out, err = cli("release", MODEL, version, "--stack", "staging", "--from-s3")

    assert code == 0, err
    assert f"verified s3://{bucket}/{MODEL}/{version}/bundle.zip" in out and checked_by in out
    assert_only_pin_changed(before, project.read("staging"), old.version, old.bundle_sha256, digest, version)


def test_from_s3_refuses_a_version_without_samples_naming_the_seal(project, cli, s3):
    bucket = s3.create_bucket(project.config("staging"))
    bundle = b"mleap bundle of a run that never checked its samples"
    s3.upload(bucket, RUN_VERSION, bundle, f"{sha256_hex(bundle)}  bundle.zip\n", samples=None)
    before = project.snapshot()

    code, _, err = cli("release", MODEL, RUN_VERSION, "--stack", "staging", "--from-s3")

    assert code == 1
    assert f"s3://{bucket}/{MODEL}/{RUN_VERSION}/samples.json: no samples.json" in err
    assert "the seal check_bundle writes last" in err
    assert project.snapshot() == before


def test_from_s3_refuses_an_unsealed_version_saying_what_the_seal_is(project, cli, s3):
    bucket = s3.create_bucket(project.config("staging"))
    s3.upload(bucket, RUN_VERSION, b"bundle of a run that failed check_bundle", None)
    before = project.snapshot()

    code, _, err = cli("release", MODEL, RUN_VERSION, "--stack", "staging", "--from-s3")

    assert code == 1
    assert f"s3://{bucket}/{MODEL}/{RUN_VERSION}/bundle.zip.sha256: no digest file: it is the version's seal" in err
    assert "only after the MLeap runtime reproduced samples.json" in err
    assert project.snapshot() == before


@pytest.mark.parametrize(
    "bundle, digest_file, sha256_checksum, message",
    [
        pytest.param(None, f"{sha256_hex(BUNDLE)}  bundle.zip\n", True, "bundle.zip: no such bundle", id="bundle-missing"),
        pytest.param(BUNDLE, None, True, "bundle.zip.sha256: no digest file", id="digest-file-missing"),
        pytest.param(BUNDLE, "not a digest\n", True, "bundle.zip.sha256: not a sha256 digest file", id="digest-file-malformed"),
        pytest.param(BUNDLE, f"{sha256_hex(b'other')}  bundle.zip\n", True, "(S3 SHA256 checksum)", id="s3-checksum-disagrees"),
        pytest.param(BUNDLE, f"{sha256_hex(b'other')}  bundle.zip\n", False, "(downloaded and hashed)", id="downloaded-bytes-disagree"),
    ],
)
def test_from_s3_refuses_a_bundle_that_does_not_check_out(project, cli, s3, bundle, digest_file, sha256_checksum, message):
    bucket = s3.create_bucket(project.config("staging"))
    s3.upload(bucket, NEW_VERSION, bundle, digest_file, sha256_checksum=sha256_checksum)
    before = project.snapshot()

    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--from-s3")

    assert code == 1
    assert f"s3://{bucket}/{MODEL}/{NEW_VERSION}/" in err and message in err
    assert project.snapshot() == before


def test_from_s3_refuses_when_the_stack_bucket_does_not_exist(project, cli, s3):
    before = project.snapshot()
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--from-s3")
    assert code == 1
    assert f"s3://{project.config('staging').bucket_name}: no such bucket" in err
    assert project.snapshot() == before


def test_from_s3_checks_the_version_before_calling_s3(project, cli, s3):
    before = project.snapshot()
    code, _, err = cli("release", MODEL, "latest/1", "--stack", "staging", "--from-s3")
    assert code == 2
    assert f"{KEY}.version: 'latest/1' {NOT_A_VERSION}" in err
    assert project.snapshot() == before
