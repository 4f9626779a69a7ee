"""The offline twin of ``pulumi preview --policy-pack policies --policy-pack-config policies/<env>.json``.

The stack is planned under the mock engine; the real policy pack is started
the way the Pulumi CLI starts a Python pack (``python -u -m pulumi.policy
<engine address> .`` in ``policies/``, stack config in ``PULUMI_CONFIG``),
and prints its port; then the check speaks Pulumi's Analyzer gRPC protocol to
it like the CLI does: GetAnalyzerInfo, Configure with the environment's policy
config (reconciled as the CLI reconciles it: policy defaults, then ``all``,
then per-policy entries, validated against each policy's schema),
ConfigureStack, Analyze for every resource and AnalyzeStack once. Secret
inputs travel as Pulumi secret values; their real value is never known here.
The plan is a preview of a new stack: an input known only after deployment
(the id of a resource created in the same update) travels as the engine's
unknown sentinel, as the CLI sends it, and the pack's rules judge around it.

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

import json
import os
import queue
import subprocess
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi.runtime.proto.analyzer_pb2_grpc import AnalyzerStub
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from infra.config import PROJECT, ConfigError
from infra.stack_source import SECRET_PLACEHOLDER, StackFile
from modelctl.engine import UNKNOWN_PLACEHOLDER, Plan, PlannedResource, Secret, plan_stack_file

PACK_DIR_NAME = "policies"
#: The pack only talks to an engine to log after a crash, and then logs to stderr without one.
NO_ENGINE = "127.0.0.1:0"
#: The organization the CLI reports for self-managed (file://, s3://) backends.
ORGANIZATION = "organization"
START_TIMEOUT_SECONDS = 60
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]


class PolicyPackError(Exception):
    """The pack did not start, or failed while analysing."""


# --------------------------------------------------------------------------- policy config


@dataclass(frozen=True)
class PolicyConfig:
    """One entry of a policy config file: an enforcement level and/or settings."""

    level: Optional[str] = None
    properties: Mapping[str, Any] = field(default_factory=dict)


def load_policy_config(path: Path, label: str) -> dict[str, PolicyConfig]:
    """Parse ``{"all": "mandatory", "<policy>": "advisory" | {"enforcementLevel": ..., <settings>}}``."""
    try:
        document = json.loads(path.read_text() or "{}")
    except OSError as exc:
        raise ConfigError(label, [f"cannot read the policy config: {exc.strerror}"]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(label, [f"not valid JSON: {exc}"]) from None
    if not isinstance(document, dict):
        raise ConfigError(label, ["must be a JSON object keyed by policy name"])
    entries, problems = {}, []
    for name, value in document.items():
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            problems.append(f"{name}: {value!r} is neither an enforcement level nor an object")
            continue
        settings = {k: v for k, v in value.items() if k != "enforcementLevel"}
        level = value.get("enforcementLevel")
        if level is not None and level not in LEVELS:
            problems.append(f"{name}: enforcement level {level!r} is not one of {', '.join(LEVELS)}")
            continue
        entries[name] = PolicyConfig(level, settings)
    if problems:
        raise ConfigError(label, problems)
    return entries


def _level_name(level: int) -> str:
    return analyzer_pb2.EnforcementLevel.Name(level).lower()


def reconcile(
    info: analyzer_pb2.AnalyzerInfo, given: Mapping[str, PolicyConfig], label: str
) -> dict[str, PolicyConfig]:
    """Each policy's effective config: its defaults, then ``all``, then its own entry; ConfigError on mistakes."""
    schemas = {p.name: json_format.MessageToDict(p.configSchema.properties) for p in info.policies}
    effective = {
        p.name: PolicyConfig(
            _level_name(p.enforcementLevel), {k: s["default"] for k, s in schemas[p.name].items() if "default" in s}
        )
        for p in info.policies
    }
    problems = [
        f"{name}: not a policy of the {info.name} pack (typo?)"
        for name in given
        if name != "all" and name not in effective
    ]
    everyone = given.get("all")
    for name, current in effective.items():
        own = given.get(name, PolicyConfig())
        level = own.level or (everyone.level if everyone else None) or current.level
        effective[name] = PolicyConfig(level, {**current.properties, **own.properties})
        problems += [f"{name}: {p}" for p in _schema_problems(schemas[name], own.properties)]
    if problems:
        raise ConfigError(label, problems)
    return effective


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
}


def _schema_problems(schema: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]) -> Iterator[str]:
    """The JSON-schema keywords the pack's settings use: type, items, minimum, enum; unknown settings are typos."""
    for key, value in values.items():
        spec = schema.get(key)
        if spec is None:
            yield f"{key!r} is not a setting of this policy (settings: {', '.join(sorted(schema)) or 'none'})"
        else:
            yield from (f"{key}: {p}" for p in _value_problems(spec, value))


def _value_problems(spec: Mapping[str, Any], value: Any) -> Iterator[str]:
    kind = spec.get("type")
    wanted = _JSON_TYPES.get(kind, (object,))
    if isinstance(value, bool) and bool not in wanted or not isinstance(value, wanted):
        yield f"{value!r} is not of type {kind}"
        return
    if kind == "integer" and isinstance(value, float) and not value.is_integer():
        yield f"{value!r} is not an integer"
    if "minimum" in spec and value < spec["minimum"]:
        yield f"{value!r} is less than the minimum of {spec['minimum']:g}"
    if "enum" in spec and value not in spec["enum"]:
        yield f"{value!r} is not one of {spec['enum']}"
    for item in value if kind == "array" else ():
        yield from _value_problems(spec.get("items", {}), item)


# --------------------------------------------------------------------------- the wire


def wire_value(value: Any) -> Any:
    """A planned input as the engine marshals it for an analyzer.

    Secrets travel as secret values; a value known only after deployment as
    the engine's unknown sentinel (``04da6b54-...``, what the CLI sends for an
    unknown string), which a rule must read around rather than judge a
    placeholder string. Text with an unknown part stays text (module doc).
    """
    if isinstance(value, Secret):
        return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": SECRET_PLACEHOLDER}
    if value == UNKNOWN_PLACEHOLDER:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {str(k): wire_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_value(v) for v in value]
    return value


def wire_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(wire_value(dict(props)))
    return struct


@dataclass(frozen=True)
class WirePlan:
    """A plan's resources as Analyzer messages, each with its provider resolved."""

    plan: Plan

    def _provider(self, r: PlannedResource) -> Optional[PlannedResource]:
        """The resource's provider: by URN, else the default provider of its package."""
        if not r.custom or r.type.startswith("pulumi:providers:"):
            return None
        providers = [p for p in self.plan.resources if p.type.startswith("pulumi:providers:")]
        by_urn = [p for p in providers if p.urn == r.options.get("provider")]
        by_package = [p for p in providers if p.type == f"pulumi:providers:{r.type.split(':', 1)[0]}"]
        found = by_urn or by_package
        return found[0] if len(found) == 1 else None

    def _options(self, r: PlannedResource) -> analyzer_pb2.AnalyzerResourceOptions:
        return analyzer_pb2.AnalyzerResourceOptions(
            protect=bool(r.options.get("protect")),
            ignoreChanges=list(r.options.get("ignoreChanges", [])),
            parent=r.parent or "",
        )

    def _provider_message(self, r: PlannedResource) -> Optional[analyzer_pb2.AnalyzerProviderResource]:
        p = self._provider(r)
        if p is None:
            return None
        return analyzer_pb2.AnalyzerProviderResource(
            type=p.type, urn=p.urn, name=p.name, properties=wire_struct(p.inputs)
        )

    def _fields(self, r: PlannedResource) -> dict[str, Any]:
        """What ``Analyze`` and ``AnalyzeStack`` both say about a resource."""
        return {
            "type": r.type,
            "urn": r.urn,
            "name": r.name,
            "properties": wire_struct(r.inputs),
            "options": self._options(r),
            "provider": self._provider_message(r),
        }

    def requests(self) -> Iterator[analyzer_pb2.AnalyzeRequest]:
        for r in self.plan.resources:
            yield analyzer_pb2.AnalyzeRequest(**self._fields(r))

    def stack_request(self) -> analyzer_pb2.AnalyzeStackRequest:
        """Every resource, with what only the stack-level analysis gets: parent and dependencies."""
        return analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    **self._fields(r),
                    parent=r.parent or "",
                    dependencies=r.dependencies,
                    propertyDependencies={
                        key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                        for key, urns in r.property_dependencies.items()
                    },
                )
                for r in self.plan.resources
            ]
        )


# --------------------------------------------------------------------------- the pack process


def _pack_interpreter(pack_dir: Path) -> Path:
    """The interpreter PulumiPolicy.yaml names, resolved by the pack's own helper (as the CLI resolves it)."""
    import importlib.util

    path = pack_dir / "model_platform_policy" / "runtime.py"
    spec = importlib.util.spec_from_file_location("_model_platform_policy_runtime", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise PolicyPackError(f"{path}: missing; is {pack_dir} the model-platform policy pack?")
    runtime = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runtime)
    try:
        return runtime.pack_interpreter(pack_dir)
    except runtime.PackRuntimeError as exc:
        raise PolicyPackError(str(exc)) from None


class PolicyPackProcess:
    """The pack, started as the CLI starts it; a context manager that always stops it."""

    def __init__(self, pack_dir: Path, env: Mapping[str, str]):
        self.pack_dir = pack_dir
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [str(_pack_interpreter(pack_dir)), "-u", "-m", "pulumi.policy", NO_ENGINE, "."],
            cwd=pack_dir,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._channel: Optional[grpc.Channel] = None

    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output: the pack exited

    def failure(self, what: str) -> PolicyPackError:
        self._stderr.seek(0)
        detail = self._stderr.read().decode(errors="replace").strip()
        return PolicyPackError(f"policy pack {self.pack_dir}: {what}" + (f":\n{detail}" if detail else ""))

    def connect(self) -> AnalyzerStub:
        try:
            line = self._lines.get(timeout=START_TIMEOUT_SECONDS)
        except queue.Empty:
            raise self.failure(f"printed no port within {START_TIMEOUT_SECONDS} s") from None
        if not line.strip().isdigit():
            raise self.failure("exited before serving" if not line else f"printed {line.strip()!r} instead of a port")
        self._channel = grpc.insecure_channel(f"127.0.0.1:{line.strip()}", options=_GRPC_OPTIONS)
        grpc.channel_ready_future(self._channel).result(timeout=START_TIMEOUT_SECONDS)
        return AnalyzerStub(self._channel)

    def __enter__(self) -> "PolicyPackProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._channel is not None:
            self._channel.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()


def pack_env(stack: str, stack_file: StackFile) -> dict[str, str]:
    """What the CLI hands a pack: the stack config (secure values as placeholders here) and the stack's identity."""
    return {
        "PULUMI_CONFIG": json.dumps(stack_file.config),
        "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(stack_file.secret_keys)),
        "PULUMI_PROJECT": PROJECT,
        "PULUMI_STACK": stack,
        "PULUMI_ORGANIZATION": ORGANIZATION,
        "PULUMI_DRY_RUN": "true",
    }


# --------------------------------------------------------------------------- running and reporting


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


def _violations(response: analyzer_pb2.AnalyzeResponse, urn: Optional[str]) -> Iterator[Violation]:
    for d in response.diagnostics:
        message = d.message.removeprefix(d.description).strip() or d.description
        yield Violation(d.policyName, _level_name(d.enforcementLevel), message, d.urn or urn)


def run_pack(plan: Plan, stack_file: StackFile, config_path: Path, config_label: str, pack_dir: Path) -> CheckResult:
    """Feed ``plan`` to the pack in ``pack_dir`` with the policy config at ``config_path``."""
    given = load_policy_config(config_path, config_label)
    version = pack_version(pack_dir)
    wire = WirePlan(plan)
    with PolicyPackProcess(pack_dir, pack_env(plan.stack, stack_file)) as pack:
        stub = pack.connect()
        try:
            info = stub.GetAnalyzerInfo(empty_pb2.Empty())
            stub.Configure(configure_request(reconcile(info, given, config_label)))
            _unless_unimplemented(stub.ConfigureStack, stack_configure_request(plan.stack, stack_file))
            found: list[Violation] = []
            for request in wire.requests():
                found += _violations(stub.Analyze(request), request.urn)
            stack_response = _unless_unimplemented(stub.AnalyzeStack, wire.stack_request())
            if stack_response is not None:
                found += _violations(stack_response, None)
        except grpc.RpcError as exc:
            raise pack.failure(f"failed while analysing ({exc.code().name}: {exc.details()})") from None
    return CheckResult(
        stack=plan.stack,
        pack=f"{info.name}@{version or info.version}",
        config_label=config_label,
        violations=tuple(found),
        descriptions={p.name: p.description for p in info.policies},
        resource_labels={r.urn: f"{r.type} {r.name}" for r in plan.resources},
    )


def configure_request(config: Mapping[str, PolicyConfig]) -> analyzer_pb2.ConfigureAnalyzerRequest:
    policy_config = {}
    for name, c in config.items():
        level = analyzer_pb2.EnforcementLevel.Value((c.level or "advisory").upper())
        policy_config[name] = analyzer_pb2.PolicyConfig(enforcementLevel=level, properties=wire_struct(c.properties))
    return analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=policy_config)


def stack_configure_request(stack: str, stack_file: StackFile) -> analyzer_pb2.AnalyzerStackConfigureRequest:
    return analyzer_pb2.AnalyzerStackConfigureRequest(
        stack=stack,
        project=PROJECT,
        organization=ORGANIZATION,
        dry_run=True,
        config=stack_file.config,
        config_secret_keys=list(stack_file.secret_keys),
    )


def _unless_unimplemented(call: Any, request: Any) -> Any:
    """``call(request)``, or None from a pack too old to implement it (the CLI carries on too)."""
    try:
        return call(request)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return None
        raise


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


def check_stack(stack_file: StackFile, stack: str, root: Path, config_path: Optional[Path] = None) -> CheckResult:
    """Plan ``stack_file`` offline and check it with the pack under ``root/policies``.

    The policy config defaults to ``policies/<environment>.json``, the
    environment being the stack's ``model-platform:environment``. Raises
    ConfigError for a stack or policy config that does not validate.
    """
    plan = plan_stack_file(stack_file, stack)  # validates the stack config first
    if config_path is None:
        environment = stack_file.stack_config().environment.value
        config_path = root / PACK_DIR_NAME / f"{environment}.json"
    label = os.path.relpath(config_path, Path.cwd()) if config_path.is_absolute() else str(config_path)
    return run_pack(plan, stack_file, config_path, label, root / PACK_DIR_NAME)
