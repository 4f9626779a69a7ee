"""Airflow: every connection the stack declares has a secret holding it.

The DAG looks connections up by id; one without a secret falls back to the
metadata database, where it silently does not exist, and the run fails
hours later. Declared connections are the built-in ones
(``requiredConnections``) plus the stack config's ``airflow.connections``.
A connection's secret is a Secrets Manager secret ``<connectionsPrefix>/<conn_id>``
with a SecretVersion (MWAA), or an ``AIRFLOW_CONN_<CONN_ID>`` key of a
Kubernetes Secret (self-hosted Airflow).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UnknownValueError

from infra.contract.airflow import BUILT_IN_CONNECTIONS, DEFAULT_CONNECTIONS_PREFIX, conn_env_var, secret_name
from model_platform_policy import stack_config
from model_platform_policy import types as t
from model_platform_policy.rules import Config, stack_policy, strings, text
from model_platform_policy.stack_keys import hint
from model_platform_policy.values import UNKNOWN, get, known, mapping

def declared_connections(config: Config) -> list[str]:
    airflow = stack_config.stack_object("airflow")
    return sorted(set(config["requiredConnections"]) | set(mapping(airflow.get("connections"))))


def connections_prefix(config: Config) -> str:
    return str(stack_config.stack_object("airflow").get("connectionsPrefix") or config["connectionsPrefix"])


def _version_of(version: PolicyResource, secret: PolicyResource) -> bool:
    if version.parent is not None and version.parent.urn == secret.urn:
        return True
    if any(d.urn == secret.urn for d in version.property_dependencies.get("secretId", [])):
        return True
    # Unknown during preview (the id of a secret created in the same update): only the dependency above tells.
    secret_id = known(lambda: get(version.props, "secretId"))
    if secret_id is None or secret_id is UNKNOWN:
        return False
    return secret_id in (get(secret.props, "name"), known(lambda: get(secret.props, "arn")))


def _secret_problem(name: str, secret: PolicyResource, resources: list[PolicyResource]) -> Optional[str]:
    versions = [r for r in resources if r.resource_type == t.SM_SECRET_VERSION and _version_of(r, secret)]
    if not any(get(v.props, "secretString") or get(v.props, "secretBinary") for v in versions):
        return f"secret {name!r} has no SecretVersion holding the connection"
    return None


def _kubernetes_secret_keys(resources: list[PolicyResource]) -> set[str]:
    """Keys of every Kubernetes Secret; contents not known here (redacted) make the rule unable to judge.

    The CLI hands a Secret's ``data``/``stringData`` over as a map. An offline
    plan redacts a secret map whole, so its keys are unknown: like any value
    unknown during preview, that makes the policy report it cannot run
    (advisory) rather than a violation.
    """
    keys: set[str] = set()
    for r in resources:
        if r.resource_type != t.K8S_SECRET:
            continue
        for field in ("stringData", "data"):
            value = get(r.props, field)
            if value is not None and not isinstance(value, Mapping):
                raise UnknownValueError(UNKNOWN_OBJECT_VALUE, [r.name, field])
            keys |= set(mapping(value))
    return keys


def _declare_hint(conn_id: str) -> str:
    """A connection the policy config requires but the stack file does not declare: declare it in airflow.connections.

    A built-in connection, or one the stack file declares, that still lacks a secret is the program's fault: no key.
    """
    if conn_id in BUILT_IN_CONNECTIONS or conn_id in mapping(stack_config.stack_object("airflow").get("connections")):
        return ""
    return hint(f"airflow.connections.{conn_id}")


def _connection_secrets(args: StackValidationArgs, report: ReportViolation, config: Config) -> None:
    prefix = connections_prefix(config)
    secrets = {get(r.props, "name"): r for r in args.resources if r.resource_type == t.SM_SECRET}
    missing = []
    for conn_id in declared_connections(config):
        name = secret_name(prefix, conn_id)
        if name in secrets:
            problem = _secret_problem(name, secrets[name], args.resources)
            if problem:
                report(f"connection {conn_id!r}: {problem}", secrets[name].urn)
        else:
            missing.append(conn_id)
    env_keys = _kubernetes_secret_keys(args.resources) if missing else set()
    for conn_id in missing:
        env_var = conn_env_var(conn_id)
        if env_var not in env_keys:
            report(
                f"connection {conn_id!r} has no secret: no Secrets Manager secret {secret_name(prefix, conn_id)!r} and no "
                f"Kubernetes Secret key {env_var!r}" + _declare_hint(conn_id)
            )


connection_secrets = stack_policy(
    "airflow-connection-secrets",
    "Every Airflow connection the stack declares (databricks_default, aws_default and airflow.connections) has a "
    "secret holding it: a Secrets Manager secret '<connectionsPrefix>/<conn_id>' with a SecretVersion, or an "
    "AIRFLOW_CONN_<CONN_ID> key in the Airflow Kubernetes Secret. Fix: declare the connection through the airflow "
    "component (airflow.connections in the stack file), never by hand in the Airflow UI.",
    _connection_secrets,
    hints=["airflow.connections.<key>"],
    settings=[
        strings("requiredConnections", BUILT_IN_CONNECTIONS, "Connections every stack declares."),
        text("connectionsPrefix", DEFAULT_CONNECTIONS_PREFIX, "Secrets Manager prefix when the stack config names none."),
    ],
)

POLICIES = [connection_secrets]
