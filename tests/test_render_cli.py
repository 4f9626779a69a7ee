"""`modelctl render --out DIR`: a folder that is not what render expects is refused clearly, never with a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelctl.cli import main
from modelctl.render import HEADER
from tests.conftest import ROOT


@pytest.fixture
def render(monkeypatch, capsys, planned_once):
    """``modelctl render staging --out OUT`` in-process, planned once per session: (exit code, stdout, stderr)."""
    monkeypatch.chdir(ROOT)

    def run(out: Path) -> tuple[int, str, str]:
        code = main(["render", "staging", "--out", str(out)])
        stdout, stderr = capsys.readouterr()
        return code, stdout, stderr

    return run


def test_out_pointing_at_a_file_is_refused(render, tmp_path):
    target = tmp_path / "manifests"
    target.write_text("not a folder")
    code, out, err = render(target)
    assert code == 2 and out == ""
    assert err == f"modelctl: --out {target}: exists and is not a folder\n"
    assert target.read_text() == "not a folder"


def test_folders_and_non_utf8_files_named_yaml_are_left_alone(render, tmp_path):
    (tmp_path / "charts.yaml").mkdir()
    binary = tmp_path / "values.yaml"
    binary.write_bytes(b"\xff\xfe not utf-8")
    code, out, err = render(tmp_path)
    assert code == 0, err
    assert (tmp_path / "charts.yaml").is_dir() and binary.read_bytes() == b"\xff\xfe not utf-8"
    assert (tmp_path / "deployment-days-to-sell.yaml").read_text().startswith(HEADER)


def test_a_users_file_in_the_way_of_a_manifest_is_not_overwritten(render, tmp_path):
    mine = tmp_path / "deployment-days-to-sell.yaml"
    mine.write_text("# my own deployment\n")
    (tmp_path / "service-days-to-sell.yaml").mkdir()
    code, out, err = render(tmp_path)
    assert code == 2 and out == ""
    assert (
        f"modelctl: --out {tmp_path}: deployment-days-to-sell.yaml, service-days-to-sell.yaml: already there and not "
        "written by modelctl render, so not replaced" in err
    )
    assert mine.read_text() == "# my own deployment\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deployment-days-to-sell.yaml", "service-days-to-sell.yaml"]


def test_an_unwritable_out_folder_is_reported_with_its_path(render, tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    code, out, err = render(tmp_path / "new")
    assert code == 2 and out == ""
    assert err == f"modelctl: {tmp_path / 'new'}: Permission denied\n"
