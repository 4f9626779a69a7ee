"""`modelctl release`/`promote` never lose or surprise an edit: shared YAML, concurrent runs, symlinks (issue 16)."""

from __future__ import annotations

import threading

import pytest

from modelctl.stack_edit import PinChange
from modelctl.stack_lock import stack_file_lock
from tests.fixtures.release_env import MODEL, NEW_DIGEST, NEW_VERSION, sha256_hex

KEY = f"model-platform:models.{MODEL}"
OTHER = "list-price"


def add_second_model(project, stack: str = "staging") -> None:
    """A copy of the model's entry under another name, at the end of the models block."""
    text = project.path(stack).read_text()
    entry = text[text.index(f"    {MODEL}:\n"):]
    project.path(stack).write_text(text + entry.replace(f"    {MODEL}:", f"    {OTHER}:", 1))
    assert OTHER in project.config(stack).models


# --------------------------------------------------------------------------- anchors, aliases, merge keys


SHARED_SETTINGS = {
    "anchor-on-the-entry": (
        f"    {MODEL}:\n", f"    {MODEL}: &base\n",
        f"stacks/Pulumi.staging.yaml: {KEY}: is a YAML anchor or alias (&base)",
    ),
    "alias-of-a-value-defined-outside": (
        "        replicas: {min: 1, max: 3}",
        "        replicas: *replicas",
        f"stacks/Pulumi.staging.yaml: {KEY}.serving.replicas: is a YAML anchor or alias (&replicas)",
    ),
    "merge-key": (
        "      serving:\n        replicas: {min: 1, max: 3}",
        "      serving:\n        <<: {replicas: {min: 1, max: 3}}",
        f"stacks/Pulumi.staging.yaml: {KEY}.serving.<<: is a YAML merge key",
    ),
}


@pytest.mark.parametrize("old, new, message", SHARED_SETTINGS.values(), ids=SHARED_SETTINGS.keys())
def test_a_models_block_sharing_values_through_yaml_is_not_edited(project, cli, old, new, message):
    """An edit of a shared node would change every model that shares it: refused, naming the file and key."""
    text = project.path("staging").read_text()
    if "*replicas" in new:  # the shared value lives outside the models block
        text = "x-shared:\n  replicas: &replicas {min: 1, max: 3}\n" + text
    project.path("staging").write_text(text)
    project.replace("staging", old, new)
    before = project.snapshot()

    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)

    assert code == 2, err
    assert message in err and "an edit of one model must never change another" in err
    assert project.snapshot() == before


def test_promote_refuses_a_target_whose_models_share_values(project, cli):
    project.replace("prod", f"    {MODEL}:\n", f"    {MODEL}: &base\n")
    before = project.read("prod")

    code, _, err = cli("promote", MODEL, "--from", "staging", "--to", "prod")

    assert code == 2
    assert f"stacks/Pulumi.prod.yaml: {KEY}: is a YAML anchor or alias (&base)" in err
    assert project.read("prod") == before


# --------------------------------------------------------------------------- concurrent runs


def test_two_releases_into_one_file_at_once_both_land(project, cli, monkeypatch):
    """The first run to plan takes a while between reading and writing; without the lock it would give up.

    Only that first run waits: the other, were the runs not serialised, would
    write the file meanwhile (its edit lands, the first run's is refused).
    """
    add_second_model(project)
    started = threading.Barrier(2)
    first_to_plan = threading.Lock()  # held, never released, by the first run to plan

    def slow_plan_diff(change: PinChange) -> str:
        import time

        if first_to_plan.acquire(blocking=False):
            time.sleep(0.5)  # the other run would have read the file by now, were they not serialised
        return "(plan diff not computed in this test)"

    monkeypatch.setattr(PinChange, "plan_diff", slow_plan_diff)
    codes: dict[str, int] = {}

    def release(model: str, version: str) -> None:
        from modelctl.cli import main

        started.wait()
        codes[model] = main(["release", model, version, "--stack", "staging", "--sha256", sha256_hex(version.encode())])

    threads = [threading.Thread(target=release, args=args) for args in ((MODEL, "1.5.0"), (OTHER, "2.0.0"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert codes == {MODEL: 0, OTHER: 0}
    models = project.config("staging").models
    assert (models[MODEL].version, models[OTHER].version) == ("1.5.0", "2.0.0"), "no run lost the other's edit"


def test_a_run_that_cannot_get_the_lock_in_time_says_so_and_writes_nothing(project, cli, monkeypatch):
    monkeypatch.setenv("MODELCTL_LOCK_TIMEOUT", "0.2")
    before = project.snapshot()
    with stack_file_lock(project.path("staging"), label="held by the test", timeout=0):
        code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 2
    assert "stacks/Pulumi.staging.yaml: another modelctl release/promote is editing a stack file" in err
    assert "waited 0.2s" in err and "MODELCTL_LOCK_TIMEOUT" in err
    assert project.snapshot() == before


def test_the_lock_leaves_no_file_behind(project, cli):
    before = set(project.snapshot())
    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)
    assert code == 0, err
    assert set(project.snapshot()) == before


# --------------------------------------------------------------------------- symlinks


def test_a_symlinked_stack_file_is_edited_where_it_points(project, cli):
    real = project.root / "shared" / "staging.yaml"
    real.parent.mkdir()
    link = project.path("staging")
    real.write_bytes(link.read_bytes())
    link.unlink()
    link.symlink_to("../shared/staging.yaml")

    code, _, err = cli("release", MODEL, NEW_VERSION, "--stack", "staging", "--sha256", NEW_DIGEST)

    assert code == 0, err
    assert link.is_symlink() and link.readlink().as_posix() == "../shared/staging.yaml", "the link stays a link"
    assert project.config("staging").models[MODEL].version == NEW_VERSION
    assert f"version: {NEW_VERSION}" in real.read_text(), "the target holds the edit"
    assert sorted(p.name for p in real.parent.iterdir()) == ["staging.yaml"], "no temporary file left beside it"
