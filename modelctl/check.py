"""The offline twin of ``pulumi preview --policy-pack policies --policy-pack-config policies/<env>.json``.

The stack is planned under the mock engine; the real policy pack is started
and spoken to as the Pulumi CLI does it (``modelctl.analyzer_host``), with
the environment's policy config reconciled as the CLI reconciles it
(``modelctl.policy_config``); this module turns the pack's diagnostics into
the report. Secret inputs travel as Pulumi secret values; their real value is
never known here. The plan is a preview of a new stack: an input known only
after deployment (the id of a resource created in the same update) travels as
the engine's unknown sentinel, as the CLI sends it, and the pack's rules judge
around it.

Two deliberate differences:

* a policy name or setting the pack does not know is a config error here,
  where the CLI would silently ignore the typo;
* a document the program builds around a value the cloud assigns on create
  (an IAM policy naming the KMS key the stack creates) is sent as its text
  with that part written ``[unknown]`` (``modelctl.preview_state``), where
  the CLI previewing a new stack sends the whole document as unknown, and
  pulumi_policy would then report every rule reading it as unable to run.
  The text is exact but for the hole, so the rules judge what a preview of
  the deployed stack judges: its actions, resources and conditions.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import grpc
import yaml

from infra.contract.naming import PROD, stack_environment
from infra.stack_source import StackFile, decode
from modelctl.analyzer_host import PolicyPackError, PolicyPackProcess, analyze, pack_env
from modelctl.engine import Plan, plan_stack_file
from modelctl.policy_config import level_name, load_policy_config, reconcile

# Importable from here as before the host was split out (the pack's tests build their own conversations).
from modelctl.analyzer_host import WirePlan, configure_request, wire_value  # noqa: E402, F401, I001
from modelctl.policy_config import PolicyConfig  # noqa: E402, F401, I001

PACK_DIR_NAME = "policies"
#: The stack config key through which Pulumi refuses a resource declared without an explicit provider.
DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"


def default_providers_problem(stack_file: StackFile, plan: Plan) -> Optional[str]:
    """What is wrong, if anything, with the stack file's ``pulumi:disable-default-providers``.

    The program declares its own provider of each package (AWS, Kubernetes,
    Databricks) from the stack's config; with that package's default provider
    still enabled, a resource declared without one (a mistake, or a pull
    request's) would deploy with whatever credentials the CI runner has. So
    every package the plan declares a provider of must be disabled: ``["*"]``
    or each by name. The packages come from the plan, not from a list here.
    """
    packages = sorted({r.type.split(":")[2] for r in plan.resources if r.type.startswith("pulumi:providers:")})
    disabled = decode(stack_file.config.get(DISABLE_DEFAULT_PROVIDERS, "[]"))
    names = set(disabled) if isinstance(disabled, list) and all(isinstance(n, str) for n in disabled) else set()
    enabled = [] if "*" in names else [p for p in packages if p not in names]
    if not enabled:
        return None
    return (
        f"{DISABLE_DEFAULT_PROVIDERS}: leaves the default provider of {', '.join(enabled)} enabled, so a resource "
        f"declared without the stack's own provider would deploy with the runner's ambient credentials: set it to [\"*\"]"
    )


def pack_version(pack_dir: Path) -> str:
    """The version in PulumiPolicy.yaml, which the CLI reports instead of the SDK's placeholder.

    Like the CLI, refuses a folder without a readable PulumiPolicy.yaml.
    """
    project_file = pack_dir / "PulumiPolicy.yaml"
    try:
        project = yaml.safe_load(project_file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyPackError(f"{project_file}: not a readable policy pack project ({exc})") from None
    if not isinstance(project, dict) or "runtime" not in project:
        raise PolicyPackError(f"{project_file}: a policy pack project needs a 'runtime'")
    return str(project.get("version") or "")


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    message: str
    urn: Optional[str]


@dataclass(frozen=True)
class CheckResult:
    stack: str
    pack: str
    config_label: str
    violations: tuple[Violation, ...]
    #: How to fix each policy, from the pack.
    descriptions: Mapping[str, str]
    #: ``type name`` of each URN, for the report.
    resource_labels: Mapping[str, str]

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    def policies_violated(self, level: Optional[str] = None) -> set[str]:
        return {v.policy for v in self.violations if level is None or v.level == level}


def run_pack(plan: Plan, stack_file: StackFile, config_path: Path, config_label: str, pack_dir: Path) -> CheckResult:
    """Feed ``plan`` to the pack in ``pack_dir`` with the policy config at ``config_path``."""
    given = load_policy_config(config_path, config_label)
    version = pack_version(pack_dir)
    with PolicyPackProcess(pack_dir, pack_env(plan.stack, stack_file)) as pack:
        stub = pack.connect()
        try:
            analysis = analyze(
                stub,
                plan=plan,
                stack_file=stack_file,
                policy_config=lambda info: reconcile(info, given, config_label),
            )
        except grpc.RpcError as exc:
            raise pack.failure(f"failed while analysing ({exc.code().name}: {exc.details()})") from None
    info = analysis.info
    return CheckResult(
        stack=plan.stack,
        pack=f"{info.name}@{version or info.version}",
        config_label=config_label,
        violations=tuple(
            Violation(d.policyName, level_name(d.enforcementLevel), d.message.removeprefix(d.description).strip()
                      or d.description, urn)
            for d, urn in analysis.diagnostics
        ),
        descriptions={p.name: p.description for p in info.policies},
        resource_labels={r.urn: f"{r.type} {r.name}" for r in plan.resources},
    )


def format_result(result: CheckResult) -> str:
    """Violations grouped by resource, each with its enforcement level; then how to fix each policy."""
    levels = defaultdict(int)
    for v in result.violations:
        levels[v.level] += 1
    summary = ", ".join(f"{n} {level}" for level, n in sorted(levels.items())) or "no violations"
    lines = [f"policy check of {result.stack} ({result.pack}, {result.config_label}): {summary}"]
    grouped: dict[str, list[Violation]] = defaultdict(list)
    for v in result.violations:
        grouped[result.resource_labels.get(v.urn or "", "stack")].append(v)
    for label in sorted(grouped):
        lines += ["", label]
        lines += [
            f"  [{v.level}] {v.policy}: {v.message}" for v in sorted(grouped[label], key=lambda v: (v.level, v.policy))
        ]
    if result.violations:
        lines += ["", "how to fix:"]
        lines += [f"  {name}: {result.descriptions.get(name, '')}" for name in sorted(result.policies_violated())]
    return "\n".join(lines)


#: The policy level of a stack whose name binds no environment: the strictest, never a weaker one.
STRICTEST_ENVIRONMENT = PROD


def environment_of_stack(stack: str) -> str:
    """The environment a stack's name binds it to (``infra.contract.naming.stack_environment``), else prod.

    Deliberately not the stack file's ``model-platform:environment``: a pull
    request that renames prod's environment to ``dev`` must still be judged at
    prod's level. A name binding no environment gets the strictest level.
    """
    return stack_environment(stack) or STRICTEST_ENVIRONMENT


def policy_config_for_stack(stack: str, root: Path) -> Path:
    """``policies/<stack>.json`` when the project has one, else ``policies/<environment of the stack's name>.json``."""
    own = root / PACK_DIR_NAME / f"{stack}.json"
    if own.is_file():
        return own
    return root / PACK_DIR_NAME / f"{environment_of_stack(stack)}.json"


def check_stack(stack_file: StackFile, stack: str, root: Path, config_path: Optional[Path] = None) -> CheckResult:
    """Plan ``stack_file`` offline and check it with the pack under ``root/policies``.

    The policy config defaults to ``policy_config_for_stack``: chosen by the
    stack's name, never by a value the stack file declares. Raises
    ConfigError for a stack or policy config that does not validate, and for a
    stack file that leaves a default provider of the plan's packages enabled.
    """
    if config_path is None:
        config_path = policy_config_for_stack(stack, root)
    plan = plan_stack_file(stack_file, stack)  # validates the stack config first
    problem = default_providers_problem(stack_file, plan)
    if problem:
        from infra.config import ConfigError

        raise ConfigError(stack_file.label, [problem], [stack_file.line_of(problem)])
    label = os.path.relpath(config_path, Path.cwd()) if config_path.is_absolute() else str(config_path)
    return run_pack(plan, stack_file, config_path, label, root / PACK_DIR_NAME)
