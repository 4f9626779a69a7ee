"""Where a model's plan cost goes: a CPU-time profile of the plan against plan_floor.py's replay, per extra model.

A script that prints figures, not a test. ``plan_floor.py`` says how far the
plan is from the SDK's floor; this says why, so a change aimed at the gap can
be checked against the part it aims at. It profiles four child processes
with ``cProfile`` on a CPU-time clock: ``modelctl plan`` of a 1-model and an
N-model stack, and both replays of each (the SDK registering the same
resources as plain resources, and through the provider SDKs' generated
classes: ``plan_floor.replay_program``). Each row is a figure per extra model
((N-model - 1-model) / (N - 1)) for the three, then what the generated classes
cost beyond plain resources, and what the plan costs beyond the generated
classes: its program's share.

Profiled figures run a few times slower than unprofiled ones; read them as
sizes relative to one another, not as absolute costs. "Everything else"
also takes up the two runs' fixed-cost noise (imports), which is why a
larger stack (``--models``, at least 20) steadies it.

Usage: .venv/bin/python benchmarks/plan_profile.py [--models 30]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_bench import stack_with_models  # noqa: E402
from plan_floor import plan_json_full  # noqa: E402

Key = tuple[str, int, str]
Stats = dict[Key, tuple[int, int, float, float, dict]]

RPC = "pulumi/runtime/rpc.py"
#: The three profiled runs: the plan, its replay through the generated classes, its replay as plain resources.
KINDS = ("plan", "generated", "plain")
#: Fewer models and the runs' fixed-cost noise (imports, ~1 s profiled) outweighs what the extra models add.
MIN_MODELS = 20


def _sdk(name: str, module: str = RPC) -> Callable[[Key], bool]:
    """The entries of the SDK function ``name`` in ``module``."""
    return lambda k: k[2] == name and k[0].endswith(module)


def _own(k: Key) -> bool:
    return any(k[0].startswith(str(ROOT / folder)) for folder in ("infra", "modelctl", "benchmarks"))


#: The rows, disjoint (four separate call trees of the SDK's registration, and the code each side runs itself), so
#: they and "everything else" add up to the total: (label, which function entries, "cum"ulative or "self" time).
ROWS: tuple[tuple[str, Callable[[Key], bool], str], ...] = (
    ("inputs serialized (typed ...Args translated)", _sdk("serialize_properties"), "cum"),
    ("outputs resolved (typed output objects built)", _sdk("resolve_outputs"), "cum"),
    ("futures for every declared property", _sdk("transfer_properties"), "cum"),
    ("source positions (stack traces)", _sdk("_get_stack_trace", "pulumi/runtime/resource.py"), "cum"),
    ("own Python: infra/ + modelctl/ (plan), benchmarks/ (replay)", _own, "self"),
)


def profile_child(out: Path, argv: list[str]) -> None:
    """Run ``argv`` (a module or a script, and its arguments) in a child profiled in CPU time into ``out``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--profile-child", str(out), *argv]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def run_profiled(out: Path, target: str, args: list[str]) -> None:
    """In the child: ``target`` (``modelctl`` or a script path) as ``__main__``, under a CPU-time cProfile."""
    sys.argv = [target, *args]
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    try:
        (runpy.run_path if target.endswith(".py") else runpy.run_module)(target, run_name="__main__")
    except SystemExit:
        pass
    profile.disable()
    profile.dump_stats(str(out))


def load(path: Path) -> Stats:
    return pstats.Stats(str(path)).stats  # type: ignore[attr-defined]


def per_model(one: Stats, many: Stats, extra: int, pick: Callable[[Key], bool], figure: str) -> float:
    """Milliseconds per extra model of the picked entries' cumulative (``cum``) or own (``self``) time."""
    index = 3 if figure == "cum" else 2
    total = sum(many[k][index] for k in many if pick(k)) - sum(one[k][index] for k in one if pick(k))
    return total / extra * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=30, help="models in the larger stack (default 30)")
    parser.add_argument("--profile-child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)  # OUT TARGET ARGS...
    args = parser.parse_args(argv)
    if args.profile_child:
        out, target, *rest = args.profile_child
        run_profiled(Path(out), target, rest)
        return 0
    if args.models < MIN_MODELS:
        parser.error(f"--models {args.models}: at least {MIN_MODELS}, or the runs' import-time noise swamps them")
    extra = args.models - 1
    with tempfile.TemporaryDirectory(prefix="plan-profile-") as tmp:
        folder = Path(tmp)
        stacks = {n: stack_with_models(n, folder) for n in (1, args.models)}
        profiles: dict[tuple[str, int], Stats] = {}
        for n, stack in stacks.items():
            plan_file = plan_json_full(stack, folder / f"plan{n}.json")
            profile_child(folder / f"plan{n}.prof", ["modelctl", "plan", str(stack)])
            floor = str(ROOT / "benchmarks" / "plan_floor.py")  # absolute, as ``_own`` matches file names
            replay = [floor, "--replay", str(plan_file), "--stack-file", str(stacks[1])]
            profile_child(folder / f"plain{n}.prof", replay)
            profile_child(folder / f"generated{n}.prof", [*replay, "--generated"])
            for kind in KINDS:
                profiles[kind, n] = load(folder / f"{kind}{n}.prof")
            resources = len(json.loads(plan_file.read_text())["resources"])
            print(f"  {n} model(s): {resources} resources profiled", file=sys.stderr)

    def figures(pick: Callable[[Key], bool], figure: str) -> tuple[float, ...]:
        return tuple(per_model(profiles[kind, 1], profiles[kind, args.models], extra, pick, figure) for kind in KINDS)

    print(f"CPU-time profile, ms per extra model ({extra} extra models); profiled, so read the shares, not the values")
    print(table([(label, figures(pick, figure)) for label, pick, figure in ROWS], figures(lambda k: True, "self")))
    return 0


def table(rows: list[tuple[str, tuple[float, ...]]], total: tuple[float, ...]) -> str:
    """Rows of (plan, generated, plain) figures, "everything else" (the total less the rows), the total, and how
    the gap between the plan and the plain floor splits into the generated classes' part and the program's."""
    rest = tuple(t - sum(r[1][i] for r in rows) for i, t in enumerate(total))
    lines = [f"{'':<60} {'plan':>7} {'generated':>9} {'plain':>7} {'classes':>8} {'program':>8}"]
    for label, (plan, generated, plain) in [*rows, ("everything else (event loop, Output plumbing, ...)", rest), ("total", total)]:
        lines.append(f"{label:<60} {plan:>7.1f} {generated:>9.1f} {plain:>7.1f} {generated - plain:>8.1f} {plan - generated:>8.1f}")
    plan, generated, plain = total
    if plan > plain:
        classes, program = (generated - plain) / (plan - plain), (plan - generated) / (plan - plain)
        lines.append(f"of the plan's cost beyond plain resources: generated classes {classes:.0%}, program {program:.0%}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
