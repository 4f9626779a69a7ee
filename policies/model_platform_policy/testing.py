"""Build what a rule receives, the way the Analyzer delivers it, to call rules directly in tests.

Properties go through the same path as in the pack: a protobuf ``Struct``
(so numbers become floats), then pulumi_policy's deserializer and its
unknown-checking proxies.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from infra.contract.naming import PROJECT


def on_the_wire(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """``props`` as a rule sees them after a trip through the Analyzer protocol."""
    struct = struct_pb2.Struct()
    struct.update(dict(props))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def resource(
    resource_type: str,
    props: Optional[Mapping[str, Any]] = None,
    *,
    name: str = "res",
    protect: bool = False,
    parent: Optional[PolicyResource] = None,
    dependencies: Optional[Mapping[str, Sequence[PolicyResource]]] = None,
    additional_secret_outputs: Sequence[str] = (),
    provider: Optional[PolicyProviderResource] = None,
) -> PolicyResource:
    opts = PolicyResourceOptions(
        protect,
        [],
        None,
        [],
        PolicyCustomTimeouts(0, 0, 0),
        list(additional_secret_outputs),
        parent.urn if parent else None,
    )
    urn = f"urn:pulumi:test::{PROJECT}::{resource_type}::{name}"
    deps = {k: list(v) for k, v in (dependencies or {}).items()}
    flat = sorted({d.urn: d for v in deps.values() for d in v}.values(), key=lambda d: d.urn)
    return PolicyResource(resource_type, on_the_wire(props or {}), urn, name, opts, provider, parent, flat, deps)


def provider(package: str, props: Mapping[str, Any], *, name: str = "default") -> PolicyProviderResource:
    """A provider resource as the Analyzer hands it over (its inputs as the engine keeps them)."""
    resource_type = f"pulumi:providers:{package}"
    urn = f"urn:pulumi:test::{PROJECT}::{resource_type}::{name}"
    return PolicyProviderResource(resource_type, on_the_wire(props), urn, name)


def resource_args(res: PolicyResource, config: Optional[Mapping[str, Any]] = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(res.resource_type, res.props, res.urn, res.name, res.opts, res.provider, config)


def stack_args(resources: Sequence[PolicyResource], config: Optional[Mapping[str, Any]] = None) -> StackValidationArgs:
    return StackValidationArgs(list(resources), config)


def violations(
    policy: Policy, subject: Union[PolicyResource, Sequence[PolicyResource]], config: Optional[Mapping[str, Any]] = None
) -> list[str]:
    """Messages ``policy`` reports for one resource (resource policies) or a whole stack (stack policies)."""
    found: list[str] = []

    def report(message: str, urn: Optional[str] = None) -> None:
        found.append(message)

    resources = [subject] if isinstance(subject, PolicyResource) else list(subject)
    if isinstance(policy, ResourceValidationPolicy):
        for res in resources:
            policy.validate(resource_args(res, config), report)
    else:
        policy.validate(stack_args(resources, config), report)  # type: ignore[attr-defined]
    return found
