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
    Goal: the plan within 1.2x of the floor, per model. Beside it, a second
    floor: the same replay through the provider SDKs' generated classes
    (``aws.iam.Role(...)``), which any program written with those SDKs pays;
    the plan's ratio to it is what the program's own logic adds.

Every figure is user+sys CPU time, which a loaded machine disturbs less than
wall time: in (a) of the whole child process (``os.wait4``); in (b) of what a
child does after importing every module a 1-model plan loads (the same list
for each child, so imports, a constant whose noise would swamp a few ms per
model, are charged to none). The floors and the plan run one after another
within each round (in reverse every other round), so load hits each alike;
a per-model figure is the difference to the 1-model run of the same round.
Tables show the median and the spread (min-max) over the rounds.

Usage: .venv/bin/python benchmarks/plan_floor.py [--rounds N] [--models 20,50]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import re
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_bench import stack_with_models  # noqa: E402  (the same N-model stacks as plan_bench.py)

FIXED_STACK = "staging"
SDK_PREFIX = "pulumi"
SECRET_KEY = "modelctl:secret"  # how `plan --json-full` writes a secret (modelctl.engine.SECRET_JSON_KEY)

#: Runs ``modelctl plan ARGS...`` in this interpreter and writes the sorted modules it loaded whose top-level
#: name starts with argv[2] ("" for all of them) to the file argv[1]; not ``__main__`` and its aliases, nor names
#: with no import spec (those that extension modules register), which no import statement loads.
DUMP_MODULES = """\
import atexit, runpy, sys
out, prefix, args = sys.argv[1], sys.argv[2], sys.argv[3:]
def dump():
    names = sorted(n for n, m in sys.modules.items() if n.split(".")[0].startswith(prefix) and not n.startswith("__") and getattr(m, "__spec__", None))
    with open(out, "w") as f:
        f.write("\\n".join(names) + "\\n")
atexit.register(dump)
sys.argv = ["modelctl", *args]
runpy.run_module("modelctl", run_name="__main__", alter_sys=True)
"""

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


def plan_modules(stack: str, out: Path, prefix: str = SDK_PREFIX) -> list[str]:
    """The modules (pulumi* ones by default) `modelctl plan STACK` has loaded when it exits."""
    cmd = [sys.executable, "-c", DUMP_MODULES, str(out), prefix, "plan", stack]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return out.read_text().split()


def cpu_after_imports(cmd: Sequence[str]) -> float:
    """CPU seconds a ``--after-imports`` child (a replay or a plan) spent after importing the plan's modules."""
    with tempfile.TemporaryDirectory(prefix="plan-floor-cpu-") as tmp:
        out = Path(tmp) / "cpu"
        cpu_seconds([*cmd, "--cpu-out", str(out)])
        return float(out.read_text())


def plan_json_full(stack_file: Path, out: Path) -> Path:
    """`modelctl plan --json-full` (resources with options, dependencies and aliases) written to OUT."""
    with out.open("w") as f:
        subprocess.run(modelctl("plan", str(stack_file), "--json-full"), cwd=ROOT, check=True, stdout=f)
    return out


def replay_cmd(plan_file: Path, stack_file: Path, *, generated: bool = False, modules: Path | None = None) -> list[str]:
    """This script as a child replaying ``plan_file``; with ``modules``, it first imports the modules listed there."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--replay", str(plan_file), "--stack-file", str(stack_file)]
    return cmd + ["--generated"] * generated + (["--after-imports", str(modules)] if modules else [])


def plan_cmd(stack_file: Path, modules: Path) -> list[str]:
    """This script as a child running `modelctl plan STACK_FILE` after importing the modules listed in ``modules``."""
    return [sys.executable, str(Path(__file__).resolve()), "--plan", str(stack_file), "--after-imports", str(modules)]


def child(args: argparse.Namespace) -> int:
    """A child of table (b): import what the plan imports, then replay or plan, and write the CPU time of that part.

    Every child of (b) imports the same modules first (all that a 1-model `modelctl plan` loads), so none is
    charged for imports, whose cost is the same for every stack size but whose noise (hundreds of ms on a
    shared machine) would swamp a per-model difference of a few ms.
    """
    sys.path.insert(0, str(ROOT))
    if args.after_imports:
        for name in args.after_imports.read_text().split():
            importlib.import_module(name)
    start = time.process_time()
    if args.replay:
        code = replay(args.replay, args.stack_file, generated=args.generated, verify=args.verify)
    else:
        code = run_modelctl("plan", str(args.plan))
    if args.cpu_out:
        args.cpu_out.write_text(repr(time.process_time() - start))
    return code


def run_modelctl(*argv: str) -> int:
    """`modelctl ARGV...` in this interpreter; its exit code."""
    sys.argv = ["modelctl", *argv]
    try:
        runpy.run_module("modelctl", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    return 0


# --------------------------------------------------------------------------- the per-model floor (in the child)


def replay_program(resources: list[dict[str, Any]], *, generated: bool = False) -> Callable[[], None]:
    """A Pulumi program that registers exactly ``resources`` (``plan --json-full`` entries), nothing else.

    ``generated``: each custom resource through its provider SDK's generated class (``aws.iam.Role``,
    ``k8s.apps.v1.Deployment``, ...) from the same inputs, instead of a plain ``CustomResource``: the
    floor of any program written with the provider SDKs, which wrap every input in their typed ``...Args``
    and every output in typed output objects whether the caller passes typed Args or dicts.
    """

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
            elif doc.get("custom", True) and generated:
                made[doc["urn"]] = generated_class(doc["type"])(doc["name"], opts=opts, **python_names(inputs))
            elif doc.get("custom", True):
                made[doc["urn"]] = Custom(doc["type"], doc["name"], inputs, opts)
            else:
                component = Component(doc["type"], doc["name"], opts)
                component.register_outputs({})
                made[doc["urn"]] = component

    return program


def generated_class(token: str) -> type:
    """The provider SDK's class of a resource type token: ``aws:iam/role:Role`` -> ``pulumi_aws.iam.Role``.

    The module path is the token's module with a trailing resource name (AWS style) and ``index`` dropped,
    and each part cut at its first dot (``networking.k8s.io/v1`` -> ``networking.v1``).
    """
    package, module, name = token.split(":")
    parts = module.split("/")
    if parts[-1].lower() == name.lower():
        parts = parts[:-1]
    path = [f"pulumi_{package}", *(p.split(".")[0] for p in parts if p != "index")]
    return getattr(importlib.import_module(".".join(path)), name)


def python_names(inputs: dict[str, Any]) -> dict[str, Any]:
    """Top-level input names as the generated classes' keyword arguments (``secretString`` -> ``secret_string``);
    nested values stay dictionaries under their wire names, which the SDK accepts for any nested input type."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): value for key, value in inputs.items()}


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


def replay(plan_file: Path, stack_file: Path, *, generated: bool, verify: bool) -> int:
    """Run the replay program under modelctl's engine; ``verify``: it must record the source's resources."""
    from infra.stack_source import StackFile
    from modelctl.engine import plan_stack_file

    source = json.loads(plan_file.read_text())
    plan = plan_stack_file(StackFile.load(stack_file), source["stack"], program=replay_program(source["resources"], generated=generated))
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


def interleaved(runs: dict[str, tuple[Callable[[], float], ...]], rounds: int) -> dict[str, tuple[list[float], ...]]:
    """CPU seconds of each group of measurements (floors, then the plan), taken one after another within each
    round, in reverse order every other round, so a slower stretch of the machine hits each alike."""
    times: dict[str, tuple[list[float], ...]] = {key: tuple([] for _ in cmds) for key, cmds in runs.items()}
    for n in range(rounds):
        for key, cmds in runs.items():
            order = range(len(cmds)) if n % 2 == 0 else reversed(range(len(cmds)))
            for i in order:
                times[key][i].append(cmds[i]())
        print(f"  round {n + 1}/{rounds} done", file=sys.stderr)
    return times


def per_model(totals: list[float], base: list[float], extra: int) -> Spread:
    """Seconds per extra model, round by round (each round against its own 1-model run)."""
    return Spread([(t - b) / extra for t, b in zip(totals, base)])


def ratio_text(plan: Spread, floor: Spread) -> str:
    return f"{plan.median / floor.median:.2f}x" if floor.median > 0 else "n/a"


def report(
    times: dict[str, tuple[list[float], ...]], *, rounds: int, modules: int, resources: dict[int, int], extras: list[int]
) -> str:
    """The two tables: ``times`` maps "fixed" to (floor, plan) and "models<N>" to (plain floor, generated floor,
    plan) CPU seconds per round."""
    floor, plan = (Spread(v) for v in times["fixed"])
    ratio = Spread([p / f for p, f in zip(plan.values, floor.values)])
    lines = [
        f"CPU time (user+sys) of child processes, median [min-max] over {rounds} interleaved round(s)",
        "",
        f"(a) fixed cost: `modelctl plan {FIXED_STACK}` against importing its {modules} pulumi* modules",
        f"{'floor s (SDK imports)':>24} {'plan s':>20} {'ratio':>7} {'goal':>6}",
        f"{floor.text():>24} {plan.text():>20} {ratio_text(plan, floor):>7} {'1.1x':>6}",
        f"    per-round ratio {ratio.text()}",
        "",
        "(b) per-model cost: what extra models add to the plan against the SDK registering their resources",
        "    plain: as plain CustomResources (the floor of the goal); generated: through the provider SDKs' classes",
        f"{'extra models':>12} {'resources/model':>16} {'plain ms/model':>16} {'generated ms/model':>19}"
        f" {'plan ms/model':>16} {'vs plain':>9} {'goal':>5} {'vs generated':>13}",
    ]
    base = times["models1"]
    for extra in extras:
        n = 1 + extra
        plain, generated, planned = (per_model(t, b, extra) for t, b in zip(times[f"models{n}"], base))
        per_res = (resources[n] - resources[1]) / extra
        lines.append(
            f"{extra:>12} {per_res:>16.1f} {plain.text(1000, 0):>16} {generated.text(1000, 0):>19} {planned.text(1000, 0):>16}"
            f" {ratio_text(planned, plain):>9} {'1.2x':>5} {ratio_text(planned, generated):>13}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--models", default="20,50", help="extra models beyond the first, comma-separated (default 20,50)")
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)  # child: register a plan's resources
    parser.add_argument("--stack-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generated", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--verify", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)  # child: `modelctl plan` of this stack file
    parser.add_argument("--after-imports", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cpu-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay or args.plan:
        return child(args)
    extras = sorted({int(x) for x in args.models.split(",")})

    with tempfile.TemporaryDirectory(prefix="plan-floor-") as tmp:
        folder = Path(tmp)
        modules = plan_modules(FIXED_STACK, folder / "modules.txt")
        fixed = [sys.executable, "-c", IMPORT_MODULES, str(folder / "modules.txt")], modelctl("plan", FIXED_STACK)
        runs = {"fixed": tuple(functools.partial(cpu_seconds, cmd) for cmd in fixed)}
        stacks = {n: stack_with_models(n, folder) for n in [1] + [1 + e for e in extras]}
        loaded = folder / "loaded.txt"
        plan_modules(str(stacks[1]), loaded, prefix="")
        resources: dict[int, int] = {}
        for n, stack in stacks.items():
            plan_file = plan_json_full(stack, folder / f"plan{n}.json")
            resources[n] = len(json.loads(plan_file.read_text())["resources"])
            # The replay always reads the 1-model stack file: config parsing is the program's, and constant.
            floors = [replay_cmd(plan_file, stacks[1], generated=generated, modules=loaded) for generated in (False, True)]
            for floor in floors:
                subprocess.run([*floor, "--verify"], cwd=ROOT, check=True)
            cmds = (*floors, plan_cmd(stack, loaded))
            runs[f"models{n}"] = tuple(functools.partial(cpu_after_imports, cmd) for cmd in cmds)
        times = interleaved(runs, args.rounds)

    print(report(times, rounds=args.rounds, modules=len(modules), resources=resources, extras=extras))
    return 0


if __name__ == "__main__":
    sys.exit(main())
