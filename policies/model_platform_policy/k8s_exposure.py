"""Kubernetes: nothing is exposed beyond the cluster, and no annotation rewrites the ingress controller.

A model server has no authentication: it is reached through a ClusterIP
Service, by the namespaces its NetworkPolicy admits, or through the Ingress
the stack config declares. A Service of type LoadBalancer or NodePort, or
externalIPs, puts it on a network the NetworkPolicy may not cover; a source
range of 0.0.0.0/0 or ::/0 (a Service's loadBalancerSourceRanges, or any
annotation such as service.beta.kubernetes.io/load-balancer-source-ranges,
alb.ingress.kubernetes.io/inbound-cidrs or nginx's whitelist-source-range)
opens it to the internet.

A ``*-snippet`` annotation (ingress-nginx's configuration-snippet,
server-snippet, auth-snippet, modsecurity-snippet, ...; NGINX Inc's
``*-snippets``) pastes raw configuration into the controller, which runs with
a token that reads every Secret of the cluster (CVE-2021-25742): one such
annotation on one Ingress reads them all. ingress-nginx's own ConfigMap keys
(``http-snippet``, ``allow-snippet-annotations``) are judged too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Iterator

from pulumi_policy import ReportViolation, ResourceValidationArgs

from model_platform_policy.k8s_pods import kind_of, objects
from model_platform_policy.kubernetes import is_kubernetes
from model_platform_policy.rules import Config, resource_policy, strings
from model_platform_policy.values import get, items, mapping

SNIPPET_KEY = re.compile(r"snippets?$", re.IGNORECASE)
ALLOW_SNIPPETS_KEY = "allow-snippet-annotations"
CIDR_TOKEN = re.compile(r"[0-9a-fA-F:.]+/\d{1,3}")


def _objects(args: ResourceValidationArgs) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """``(kind, path prefix, object)`` of each object a resource declares (a List's items, or itself)."""
    kind = kind_of(args.resource_type)
    if kind is None:
        return
    for prefix, obj in objects(kind, args.props):
        yield kind.name, prefix, obj


def world_cidrs(value: Any) -> list[str]:
    """The CIDRs in ``value`` (one, a comma/space separated list, or a list) that match every address."""
    texts = [str(v) for v in items(value)] if not isinstance(value, str) else [value]
    found = []
    for cidr in (token for text_ in texts for token in CIDR_TOKEN.findall(text_)):
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if network.prefixlen == 0:
            found.append(cidr)
    return found


# --------------------------------------------------------------------------- exposure


def _service_problems(spec: Mapping[str, Any], allowed_types: list[str]) -> Iterator[str]:
    kind = str(get(spec, "type", default="ClusterIP"))
    if kind not in allowed_types:
        yield f"spec.type is {kind}, which exposes it outside the cluster (allowed: {', '.join(allowed_types)})"
    external = [str(ip) for ip in items(get(spec, "externalIPs"))]
    if external:
        yield f"spec.externalIPs {external} route outside traffic to it"
    world = world_cidrs(get(spec, "loadBalancerSourceRanges"))
    if world:
        yield f"spec.loadBalancerSourceRanges admits {world}: the whole internet"


def _exposure(args: ResourceValidationArgs, report: ReportViolation, config: Config) -> None:
    for kind, prefix, obj in _objects(args):
        if kind == "Service":
            for problem in _service_problems(mapping(get(obj, "spec")), list(config["allowedServiceTypes"])):
                report(f"{prefix}{problem}")
        for key, value in mapping(get(obj, "metadata", "annotations")).items():
            world = world_cidrs(value) if isinstance(value, str) else []
            if world:
                report(f"{prefix}metadata.annotations {key} admits {world}: the whole internet")


no_public_exposure = resource_policy(
    "k8s-no-public-exposure",
    "Nothing is reachable from outside the cluster except through the Ingress the stack declares: no Service of "
    "type LoadBalancer or NodePort (policy setting allowedServiceTypes), no externalIPs, and no source range open to "
    "the world (0.0.0.0/0, ::/0) in loadBalancerSourceRanges or any annotation (load-balancer-source-ranges, "
    "inbound-cidrs, whitelist-source-range, ...). Fix: keep Services ClusterIP and expose a model with "
    "models.<name>.serving.ingress; list the callers' CIDRs where a range is needed.",
    _exposure,
    types=is_kubernetes,
    settings=[
        strings(
            "allowedServiceTypes",
            ["ClusterIP", "ExternalName"],
            "Service types that stay inside the cluster; LoadBalancer and NodePort expose it.",
        )
    ],
)


# --------------------------------------------------------------------------- snippets


def _snippet_problems(kind: str, obj: Mapping[str, Any]) -> Iterator[str]:
    for key in mapping(get(obj, "metadata", "annotations")):
        name = str(key).rsplit("/", 1)[-1]
        if SNIPPET_KEY.search(name):
            yield f"annotation {key} injects raw configuration into the ingress controller"
    if kind == "ConfigMap":
        data = mapping(get(obj, "data"))
        for key, value in data.items():
            if SNIPPET_KEY.search(str(key)):
                yield f"data.{key} injects raw configuration into the ingress controller"
            elif key == ALLOW_SNIPPETS_KEY and str(value).lower() == "true":
                yield f"data.{ALLOW_SNIPPETS_KEY} lets every Ingress inject raw configuration"


def _ingress_snippets(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    for kind, prefix, obj in _objects(args):
        for problem in _snippet_problems(kind, obj):
            report(f"{prefix}{problem}")


ingress_no_snippets = resource_policy(
    "k8s-ingress-no-snippets",
    "No annotation pastes configuration into the ingress controller (ingress-nginx configuration-snippet, "
    "server-snippet, auth-snippet, modsecurity-snippet, stream-snippet, ...; NGINX Inc *-snippets), and no controller "
    "ConfigMap allows them (allow-snippet-annotations, http-snippet): the controller can read every Secret of the "
    "cluster, and so can whoever writes its configuration. Fix: use the controller's dedicated annotations (rewrite, "
    "auth-url, rate limits) instead of raw configuration.",
    _ingress_snippets,
    types=is_kubernetes,
)

POLICIES = [no_public_exposure, ingress_no_snippets]
