"""What only a fresh interpreter shows, seen by one interpreter started for this module (this process has long
imported everything, and fingerprints with a key of its own):

- ``modelctl plan`` loads only what planning needs: not the policy pack's client, S3 or validators. The Pulumi
  SDK itself imports gRPC (pulumi.runtime.settings), so gRPC is loaded by any plan; the check host's own
  machinery is not.
- a process given this one's fingerprint key (as ``modelctl diff --base`` gives its plan subprocess) fingerprints
  a secret as this one does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from modelctl import engine
from modelctl.engine import FINGERPRINT_KEY_ENV, fingerprint, fingerprint_key
from tests.conftest import ROOT

#: Modules ``modelctl plan`` has no use for: the Analyzer host, the pack's SDK, S3, manifest validation, YAML editing.
NOT_FOR_PLAN = ("modelctl.check", "modelctl.analyzer_host", "pulumi_policy", "boto3", "kubernetes_validate", "ruamel")

#: The modules are listed before the fingerprint is taken, so only the plan's imports are judged.
_PROBE = """
import contextlib, io, json, sys
from modelctl.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
result = {"code": code, "planned": len(out.getvalue()), "modules": sorted(sys.modules)}
from modelctl.engine import fingerprint
print(json.dumps({**result, "fingerprint": fingerprint("value")}))
"""


@pytest.fixture(scope="module")
def fresh() -> dict[str, Any]:
    """What a fresh interpreter given this process's fingerprint key saw: ``modelctl plan staging --json``'s exit
    code, the modules loaded after it, and its fingerprint of "value". One start serves every test here."""
    env = {**os.environ, FINGERPRINT_KEY_ENV: fingerprint_key()}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, "plan", "staging", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    result = json.loads(out.stdout)
    assert result["planned"] > 0, out.stderr
    return result


def test_plan_imports_neither_the_check_host_nor_s3_nor_validators(fresh):
    modules = set(fresh["modules"])

    assert fresh["code"] == 0
    assert "modelctl.engine" in modules, "the probe really planned"
    loaded = sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in NOT_FOR_PLAN))
    assert loaded == [], f"modelctl plan imported {loaded}"


def test_processes_sharing_the_fingerprint_key_agree_and_others_do_not(fresh, monkeypatch):
    """The fresh process, given this one's key, agrees with it; a key read from another value of the variable
    (another process's key) fingerprints differently: the key, not the process, is what differs."""
    key = fingerprint_key()
    assert fresh["fingerprint"] == fingerprint("value")
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, f"{key}-other")
    monkeypatch.setattr(engine, "_fingerprint_key", None)  # as a process that has not read its key yet
    other = fingerprint("value")
    monkeypatch.undo()
    assert fingerprint_key() == key and other != fingerprint("value")
