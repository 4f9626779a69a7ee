"""Crafted programs for the policy pack, fed to the real pack over Pulumi's Analyzer protocol.

A crafted program is a list of :class:`Res` (type token, name, inputs, the
names of the resources each input depends on): what a hostile pull request
could declare, without writing a Pulumi program for it. It is turned into the
plan ``modelctl check`` builds and sent through modelctl's own host
(``PolicyPackProcess``, ``WirePlan``, ``reconcile``, ``configure_request``):
the pack is started once, as the Pulumi CLI starts it, with a stack config
naming the stack's account and cluster, and each check configures it with an
environment's policy file (plus any settings a test overrides) before
``Analyze`` of every resource and ``AnalyzeStack``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2

from infra.stack_source import StackFile
from modelctl.check import (
    PolicyConfig,
    PolicyPackProcess,
    WirePlan,
    configure_request,
    load_policy_config,
    pack_env,
    reconcile,
)
from modelctl.engine import Plan, PlannedResource

PACK = Path(__file__).resolve().parents[2] / "policies"
STACK = "prod"
ACCOUNT = "444455556666"
OTHER_ACCOUNT = "999988887777"
REGION = "eu-west-2"
ISSUER = "oidc.eks.eu-west-2.amazonaws.com/id/9F8E7D6C5B4A39281706F5E4D3C2B1A0"
OIDC_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
#: What the pack reads of the stack config: the account it vouches for, its cluster, its bundle encryption.
STACK_CONFIG = {
    "config": {
        "model-platform:environment": STACK,
        "model-platform:aws": {"region": REGION, "accountId": ACCOUNT},
        "model-platform:kubernetes": {"oidcProviderArn": OIDC_PROVIDER, "namespace": "models"},
        "model-platform:bundleStore": {"encryption": "sse-kms"},
    }
}


@dataclass
class Res:
    """One resource of a crafted program; ``deps`` maps an input to the names of the resources it depends on."""

    type: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    deps: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::model-platform::{type_}::{name}"


def plan_of(resources: Sequence[Res]) -> Plan:
    """The plan ``modelctl check`` would build for these resources (dependencies as the engine records them)."""
    urns = {r.name: urn(r.type, r.name) for r in resources}
    planned = []
    for r in resources:
        property_dependencies = {prop: [urns[n] for n in names] for prop, names in r.deps.items()}
        planned.append(
            PlannedResource(
                urn=urns[r.name],
                type=r.type,
                name=r.name,
                parent=None,
                custom=True,
                inputs=copy.deepcopy(r.inputs),
                options={"protect": r.protect},
                property_dependencies=property_dependencies,
                dependencies=sorted({u for us in property_dependencies.values() for u in us}),
            )
        )
    return Plan(STACK, planned, {})


@dataclass(frozen=True)
class Finding:
    policy: str
    level: str
    message: str
    #: The name of the resource the finding is about, or None for the stack.
    resource: Optional[str]


@dataclass(frozen=True)
class Findings:
    items: tuple[Finding, ...]

    def of(self, policy: str) -> list[Finding]:
        return [f for f in self.items if f.policy == policy]

    def messages(self, policy: str) -> list[str]:
        return [f.message for f in self.of(policy)]

    def policies(self) -> set[str]:
        return {f.policy for f in self.items}


def _findings(response: analyzer_pb2.AnalyzeResponse, names: Mapping[str, str], urn_: str = "") -> list[Finding]:
    found = []
    for d in response.diagnostics:
        level = analyzer_pb2.EnforcementLevel.Name(d.enforcementLevel).lower()
        message = d.message.removeprefix(d.description).strip() or d.description
        found.append(Finding(d.policyName, level, message, names.get(d.urn or urn_)))
    return found


class PackSession:
    """The real pack, started once, serving every crafted program of the test session."""

    def __init__(self) -> None:
        stack_file = StackFile.from_document(STACK_CONFIG, f"stacks/Pulumi.{STACK}.yaml")
        self._process = PolicyPackProcess(PACK, pack_env(STACK, stack_file))
        self._stub = self._process.connect()
        self.info = self._stub.GetAnalyzerInfo(empty_pb2.Empty())

    def config(
        self, environment: str, settings: Optional[Mapping[str, Mapping[str, Any]]] = None
    ) -> dict[str, PolicyConfig]:
        """``policies/<environment>.json`` reconciled as the CLI does, with ``settings`` merged per policy."""
        path = PACK / f"{environment}.json"
        effective = reconcile(self.info, load_policy_config(path, str(path)), str(path))
        for name, extra in (settings or {}).items():
            effective[name] = PolicyConfig(effective[name].level, {**effective[name].properties, **extra})
        return effective

    def check(
        self,
        resources: Sequence[Res],
        environment: str = STACK,
        settings: Optional[Mapping[str, Mapping[str, Any]]] = None,
    ) -> Findings:
        """Every diagnostic the pack reports for the program, as ``pulumi preview`` would get them."""
        self._stub.Configure(configure_request(self.config(environment, settings)))
        plan = plan_of(resources)
        names = {r.urn: r.name for r in plan.resources}
        wire = WirePlan(plan)
        found: list[Finding] = []
        for request in wire.requests():
            found += _findings(self._stub.Analyze(request), names, request.urn)
        found += _findings(self._stub.AnalyzeStack(wire.stack_request()), names)
        return Findings(tuple(found))

    def close(self) -> None:
        self._process.__exit__(None, None, None)


_shared: dict[str, PackSession] = {}


def shared_pack() -> PackSession:
    """The session's pack, started on first use."""
    if "pack" not in _shared:
        _shared["pack"] = PackSession()
    return _shared["pack"]


def close_shared_pack() -> None:
    session = _shared.pop("pack", None)
    if session is not None:
        session.close()


# --------------------------------------------------------------------------- documents


def policy_document(*statements: Mapping[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: Any, resources: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Sid": "Grant", "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def deny(actions: Any, resources: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Sid": "Refuse", "Effect": "Deny", "Action": actions, "Resource": resources, **extra}


@pytest.fixture(scope="session")
def pack() -> Iterator[PackSession]:
    """The real pack for the session's crafted programs (import it into a test module to use it)."""
    yield shared_pack()
    close_shared_pack()
