"""How close `modelctl plan` runs to what the Pulumi SDK alone costs: two floors, in CPU time.

A script that prints figures, not a test (issue 18, "Performance goals"):

(a) fixed cost: a fresh interpreter importing exactly the Pulumi SDK modules
    that `modelctl plan staging` loads (read from that plan's own
    ``sys.modules``), beside `modelctl plan staging` end to end. Goal: the
    plan within 1.1x of the floor.
(b) per-model cost: the SDK registering the very resources that 20 and 50
    extra models add (types, logical names, parents, providers, aliases,
    dependencies and inputs read from `modelctl plan --json-full` of the
    N-model stack, secrets as secrets) as plain ``pulumi.CustomResource`` /
    ``ComponentResource`` registrations under modelctl's own mock engine,
    with no program logic; beside what those models add to `modelctl plan`.
    Goal: the plan within 1.2x of the floor, per model.

Every figure is user+sys CPU time of a child process (``os.wait4``), which a
loaded machine disturbs less than wall time. The floor and the plan alternate
within each round (their order flips every round), so load hits both alike;
a per-model figure is the difference to the 1-model run of the same round.
Tables show the median and the spread (min-max) over the rounds.

Usage: .venv/bin/python benchmarks/plan_floor.py [--rounds N] [--models 20,50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_bench import stack_with_models  # noqa: E402  (the same N-model stacks as plan_bench.py)

FIXED_STACK = "staging"
SDK_PREFIX = "pulumi"
SECRET_KEY = "modelctl:secret"  # how `plan --json-full` writes a secret (modelctl.engine.SECRET_JSON_KEY)

#: Runs ``modelctl plan ARGS...`` in this interpreter and writes the sorted pulumi* modules it loaded to OUT.
DUMP_MODULES = """\
import atexit, runpy, sys
out, args = sys.argv[1], sys.argv[2:]
def dump():
    names = sorted(n for n in sys.modules if n.split(".")[0].startswith({prefix!r}))
    with open(out, "w") as f:
        f.write("\\n".join(names) + "\\n")
atexit.register(dump)
sys.argv = ["modelctl", *args]
runpy.run_module("modelctl", run_name="__main__", alter_sys=True)
""".format(prefix=SDK_PREFIX)

#: Imports, in order, the modules named in the file argv[1]: the fixed-cost floor.
IMPORT_MODULES = "import importlib, sys\nfor n in open(sys.argv[1]).read().split():\n    importlib.import_module(n)\n"


# --------------------------------------------------------------------------- child processes


def cpu_seconds(cmd: Sequence[str]) -> float:
    """user+sys CPU seconds of one child process run to completion (its output discarded)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read().decode()[-3000:]}")
    return usage.ru_utime + usage.ru_stime


def modelctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelctl", *args]


def plan_modules(stack: str, out: Path) -> list[str]:
    """The pulumi* modules `modelctl plan STACK` has loaded when it exits."""
    subprocess.run([sys.executable, "-c", DUMP_MODULES, str(out), "plan", stack], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return out.read_text().split()


def plan_json_full(stack_file: Path, out: Path) -> Path:
    """`modelctl plan --json-full` (resources with options, dependencies and aliases) written to OUT."""
    with out.open("w") as f:
        subprocess.run(modelctl("plan", str(stack_file), "--json-full"), cwd=ROOT, check=True, stdout=f)
    return out


def replay_cmd(plan_file: Path, stack_file: Path, verify: bool = False) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--replay", str(plan_file), "--stack-file", str(stack_file)]
    return cmd + ["--verify"] if verify else cmd


# --------------------------------------------------------------------------- the per-model floor (in the child)


def replay_program(resources: list[dict[str, Any]]) -> Callable[[], None]:
    """A Pulumi program that registers exactly ``resources`` (``plan --json-full`` entries), nothing else."""

    def program() -> None:
        import pulumi

        # Subclasses, as every generated resource class and component is: the SDK records a resource's
        # source position (a stack trace) only below a concrete class's __init__, so constructing
        # pulumi.CustomResource directly would skip a cost the SDK charges every real resource.
        class Custom(pulumi.CustomResource):
            def __init__(self, t: str, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
                super().__init__(t, name, props, opts)

        class Provider(pulumi.ProviderResource):
            def __init__(self, pkg: str, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
                super().__init__(pkg, name, props, opts)

        class Component(pulumi.ComponentResource):
            def __init__(self, t: str, name: str, opts: pulumi.ResourceOptions) -> None:
                super().__init__(t, name, None, opts)

        made: dict[str, pulumi.Resource] = {}
        for doc in _registration_order(resources):
            options = doc.get("options") or {}
            deps = [made[urn] for urn in doc.get("dependencies") or [] if urn in made]
            opts = pulumi.ResourceOptions(
                parent=made.get(doc.get("parent") or ""),
                provider=made.get(options.get("provider", "")),  # type: ignore[arg-type]
                depends_on=deps or None,
                protect=options.get("protect"),
                retain_on_delete=options.get("retainOnDelete"),
                ignore_changes=options.get("ignoreChanges"),
                aliases=list(doc.get("aliases") or []) or None,
            )
            inputs = _with_secrets(doc.get("inputs") or {})
            if doc["type"].startswith("pulumi:providers:"):
                made[doc["urn"]] = Provider(doc["type"].split(":")[2], doc["name"], inputs, opts)
            elif doc.get("custom", True):
                made[doc["urn"]] = Custom(doc["type"], doc["name"], inputs, opts)
            else:
                component = Component(doc["type"], doc["name"], opts)
                component.register_outputs({})
                made[doc["urn"]] = component

    return program


def _registration_order(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents, providers and dependencies before the resources that name them (depth first, stable)."""
    by_urn = {r["urn"]: r for r in resources}
    done: set[str] = set()
    order: list[dict[str, Any]] = []

    def visit(urn: str) -> None:
        if urn in done or urn not in by_urn:
            return
        done.add(urn)
        doc = by_urn[urn]
        for before in [doc.get("parent") or "", (doc.get("options") or {}).get("provider", ""), *doc.get("dependencies", [])]:
            visit(before)
        order.append(doc)

    for urn in by_urn:
        visit(urn)
    return order


def _with_secrets(value: Any) -> Any:
    """``{"modelctl:secret": fingerprint}`` back into a Pulumi secret (the fingerprint as its plaintext)."""
    import pulumi

    if isinstance(value, dict):
        if set(value) == {SECRET_KEY}:
            return pulumi.Output.secret(value[SECRET_KEY])
        return {k: _with_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_secrets(v) for v in value]
    return value


def replay(plan_file: Path, stack_file: Path, verify: bool) -> int:
    """Run the replay program under modelctl's engine; ``verify``: it must record the source's resources."""
    sys.path.insert(0, str(ROOT))
    from infra.stack_source import StackFile
    from modelctl.engine import plan_stack_file

    source = json.loads(plan_file.read_text())
    plan = plan_stack_file(StackFile.load(stack_file), source["stack"], program=replay_program(source["resources"]))
    mismatched = differences(source, plan) if verify else []
    if mismatched:
        print(f"replay of {plan_file} differs from the plan at {len(mismatched)} URN(s), e.g. {mismatched[:3]}", file=sys.stderr)
        return 1
    return 0


def differences(source: dict[str, Any], replayed: Any) -> list[str]:
    """URNs whose type, parent, inputs (secrets redacted), options or aliases differ: source doc vs replayed Plan."""
    from modelctl.engine import Plan, to_plain

    def key(r: Any) -> tuple[Any, ...]:
        return (r.type, r.parent, to_plain(r.inputs), to_plain(r.options), r.aliases, r.dependencies)

    want = {r.urn: key(r) for r in Plan.from_json(source).resources}
    got = {r.urn: key(r) for r in replayed.resources}
    return sorted(u for u in want.keys() | got.keys() if want.get(u) != got.get(u))


# --------------------------------------------------------------------------- measuring and printing


@dataclass
class Spread:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def text(self, scale: float = 1.0, digits: int = 2) -> str:
        lo, hi = min(self.values) * scale, max(self.values) * scale
        return f"{self.median * scale:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"


def interleaved(pairs: dict[str, tuple[list[str], list[str]]], rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """CPU seconds of each (floor, plan) pair, alternated within each round, the order flipped every round."""
    times: dict[str, tuple[list[float], list[float]]] = {key: ([], []) for key in pairs}
    for n in range(rounds):
        for key, (floor, plan) in pairs.items():
            first, second = (floor, plan) if n % 2 == 0 else (plan, floor)
            a, b = cpu_seconds(first), cpu_seconds(second)
            times[key][0].append(a if n % 2 == 0 else b)
            times[key][1].append(b if n % 2 == 0 else a)
        print(f"  round {n + 1}/{rounds} done", file=sys.stderr)
    return times


def per_model(totals: list[float], base: list[float], extra: int) -> Spread:
    """Seconds per extra model, round by round (each round against its own 1-model run)."""
    return Spread([(t - b) / extra for t, b in zip(totals, base)])


def report(
    times: dict[str, tuple[list[float], list[float]]], *, rounds: int, modules: int, resources: dict[int, int], extras: list[int]
) -> str:
    """The two tables: ``times`` maps "fixed" and "models<N>" to (floor, plan) CPU seconds per round."""
    floor, plan = (Spread(v) for v in times["fixed"])
    ratio = Spread([p / f for p, f in zip(plan.values, floor.values)])
    lines = [
        f"CPU time (user+sys) of child processes, median [min-max] over {rounds} interleaved round(s)",
        "",
        f"(a) fixed cost: `modelctl plan {FIXED_STACK}` against importing its {modules} pulumi* modules",
        f"{'floor s (SDK imports)':>24} {'plan s':>20} {'ratio':>7} {'goal':>6}",
        f"{floor.text():>24} {plan.text():>20} {plan.median / floor.median:>6.2f}x {'1.1x':>6}",
        f"    per-round ratio {ratio.text()}",
        "",
        "(b) per-model cost: what extra models add to the plan against the SDK registering their resources",
        f"{'extra models':>12} {'resources/model':>16} {'floor ms/model':>20} {'plan ms/model':>20} {'ratio':>7} {'goal':>6}",
    ]
    base_floor, base_plan = times["models1"]
    for extra in extras:
        n = 1 + extra
        f_per, p_per = per_model(times[f"models{n}"][0], base_floor, extra), per_model(times[f"models{n}"][1], base_plan, extra)
        per_res = (resources[n] - resources[1]) / extra
        ratio_text = f"{p_per.median / f_per.median:>6.2f}x" if f_per.median > 0 else "    n/a"
        lines.append(f"{extra:>12} {per_res:>16.1f} {f_per.text(1000, 0):>20} {p_per.text(1000, 0):>20} {ratio_text} {'1.2x':>6}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--models", default="20,50", help="extra models beyond the first, comma-separated (default 20,50)")
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)  # child: register a plan's resources
    parser.add_argument("--stack-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--verify", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.stack_file, args.verify)
    extras = sorted({int(x) for x in args.models.split(",")})

    with tempfile.TemporaryDirectory(prefix="plan-floor-") as tmp:
        folder = Path(tmp)
        modules = plan_modules(FIXED_STACK, folder / "modules.txt")
        pairs = {"fixed": ([sys.executable, "-c", IMPORT_MODULES, str(folder / "modules.txt")], modelctl("plan", FIXED_STACK))}
        stacks = {n: stack_with_models(n, folder) for n in [1] + [1 + e for e in extras]}
        resources: dict[int, int] = {}
        for n, stack in stacks.items():
            plan_file = plan_json_full(stack, folder / f"plan{n}.json")
            resources[n] = len(json.loads(plan_file.read_text())["resources"])
            # The replay always reads the 1-model stack file: config parsing is the program's, and constant.
            subprocess.run(replay_cmd(plan_file, stacks[1], verify=True), cwd=ROOT, check=True)
            pairs[f"models{n}"] = (replay_cmd(plan_file, stacks[1]), modelctl("plan", str(stack)))
        times = interleaved(pairs, args.rounds)

    print(report(times, rounds=args.rounds, modules=len(modules), resources=resources, extras=extras))
    return 0


if __name__ == "__main__":
    sys.exit(main())
