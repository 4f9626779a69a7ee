"""The Pulumi engine's side of the Analyzer gRPC protocol, enough to run a policy pack offline.

What ``pulumi preview --policy-pack DIR`` does with a Python pack, and no
more: start it with the interpreter DIR/PulumiPolicy.yaml names (``python -u
-m pulumi.policy <engine address> .``, stack config in ``PULUMI_CONFIG``),
read its port, then GetAnalyzerInfo, Configure, ConfigureStack, Analyze for
every resource and AnalyzeStack once. Inputs are marshalled as the engine
marshals them: secrets as secret values, values known only after deployment
as the engine's unknown sentinel (see ``modelctl.check`` for the one
deliberate difference).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi.runtime.proto.analyzer_pb2_grpc import AnalyzerStub
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from infra.config import PROJECT
from infra.stack_source import SECRET_PLACEHOLDER, StackFile
from modelctl.engine import UNKNOWN_PLACEHOLDER, Plan, PlannedResource, Secret
from modelctl.policy_config import PolicyConfig

#: The pack only talks to an engine to log after a crash, and then logs to stderr without one.
NO_ENGINE = "127.0.0.1:0"
#: The organization the CLI reports for self-managed (file://, s3://) backends.
ORGANIZATION = "organization"
START_TIMEOUT_SECONDS = 60
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]


class PolicyPackError(Exception):
    """The pack did not start, or failed while analysing."""


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


class WirePlan:
    """A plan's resources as Analyzer messages, each with its provider resolved."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self._providers = [p for p in plan.resources if p.type.startswith("pulumi:providers:")]

    def _provider(self, r: PlannedResource) -> Optional[PlannedResource]:
        """The resource's provider: by URN, else the default provider of its package."""
        if not r.custom or r.type.startswith("pulumi:providers:"):
            return None
        by_urn = [p for p in self._providers if p.urn == r.options.get("provider")]
        by_package = [p for p in self._providers if p.type == f"pulumi:providers:{r.type.split(':', 1)[0]}"]
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


# --------------------------------------------------------------------------- the conversation


@dataclass(frozen=True)
class Analysis:
    """What the pack said: its policies, and each diagnostic with the URN it is about (None: the stack)."""

    info: analyzer_pb2.AnalyzerInfo
    diagnostics: tuple[tuple[analyzer_pb2.AnalyzeDiagnostic, Optional[str]], ...]


def analyze(
    stub: AnalyzerStub,
    *,
    plan: Plan,
    stack_file: StackFile,
    policy_config: Callable[[analyzer_pb2.AnalyzerInfo], Mapping[str, PolicyConfig]],
) -> Analysis:
    """One preview's conversation with a started pack; ``policy_config`` picks the config from the pack's info.

    Raises grpc.RpcError when the pack fails a call (the caller knows the process to blame).
    """
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    stub.Configure(configure_request(policy_config(info)))
    _unless_unimplemented(stub.ConfigureStack, stack_configure_request(plan.stack, stack_file))
    wire = WirePlan(plan)
    found: list[tuple[analyzer_pb2.AnalyzeDiagnostic, Optional[str]]] = []
    for request in wire.requests():
        found += [(d, d.urn or request.urn) for d in stub.Analyze(request).diagnostics]
    stack_response = _unless_unimplemented(stub.AnalyzeStack, wire.stack_request())
    if stack_response is not None:
        found += [(d, d.urn or None) for d in stack_response.diagnostics]
    return Analysis(info, tuple(found))


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
