"""Benchmark of `modelctl render`: wall time for stacks of 1, 10 and 50 models.

Not a test: prints figures. Each stack is the staging stack file with its
model copied under N names. Phases timed separately:

* plan   - the real program under the mock engine (what `modelctl plan` costs)
* render - plan inputs to manifests (ordering, redaction, integer fix-up)
* write  - YAML serialisation and files on disk
* validate - kubernetes-validate --strict for the stack's Kubernetes version (optional dev tool)

Usage: python benchmarks/render_bench.py [--repeat N] [--models 1,10,50] [--no-validate]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.stack_source import StackFile  # noqa: E402
from modelctl.engine import plan_stack_file  # noqa: E402
from modelctl.render import render_manifests, validate_manifests, write_manifests  # noqa: E402

MODELS_KEY = "model-platform:models"


def stack_with_models(count: int) -> tuple[StackFile, str]:
    """The staging stack with its first model copied under ``count`` names; and its Kubernetes version."""
    doc: dict[str, Any] = yaml.safe_load((ROOT / "stacks" / "Pulumi.staging.yaml").read_text())
    template = next(iter(doc["config"][MODELS_KEY].values()))
    doc["config"][MODELS_KEY] = {f"model-{i:03d}": copy.deepcopy(template) for i in range(count)}
    version = str(doc["config"]["model-platform:kubernetes"].get("version", "1.31"))
    return StackFile.from_document(doc, f"bench/{count}-models"), version


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench(count: int, repeat: int, validate: bool) -> dict[str, list[float]]:
    stack_file, version = stack_with_models(count)
    phases: dict[str, list[float]] = {"plan": [], "render": [], "write": [], "validate": []}
    manifests = []
    for _ in range(repeat):
        t_plan, plan = timed(lambda: plan_stack_file(stack_file, "staging"))
        t_render, manifests = timed(lambda: render_manifests(plan))
        with tempfile.TemporaryDirectory() as out:
            t_write, _ = timed(lambda: write_manifests(manifests, Path(out)))
        phases["plan"].append(t_plan)
        phases["render"].append(t_render)
        phases["write"].append(t_write)
        if validate:
            t_validate, problems = timed(lambda: validate_manifests(manifests, version))
            if problems:
                raise SystemExit(f"{count} models: invalid manifests: {problems[:3]}")
            phases["validate"].append(t_validate)
    phases["objects"] = [float(len(manifests))]
    return phases


def warm_up(validate: bool) -> None:
    """One untimed run of every phase: the first plan imports the program and the SDKs, the first
    validation loads the schemas; neither belongs in the first size's figures."""
    stack_file, version = stack_with_models(1)
    manifests = render_manifests(plan_stack_file(stack_file, "staging"))
    with tempfile.TemporaryDirectory() as out:
        write_manifests(manifests, Path(out))
    if validate:
        validate_manifests(manifests, version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", default="1,10,50")
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args()

    warm_up(validate=not args.no_validate)
    print(f"modelctl render benchmark (median of {args.repeat}, seconds, after a warm-up run)")
    print(f"{'models':>6} {'objects':>7} {'plan':>7} {'render':>7} {'write':>7} {'total':>7} {'validate':>9}")
    for count in (int(n) for n in args.models.split(",")):
        phases = bench(count, args.repeat, validate=not args.no_validate)
        med = {k: statistics.median(v) for k, v in phases.items() if v}
        total = med["plan"] + med["render"] + med["write"]
        validate = f"{med['validate']:9.3f}" if "validate" in med else f"{'-':>9}"
        print(
            f"{count:>6} {int(med['objects']):>7} {med['plan']:7.3f} {med['render']:7.3f} {med['write']:7.3f} {total:7.3f} {validate}"
        )


if __name__ == "__main__":
    main()
