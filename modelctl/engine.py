"""Run the real Pulumi program offline, under Pulumi's mock engine.

Only the engine is swapped: the stack file's config is fed through the same
runtime config API ``pulumi up`` uses, and ``infra.program.main`` runs
unchanged. Secure values are replaced by a placeholder, never decrypted.
Every registration (components included, with its parent) is recorded.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterator, Optional

from infra.config import PROJECT
from infra.stack_source import SECRET_PLACEHOLDER, STACK_FILE_LABEL, StackFile
from modelctl.preview_state import UNKNOWN_PLACEHOLDER  # noqa: F401 - how plans record an unknown value
from modelctl.preview_state import StackCloud, partition_of, preview_state

#: Key of the fingerprints of secret values; shared with a ``modelctl plan`` subprocess so both sides compare.
FINGERPRINT_KEY_ENV = "MODELCTL_FINGERPRINT_KEY"
#: How ``Plan.to_json(full=True)`` writes a secret: ``{SECRET_JSON_KEY: fingerprint}``.
SECRET_JSON_KEY = "modelctl:secret"

_fingerprint_key: Optional[str] = None


def fingerprint_key() -> str:
    """$MODELCTL_FINGERPRINT_KEY, else a random key for this process (so fingerprints mean nothing elsewhere)."""
    global _fingerprint_key
    if _fingerprint_key is None:
        _fingerprint_key = os.environ.get(FINGERPRINT_KEY_ENV) or secrets.token_hex(32)
    return _fingerprint_key


def fingerprint(value: Any) -> str:
    """Keyed HMAC-SHA256 of a secret's plaintext: tells a changed secret from an unchanged one, reveals nothing."""
    text = json.dumps(_encode_secrets(value), sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(fingerprint_key().encode(), text.encode(), hashlib.sha256).hexdigest()


class Secret:
    """Marks a value that was a Pulumi secret; it is never printed.

    ``fingerprint`` (see ``fingerprint()``) lets a diff see that the value
    changed. ``None`` means the value is not known here (a hand-made plan, a
    plan read from ``modelctl plan --json``): it then equals any secret.
    """

    __slots__ = ("fingerprint",)

    def __init__(self, fingerprint: Optional[str] = None):
        self.fingerprint = fingerprint

    def __repr__(self) -> str:
        return SECRET_PLACEHOLDER

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return False
        if self.fingerprint is None or other.fingerprint is None:
            return True
        return hmac.compare_digest(self.fingerprint, other.fingerprint)

    def __hash__(self) -> int:
        return 0


#: A secret whose value is not known (for plans made by hand).
SECRET = Secret()


class PlanError(Exception):
    """The program declares something the real engine would refuse (e.g. two resources with one URN)."""


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: Optional[str]
    custom: bool
    inputs: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    #: URNs each input depends on (what the engine hands policy packs), and all dependencies.
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    #: URNs the resource had before (``aliases``): Pulumi moves such a resource instead of replacing it.
    aliases: list[str] = field(default_factory=list)

    def to_json(self, full: bool = False) -> dict[str, Any]:
        """The ``plan --json`` entry; ``full`` adds options and dependencies, and secrets' fingerprints."""
        doc = {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent}
        if not full:
            return {**doc, "inputs": to_plain(self.inputs)}
        return {
            **doc,
            "inputs": _encode_secrets(self.inputs),
            "custom": self.custom,
            "options": _encode_secrets(self.options),
            "propertyDependencies": self.property_dependencies,
            "dependencies": self.dependencies,
            "aliases": self.aliases,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "PlannedResource":
        """Read either form of ``to_json``; the short one has no options, and secrets without fingerprints."""
        full = "options" in doc
        return cls(
            urn=doc["urn"],
            type=doc["type"],
            name=doc["name"],
            parent=doc.get("parent"),
            custom=bool(doc.get("custom", True)),
            inputs=_decode_secrets(doc.get("inputs") or {}, bare_placeholder=not full),
            options=_decode_secrets(doc.get("options") or {}, bare_placeholder=False),
            property_dependencies=dict(doc.get("propertyDependencies") or {}),
            dependencies=list(doc.get("dependencies") or []),
            aliases=list(doc.get("aliases") or []),
        )


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    #: False for a plan read from ``plan --json``, which leaves resource options out: a diff skips them.
    has_options: bool = True

    def to_json(self, full: bool = False) -> dict[str, Any]:
        """``plan --json`` (secrets as [secret]); ``full``: everything ``from_json`` needs to rebuild the plan."""
        outputs = _encode_secrets(self.outputs) if full else to_plain(self.outputs)
        return {
            "stack": self.stack,
            "resources": [r.to_json(full) for r in self.resources],
            "outputs": outputs,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Plan":
        """A plan printed by ``modelctl plan --json`` or ``--json-full`` (e.g. by another revision's modelctl)."""
        full = all("options" in r for r in doc["resources"])
        return cls(
            stack=doc["stack"],
            resources=[PlannedResource.from_json(r) for r in doc["resources"]],
            outputs=_decode_secrets(doc.get("outputs") or {}, bare_placeholder=not full),
            has_options=full,
        )

    def by_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, type_: str, name: str) -> PlannedResource:
        for r in self.resources:
            if r.type == type_ and r.name == name:
                return r
        raise KeyError(f"no {type_} named {name!r} in the plan of {self.stack}")

    def children(self, urn: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.parent == urn]


def to_plain(value: Any) -> Any:
    """JSON-able copy of a recorded value, with secrets redacted."""
    if isinstance(value, Secret):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _encode_secrets(value: Any) -> Any:
    """JSON-able copy of a recorded value, each secret written as ``{SECRET_JSON_KEY: fingerprint}``."""
    if isinstance(value, Secret):
        return {SECRET_JSON_KEY: value.fingerprint}
    if isinstance(value, dict):
        return {str(k): _encode_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_secrets(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _decode_secrets(value: Any, bare_placeholder: bool) -> Any:
    """Inverse of ``_encode_secrets``.

    With ``bare_placeholder`` (the short ``plan --json``, which prints every
    secret as ``[secret]``) that string reads as a secret without fingerprint.
    """
    if isinstance(value, dict):
        if set(value) == {SECRET_JSON_KEY}:
            return Secret(value[SECRET_JSON_KEY])
        return {k: _decode_secrets(v, bare_placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_secrets(v, bare_placeholder) for v in value]
    if bare_placeholder and value == SECRET_PLACEHOLDER:
        return Secret()
    return value


def _clean(value: Any, assigned: Collection[str] = ()) -> Any:
    """Replace the SDK's wrapped secrets and unknowns in mock inputs.

    ``assigned`` are the values providers assign on create (ARNs with a hole,
    see ``modelctl.preview_state``): used whole, such a value is unknown.
    """
    # Every input of every resource passes here: strings, the common case, return before any SDK lookup.
    if isinstance(value, str):
        return UNKNOWN_PLACEHOLDER if value in assigned else value
    rpc, unknown = _sdk_values()
    if isinstance(value, dict):
        if rpc.is_rpc_secret(value):
            # Keep a secret map's or list's shape (a Secret's keys are not secret), redact its values.
            inner = _clean(rpc.unwrap_rpc_secret(value), assigned)
            if isinstance(inner, dict):
                return {k: Secret(fingerprint(v)) for k, v in inner.items()}
            if isinstance(inner, list):
                return [Secret(fingerprint(v)) for v in inner]
            return Secret(fingerprint(inner))
        return {k: _clean(v, assigned) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, assigned) for v in value]
    if isinstance(value, unknown):
        return UNKNOWN_PLACEHOLDER
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format carries every number as a double
    if hasattr(value, "urn") and hasattr(value, "id"):  # a resource reference
        return "[resource]"
    return value


def _sdk_values() -> tuple[Any, type]:
    """``pulumi.runtime.rpc`` and the SDK's ``Unknown``, imported on first use (the module loads without Pulumi)."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    return rpc, Unknown


# --------------------------------------------------------------------------- fake data sources

_DEFAULT_ACCOUNT = "123456789012"


def _fake_id(type_: str, name: str) -> str:
    return hashlib.sha256(f"{type_}::{name}".encode()).hexdigest()[:12]


def _invoke_result(token: str, args: dict[str, Any], region: str, account: str) -> dict[str, Any]:
    """Plausible data-source results for the invokes the program makes.

    An invoke not faked here is a PlanError: an empty result would let the
    program build ARNs and names out of missing values without anyone noticing.
    """
    partition, dns_suffix = partition_of(region)
    if token == "aws:eks/getCluster:getCluster":
        name = args.get("name", "cluster")
        fid = _fake_id(token, name).upper()
        return {
            "name": name,
            "arn": f"arn:{partition}:eks:{region}:{account}:cluster/{name}",
            "endpoint": f"https://{fid}.gr7.{region}.eks.{dns_suffix}",
            "certificateAuthorities": [{"data": "TU9DSy1DQQ=="}],
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.{dns_suffix}/id/{fid}"}]}],
            "version": "1.31",
            "status": "ACTIVE",
        }
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "accountId": account,
            "arn": f"arn:{partition}:sts::{account}:assumed-role/modelctl-plan/offline",
            "userId": "AROAMODELCTLPLAN0000:offline",
            "id": account,
        }
    if token == "aws:index/getPartition:getPartition":
        reverse = ".".join(reversed(dns_suffix.split(".")))
        return {"partition": partition, "dnsSuffix": dns_suffix, "reverseDnsPrefix": reverse, "id": partition}
    if token == "aws:index/getRegion:getRegion":
        return {
            "name": region,
            "region": region,
            "id": region,
            "endpoint": f"ec2.{region}.{dns_suffix}",
            "description": region,
        }
    raise PlanError(f"modelctl's offline engine cannot fake {token}; add it to modelctl/engine.py _invoke_result")


class _RecordingMocks:
    """Pulumi ``Mocks``: answers as providers answer a preview; the monitor below records registrations.

    A custom resource gets no id and only its preview state
    (``modelctl.preview_state``): what the cloud assigns on create stays
    unknown, as in ``pulumi preview`` of a new stack.

    ``failures`` keeps the invokes it could not fake: the SDK may wrap or
    swallow an exception raised inside a mock, the plan must still fail.
    """

    def __init__(self, cloud: StackCloud):
        import pulumi

        failures: list[PlanError] = []
        self.failures = failures
        assigned: set[str] = set()
        #: Values providers assign on create, handed out as ARNs with a hole (see ``preview_state``).
        self.assigned = assigned
        #: The inputs the SDK's mock monitor last deserialized on this thread (it runs each registration on
        #: a worker thread): the recording monitor reads them instead of deserializing the request again.
        self.last_inputs = threading.local()
        last_inputs = self.last_inputs

        class _M(pulumi.runtime.Mocks):
            def new_resource(inner, args):  # noqa: N805
                inputs = args.inputs
                last_inputs.value = inputs
                if args.typ.startswith("pulumi:providers:"):
                    return f"{args.name}-provider-id", {}
                state = preview_state(args.typ, inputs, cloud)
                assigned.update(state.assigned)
                # An empty id is unknown to the SDK during a preview, like the id of a resource not yet created.
                return "", state.outputs

            def call(inner, args):  # noqa: N805
                try:
                    return _invoke_result(args.token, args.args, cloud.region, cloud.account)
                except PlanError as exc:
                    failures.append(exc)
                    raise

        self.mocks = _M()


def _recording_monitor(recording: _RecordingMocks, sink: list[PlannedResource]) -> Any:
    from pulumi.runtime.mocks import MockMonitor

    assigned, last_inputs = recording.assigned, recording.last_inputs

    class RecordingMonitor(MockMonitor):
        def RegisterResource(self, request):  # noqa: N802 - gRPC method name
            last_inputs.value = None
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                inputs = _clean(last_inputs.value, assigned)
                options: dict[str, Any] = {}
                if request.protect:
                    options["protect"] = True
                if getattr(request, "retainOnDelete", False):
                    options["retainOnDelete"] = True
                if request.provider:
                    options["provider"] = request.provider.rsplit("::", 1)[0]  # "<urn>::<id>"
                if list(request.ignoreChanges):
                    options["ignoreChanges"] = list(request.ignoreChanges)
                sink.append(
                    PlannedResource(
                        urn=response.urn,
                        type=request.type,
                        name=request.name,
                        parent=request.parent or None,
                        custom=bool(request.custom),
                        inputs=inputs,
                        options=options,
                        property_dependencies={
                            key: sorted(deps.urns) for key, deps in request.propertyDependencies.items() if deps.urns
                        },
                        dependencies=sorted(request.dependencies),
                        aliases=_alias_urns(request),
                    )
                )
            return response

    return RecordingMonitor(recording.mocks)


def _alias_urns(request: Any) -> list[str]:
    """The URNs a registration's aliases name, each spec completed from the resource as the engine does."""
    from pulumi import get_project, get_stack

    urns = set(request.aliasURNs)
    for alias in request.aliases:
        if alias.urn:
            urns.add(alias.urn)
            continue
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        type_ = spec.type or request.type
        if parent:
            type_ = parent.split("::")[2].split("$")[-1] + "$" + type_  # a child's URN carries its parent's type
        stack, project = spec.stack or get_stack(), spec.project or get_project()
        urns.add(f"urn:pulumi:{stack}::{project}::{type_}::{spec.name or request.name}")
    return sorted(urns)


def plan_stack_file(stack_file: StackFile, stack: str, program: Optional[Callable[[], None]] = None) -> Plan:
    """Run ``program`` (default: the real one) against ``stack_file`` under mocks.

    Raises ``infra.config.ConfigError`` on config errors, before any resource is declared.
    """
    ctx = contextvars.Context()  # a clean Pulumi runtime state for each plan
    with _cyclic_gc_paused():
        return ctx.run(_plan, stack_file, stack, program)


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a plan runs; the caller's setting is back afterwards.

    The SDKs' typed modules leave ~0.5 million tracked objects, and a plan
    keeps every resource, Output and future it makes alive until it ends, so
    CPython's full collections kept re-traversing a heap that only grew:
    about half of a plan's CPU time per model (benchmarks/plan_floor.py, 50
    extra models of the staging template: 109 -> 62 ms each). A plan's
    garbage is freed by reference counting or by the first collection after
    it; peak RSS of a 51-model plan is unchanged (387 MiB).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _plan(stack_file: StackFile, stack: str, program: Optional[Callable[[], None]]) -> Plan:
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    if program is None:
        from infra.program import main as program

    _ensure_loop()
    STACK_FILE_LABEL.set(stack_file.label)
    cloud = _stack_cloud(stack_file, stack)
    recorded: list[PlannedResource] = []
    recording = _RecordingMocks(cloud)
    mocks = recording.mocks
    pulumi.runtime.set_all_config(dict(stack_file.config), list(stack_file.secret_keys))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=True, monitor=_recording_monitor(recording, recorded))
    try:
        # What the SDK's pulumi.runtime.test does, without its nested second wait on the function's result: a
        # wait inside the running program pumps the event loop re-entrantly, which fails ("Cannot enter into
        # task") once other imports have bound asyncio's task bookkeeping differently (benchmarks/plan_floor.py).
        _sync_await(run_pulumi_func(program))
    except Exception:
        if recording.failures:
            raise recording.failures[0] from None
        raise
    if recording.failures:
        raise recording.failures[0]
    root = pulumi.runtime.get_root_resource()
    outputs = {name: _resolve(value, recording.assigned) for name, value in (root.outputs if root else {}).items()}
    seen: set[str] = set()
    duplicates = sorted({r.urn for r in recorded if r.urn in seen or seen.add(r.urn)})  # type: ignore[func-returns-value]
    if duplicates:
        raise PlanError(
            f"{stack_file.label}: the program declares {len(duplicates)} URN(s) twice, which `pulumi up` refuses "
            f"(\"Duplicate resource URN\"): " + ", ".join(duplicates)
        )
    recorded.sort(key=lambda r: r.urn)
    return Plan(stack=stack, resources=recorded, outputs=outputs)


def _stack_cloud(stack_file: StackFile, stack: str) -> StackCloud:
    """Where resources live: the stack's typed ``aws`` block.

    A stack that pins no account deploys to whichever account its credentials
    reach; offline that is AWS's documentation account, 123456789012, the one
    data sources (GetCallerIdentity) and IAM ARNs agree on. A ConfigError here
    is the one the program itself would raise, before any resource.
    """
    aws = stack_file.stack_config(stack=stack).aws  # the planned stack's name binds its environment
    return StackCloud(region=aws.region, account=aws.account_id or _DEFAULT_ACCOUNT)


def _ensure_loop() -> None:
    """One event loop per thread, reused by every plan (Pulumi's sync helpers need one)."""
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if not loop.is_closed():
            return
    except RuntimeError:
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())


def _resolve(value: Any, assigned: Collection[str]) -> Any:
    """A stack output's value as the plan shows it: unknowns kept, a secret as its fingerprint.

    Like running the program (``_plan``), this reaches below the SDK's public
    API: no public call resolves an Output outside a program with its unknowns
    kept (``apply`` skips them), so this awaits ``Output.future(with_unknowns=True)``
    with the SDK's own synchronous helper, as its ``pulumi.runtime.test`` does.
    """
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    out = pulumi.Output.from_input(value)
    resolved = _clean(_sync_await(out.future(with_unknowns=True)), assigned)
    if _sync_await(out.is_secret()):
        return Secret(fingerprint(resolved))
    return resolved

