"""A version and its digest change together (issue 17, item 1): check/diff --base refuse half a release,
and verify-pins checks each changed pin against the bundle store."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import modelctl.check as check_module
from modelctl.check import CheckResult
from tests.fixtures.release_env import BUNDLE, MODEL, NEW_DIGEST, NEW_VERSION, sha256_hex

KEY = f"model-platform:models.{MODEL}"
OLD_VERSION = "1.4.0"
LABEL = "stacks/Pulumi.staging.yaml"


def git(cwd, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True, capture_output=True
    )


#: A ``.git`` holding the one commit of a project copy, by the copy's files (made once per session).
_base_repos: dict[tuple[tuple[str, bytes], ...], Path] = {}


@pytest.fixture
def committed(project, monkeypatch, tmp_path_factory):
    """The project copy as a git repository with one commit: HEAD is the base revision.

    git makes the repository once per session; each test gets a copy of that ``.git`` (git re-reads
    the copied files' contents, so the work tree is clean as after the commit).
    """
    files = tuple(sorted((p.relative_to(project.root).as_posix(), p.read_bytes()) for p in project.root.rglob("*")
                         if p.is_file()))
    if files not in _base_repos:
        git(project.root, "init", "-q")
        git(project.root, "add", ".")
        git(project.root, "commit", "-qm", "base")
        _base_repos[files] = tmp_path_factory.mktemp("base-repo") / ".git"
        shutil.copytree(project.root / ".git", _base_repos[files])
    else:
        shutil.copytree(_base_repos[files], project.root / ".git")
    monkeypatch.chdir(project.root)
    return project


def old_digest(project) -> str:
    return project.config("staging").models[MODEL].bundle_sha256


def hand_edit(project, *, version: bool, digest: bool) -> None:
    if version:
        project.replace("staging", f"      version: {OLD_VERSION}\n", f"      version: {NEW_VERSION}\n")
    if digest:
        project.replace("staging", old_digest(project), NEW_DIGEST)


@pytest.fixture
def pack_passes(monkeypatch):
    """The pack's verdict is not under test here: every check_stack passes."""
    result = CheckResult("staging", "model-platform@test", "policies/staging.json", (), {}, {})
    monkeypatch.setattr(check_module, "check_stack", lambda *args, **kwargs: result)


HALF_RELEASES = {
    "version-without-digest": (
        dict(version=True, digest=False),
        f"{LABEL}: {KEY}.version: changed from '{OLD_VERSION}' to '{NEW_VERSION}', but {KEY}.bundleSha256 did not",
    ),
    "digest-without-version": (
        dict(version=False, digest=True),
        f"{LABEL}: {KEY}.bundleSha256: changed while {KEY}.version stayed '{OLD_VERSION}'",
    ),
}


@pytest.mark.parametrize("edit, message", HALF_RELEASES.values(), ids=HALF_RELEASES.keys())
def test_check_base_refuses_half_a_release(committed, cli, pack_passes, edit, message):
    hand_edit(committed, **edit)
    code, _, err = cli("check", "staging", "--base", "HEAD")
    assert code == 1
    assert message in err


@pytest.mark.parametrize("edit, message", HALF_RELEASES.values(), ids=HALF_RELEASES.keys())
def test_diff_base_refuses_half_a_release(committed, cli, edit, message):
    hand_edit(committed, **edit)
    code, out, err = cli("diff", "staging", "--base", "HEAD")
    assert code == 1
    assert message in err and out == ""


def test_check_base_passes_a_whole_release(committed, cli, pack_passes):
    hand_edit(committed, version=True, digest=True)
    code, out, err = cli("check", "staging", "--base", "HEAD")
    assert code == 0, err
    assert err == ""


def test_check_without_base_does_not_compare(project, cli, pack_passes):
    hand_edit(project, version=True, digest=False)
    assert cli("check", "staging")[0] == 0


def test_a_canarys_pin_is_a_pair_too(committed, cli, pack_passes):
    committed.replace(
        "staging",
        "      serving:\n        replicas: {min: 1, max: 3}",
        f"      canary:\n        version: 1.6.0-rc.1\n        bundleSha256: {sha256_hex(b'rc')}\n"
        "      serving:\n        replicas: {min: 1, max: 3}",
    )
    git(committed.root, "commit", "-qam", "canary")
    committed.replace("staging", "version: 1.6.0-rc.1", "version: 1.6.0-rc.2")
    code, _, err = cli("check", "staging", "--base", "HEAD")
    assert code == 1
    assert f"{KEY}.canary.version: changed from '1.6.0-rc.1' to '1.6.0-rc.2'" in err


# --------------------------------------------------------------------------- verify-pins (moto server)


def test_verify_pins_checks_a_changed_pin_against_the_store(committed, cli, s3):
    bucket = s3.create_bucket(committed.config("staging"))
    s3.release(bucket, NEW_VERSION, BUNDLE)
    hand_edit(committed, version=True, digest=True)

    code, out, err = cli("verify-pins", "staging", "--base", "HEAD")

    assert code == 0, err
    assert f"{LABEL}: {KEY}: verified s3://{bucket}/{MODEL}/{NEW_VERSION}/bundle.zip: sha256 {NEW_DIGEST}" in out


def test_verify_pins_refuses_a_digest_the_store_does_not_seal(committed, cli, s3):
    bucket = s3.create_bucket(committed.config("staging"))
    s3.release(bucket, NEW_VERSION, b"the bundle training really wrote")
    hand_edit(committed, version=True, digest=True)  # a digest copied from somewhere else

    code, _, err = cli("verify-pins", "staging", "--base", "HEAD")

    assert code == 1
    assert f"{LABEL}: {KEY}: s3://{bucket}/{MODEL}/{NEW_VERSION}/bundle.zip.sha256 says" in err
    assert f"but the stack pins {NEW_DIGEST}" in err


def test_verify_pins_with_base_skips_unchanged_pins(committed, cli, s3):
    s3.create_bucket(committed.config("staging"))  # empty: the unchanged pin 1.4.0 is not there
    code, out, err = cli("verify-pins", "staging", "--base", "HEAD")
    assert code == 0, err
    assert f"{LABEL}: no pin changed since HEAD" in out


def test_verify_pins_without_base_checks_every_pin(project, cli, s3):
    bucket = s3.create_bucket(project.config("staging"))
    code, _, err = cli("verify-pins", "staging")
    assert code == 1
    assert f"s3://{bucket}/{MODEL}/{OLD_VERSION}/bundle.zip.sha256: no digest file" in err


def test_verify_pins_without_store_access_says_so(project, cli, monkeypatch, tmp_path, shared_botocore_data):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code, _, err = cli("verify-pins", "staging")
    assert code == 0
    assert "1 pin(s) not verified: no read access to the bundle store" in err
    assert cli("verify-pins", "staging", "--require-access")[0] == 1


def test_a_stack_new_since_the_base_has_nothing_to_pair(committed, cli, pack_passes, s3):
    """A new stack file is all new pins: check --base passes it, verify-pins --base checks every pin."""
    new = committed.root / "stacks" / "Pulumi.staging-eu.yaml"
    new.write_bytes(committed.read("staging"))
    bucket = s3.create_bucket(committed.config("staging"))

    assert cli("check", str(new), "--base", "HEAD")[0] == 0
    code, _, err = cli("verify-pins", str(new), "--base", "HEAD")
    assert code == 1
    assert f"s3://{bucket}/{MODEL}/{OLD_VERSION}/bundle.zip.sha256: no digest file" in err
