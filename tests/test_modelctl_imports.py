"""``modelctl plan`` loads only what planning needs: not the policy pack's client, S3 or validators.

Run in a fresh interpreter: this test process has long imported everything.
The Pulumi SDK itself imports gRPC (pulumi.runtime.settings), so gRPC is
loaded by any plan; the check host's own machinery is not.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

#: Modules ``modelctl plan`` has no use for: the Analyzer host, the pack's SDK, S3, manifest validation, YAML editing.
NOT_FOR_PLAN = ("modelctl.check", "modelctl.analyzer_host", "pulumi_policy", "boto3", "kubernetes_validate", "ruamel")

_PROBE = """
import contextlib, io, json, sys
from modelctl.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "planned": len(out.getvalue()), "modules": sorted(sys.modules)}))
"""


def loaded_by(*argv: str) -> tuple[int, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result["planned"] > 0, out.stderr
    return result["code"], set(result["modules"])


def test_plan_imports_neither_the_check_host_nor_s3_nor_validators():
    code, modules = loaded_by("plan", "staging", "--json")

    assert code == 0
    assert "modelctl.engine" in modules, "the probe really planned"
    loaded = sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in NOT_FOR_PLAN))
    assert loaded == [], f"modelctl plan imported {loaded}"
