"""The release step against a stand-in of GitHub's REST API: one branch, one two-line commit, one pull request.

The code is the delivered package's (``model_platform_dags.github``, with
modelctl's ``pin_edit`` beside it), imported from the DAG folder as Airflow
imports it.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import pytest

from tests.conftest import STACKS
from tests.dags.stand_ins import GitHub as GitHubStandIn

REPOSITORY = "acme/model-platform"
STACK_FILE = "stacks/Pulumi.staging.yaml"
VERSION = "2026-12-02-884422123"
DIGEST = hashlib.sha256(b"bundle of the run").hexdigest()
TOKEN = "github_pat_11AAAAAAA0123456789_stand_in_token_abcdefghijklmnop"


@pytest.fixture(scope="module")
def github_server() -> Iterator[GitHubStandIn]:
    server = GitHubStandIn(REPOSITORY, {})
    yield server
    server.stop()


@pytest.fixture
def github(github_server: GitHubStandIn) -> GitHubStandIn:
    """The repository with the committed staging stack file on main."""
    github_server.reset_repository({STACK_FILE: (STACKS / "Pulumi.staging.yaml").read_text()})
    return github_server


@pytest.fixture(scope="module")
def release(staging_dags):
    """``model_platform_dags.github`` and ``pin_edit``, as delivered."""
    from model_platform_dags import github, pin_edit

    return github, pin_edit


def request(release, *, version: str = VERSION, digest: str = DIGEST):
    github, pin_edit = release
    return github.ReleaseRequest(
        model="days-to-sell",
        pin=pin_edit.BundlePin(version, digest),
        base_branch="main",
        stack_file=STACK_FILE,
        title=f"Release days-to-sell {version} to staging",
        body="model, version, digest, metric",
    )


def client(release, server: GitHubStandIn, token: str = TOKEN):
    return release[0].GitHub(server.url, REPOSITORY, token)


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(True), after.splitlines(True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new) if a != b]


def test_a_release_is_one_branch_one_two_line_commit_and_one_pull_request(release, github):
    base = github.branches["main"][STACK_FILE]

    result = release[0].open_release_pull_request(client(release, github), request(release))

    assert (result.outcome, result.branch, result.number) == ("opened", f"release/days-to-sell-{VERSION}", 1)
    ((branch, path, text),) = github.commits
    assert (branch, path) == (result.branch, STACK_FILE)
    assert changed_lines(base, text) == [
        ("      version: 1.4.0\n", f"      version: {VERSION}\n"),
        (
            "      bundleSha256: 3b0c8a3a8f2e1f4d5c6b7a8990a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3\n",
            f"      bundleSha256: {DIGEST}\n",
        ),
    ]
    (pull,) = github.pulls
    assert (pull.head, pull.base, pull.title) == (result.branch, "main", f"Release days-to-sell {VERSION} to staging")
    assert github.branches["main"][STACK_FILE] == base, "nothing is pushed to the base branch"
    assert {c.authorization for c in github.calls} == {f"Bearer {TOKEN}"}
    assert "+      version: 2026-12-02-884422123" in result.diff


def test_a_retry_reuses_the_branch_and_finds_the_pull_request_without_a_second_commit(release, github):
    first = release[0].open_release_pull_request(client(release, github), request(release))
    github.reset()

    again = release[0].open_release_pull_request(client(release, github), request(release))

    assert (again.outcome, again.url) == ("found", first.url)
    assert len(github.commits) == 1 and len(github.pulls) == 1
    assert ("PUT", f"contents/{STACK_FILE}") not in github.endpoints()


def test_a_version_the_base_already_pins_needs_no_pull_request(release, github):
    result = release[0].open_release_pull_request(
        client(release, github),
        request(release, version="1.4.0", digest="3b0c8a3a8f2e1f4d5c6b7a8990a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3"),
    )
    assert result.outcome == "unchanged"
    assert github.endpoints() == [("GET", "git/ref/heads/main"), ("GET", f"contents/{STACK_FILE}")]


def test_a_version_pinned_to_another_digest_is_refused_and_nothing_is_written(release, github):
    pin_edit = release[1]
    with pytest.raises(pin_edit.PinConflict, match="a released version's bundle must not change"):
        release[0].open_release_pull_request(client(release, github), request(release, version="1.4.0"))
    assert not github.commits and not github.pulls and set(github.branches) == {"main"}


def test_a_refused_token_says_what_to_check_and_never_shows_the_token(release, github, monkeypatch):
    """The module's stand-in answers 401 to every call for this test: no second server to start and stop."""
    github_module = release[0]
    monkeypatch.setattr(github, "route", lambda call: (401, {"message": "Bad credentials"}))

    with pytest.raises(github_module.GitHubError) as raised:
        github_module.open_release_pull_request(client(release, github), request(release))
    message = str(raised.value)
    assert "401 Bad credentials (the token of the release connection is wrong or expired)" in message
    assert TOKEN not in message and TOKEN not in repr(client(release, github))
    assert {c.authorization for c in github.calls} == {f"Bearer {TOKEN}"}, "the server saw the token, and refused it"
