"""No credential in a plain resource input.

A Pulumi secret only protects the state file: a token put in a Deployment's
``env[].value``, a ConfigMap, a Databricks job parameter or a tag is stored
in plain text by the service it is sent to, readable by anyone who can read
that object. So the rule does not ask "is it a Pulumi secret?" (which no
CrossGuard SDK can tell a policy, pulumi/pulumi-policy#241) but "is a
credential written anywhere other than a field the provider keeps secret?":

* fields the provider schema marks secret (``SecretVersion.secretString``,
  a Kubernetes Secret's ``data``/``stringData``, provider credentials) are
  where credentials belong. A resource's ``additionalSecretOutputs`` is no
  exemption: it only hides a value in Pulumi's state, while the service it
  is sent to (the cluster, the workspace) still stores it in plain text;
* anywhere else, a credential-named field (``password``, ``token``,
  ``clientSecret``, an env var ``DB_PASSWORD``) must hold a reference
  (``valueFrom.secretKeyRef``, ``{{secrets/scope/key}}``, a secret ARN), and
  no value may look like a known credential format (AWS key id, Databricks
  token, private key, ``user:password@`` URI).

Messages name the property, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Iterator

from pulumi_policy import ReportViolation, ResourceValidationArgs

from model_platform_policy import types as t
from model_platform_policy.rules import Config, resource_policy
from model_platform_policy.values import is_list

#: Inputs each type's provider schema marks secret (the SDKs wrap exactly these in ``Output.secret``):
#: Pulumi encrypts them and the service stores them as secrets. tests/test_policies_credentials.py checks
#: this table against the installed SDKs.
SECRET_BY_SCHEMA: dict[str, frozenset[str]] = {
    t.SM_SECRET_VERSION: frozenset({"secretString", "secretBinary", "secretStringWo"}),
    t.K8S_SECRET: frozenset({"data", "stringData"}),
    t.DB_SECRET: frozenset({"stringValue", "stringValueWo"}),
    "pulumi:providers:aws": frozenset({"accessKey", "secretKey", "token"}),
    "pulumi:providers:databricks": frozenset(
        {"token", "clientSecret", "password", "azureClientSecret", "googleCredentials", "metadataServiceUrl"}
    ),
}

CREDENTIAL_NAME = re.compile(
    r"(password|passwd|secret|token|api[-_]?key|credential|private[-_]?key|access[-_]?key)", re.IGNORECASE
)
#: Names that mention a credential without holding one (``secretName``, ``tokenExpirationSeconds``, ...).
NOT_A_CREDENTIAL = re.compile(
    r"(id|ids|arn|arns|name|names|ref|path|prefix|type|audience|seconds|version|versions|url|uri|enabled|mode)$",
    re.IGNORECASE,
)
#: Values that point at a secret instead of being one.
REFERENCE = re.compile(r"^(\{\{secrets/[^/}]+/[^}]+\}\}|arn:aws[a-z-]*:(secretsmanager|ssm):.+)$")
KNOWN_FORMATS = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Databricks personal access token", re.compile(r"\bdapi[0-9a-f]{32}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a URI with a password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)),
    ("a Slack token", re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[0-9A-Za-z]{36}\b")),
)


def credential_named(name: Any) -> bool:
    return isinstance(name, str) and bool(CREDENTIAL_NAME.search(name)) and not NOT_A_CREDENTIAL.search(name)


def _literal(value: Any) -> bool:
    """A string written as is: not empty, not a reference, not a flag (provider config encodes booleans as text)."""
    return isinstance(value, str) and value.lower() not in ("", "true", "false") and not REFERENCE.match(value)


def findings(value: Any, path: str, key: Any) -> Iterator[str]:
    """Where ``value`` (found at ``path`` under ``key``) holds a credential in plain text."""
    if isinstance(value, Mapping):
        name = value.get("name")
        if credential_named(name) and _literal(value.get("value")):
            yield f"{path} sets {name} to a literal value (use valueFrom.secretKeyRef)"
        for child_key in value:
            yield from findings(value[child_key], f"{path}.{child_key}", child_key)
    elif is_list(value):
        for index, child in enumerate(value):
            yield from findings(child, f"{path}[{index}]", key)
    elif isinstance(value, str) and value:
        if credential_named(key) and _literal(value):
            yield f"{path} holds a credential in plain text"
        for what, pattern in KNOWN_FORMATS:
            if pattern.search(value):
                yield f"{path} contains what looks like {what}"


def _no_plain_credentials(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    kept_secret = SECRET_BY_SCHEMA.get(args.resource_type, frozenset())
    for key in args.props:
        if key not in kept_secret:
            for finding in findings(args.props[key], key, key):
                report(finding)


no_plain_credentials = resource_policy(
    "no-plain-credentials",
    "No credential is written to a resource input the service stores in plain text (env values, ConfigMaps, job "
    "parameters, tags, descriptions). Fix: keep credentials in secure stack config (pulumi config set --secret), "
    "pass them only into fields the provider keeps secret (a Secrets Manager SecretVersion, a Kubernetes Secret, "
    "a Databricks secret) and reference them from elsewhere (env valueFrom.secretKeyRef, Databricks "
    "{{secrets/scope/key}}); additionalSecretOutputs hides a value from Pulumi's state only, never from the service.",
    _no_plain_credentials,
    types=lambda resource_type: True,
)

POLICIES = [no_plain_credentials]
