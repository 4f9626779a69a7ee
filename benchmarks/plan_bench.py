"""Wall time and peak memory of `modelctl plan` for 1, 10 and 50 models.

A script that prints figures, not a test. Each figure is the median of
REPEAT runs in a fresh process, beside a bare import of the Pulumi SDKs (the
floor every plan pays). Usage: python benchmarks/plan_bench.py [--repeat N]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1, 10, 50)
BARE_IMPORT = "import pulumi, pulumi_aws, pulumi_kubernetes, pulumi_databricks"


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def stack_with_models(n: int, folder: Path) -> Path:
    doc = yaml.safe_load((ROOT / "stacks/Pulumi.staging.yaml").read_text())
    models = doc["config"]["model-platform:models"]
    template = next(iter(models.values()))
    doc["config"]["model-platform:models"] = {f"model-{i:03d}": copy.deepcopy(template) for i in range(n)}
    path = folder / f"Pulumi.bench{n}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def measure(cmd: list[str], repeat: int) -> tuple[float, float]:
    runs = [run(cmd) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [("bare import of the SDKs", *measure([sys.executable, "-c", BARE_IMPORT], args.repeat), None)]
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            path = stack_with_models(n, Path(tmp))
            out = subprocess.run(
                [sys.executable, "-m", "modelctl", "plan", str(path), "--json"], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
            resources = out.count('"urn":')
            rows.append((f"modelctl plan, {n} model(s)", *measure([sys.executable, "-m", "modelctl", "plan", str(path), "--json"], args.repeat), resources))
    print(f"{'what':<28} {'wall s (median)':>16} {'peak RSS MiB':>13} {'resources':>10}")
    for what, wall, rss, resources in rows:
        print(f"{what:<28} {wall:>16.2f} {rss:>13.0f} {'' if resources is None else resources:>10}")


if __name__ == "__main__":
    main()
