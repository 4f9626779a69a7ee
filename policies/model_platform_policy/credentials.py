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
* anywhere else, in any string input of any resource (JSON held in a
  string included), a credential-named field (``password``, ``token``,
  ``clientSecret``, ``DB_PASS``, ``apiKey``, an env var ``DB_PASSWORD``) must
  hold a reference (``valueFrom.secretKeyRef``, ``{{secrets/scope/key}}``, a
  secret ARN), and no value may look like a known credential format (AWS key
  id or secret key, Databricks, GitHub or Slack token, private key,
  ``user:password@`` URL). Names are read word by word, so the names that
  only point at a credential pass: ``kmsKeyId``, ``keyName``, ``sshKeyName``,
  ``publicKey``, ``secretName``, ``taskKey``, an object's ``key``.

What a credential's name and value look like is ``infra.contract.credentials``,
the rule the stack config refuses credentials by: a name the config refuses
in a tag is one this rule flags on the resource, and back.

Messages name the property, never its value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Iterator

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.contract.aws import ARN
from infra.contract.credentials import credential_value_kinds, is_credential_name
from model_platform_policy import types as t
from model_platform_policy.rules import Config, resource_policy
from model_platform_policy.values import is_list, known

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

#: Values that point at a secret instead of being one.
REFERENCE = re.compile(r"^(\{\{secrets/[^/}]+/[^}]+\}\}|arn:aws[a-z-]*:(secretsmanager|ssm):.+)$")
#: Values that are identifiers, never secrets: any ARN.
IDENTIFIER = re.compile(ARN)


def credential_named(name: Any) -> bool:
    """Whether a property, map key or env var name says it holds a credential (a map key may be no string)."""
    return isinstance(name, str) and is_credential_name(name)


def _literal(value: Any) -> bool:
    """A string written as is: not empty, not a reference, not a flag (provider config encodes booleans as text)."""
    return (
        isinstance(value, str)
        and value.lower() not in ("", "true", "false")
        and not REFERENCE.match(value)
        and not IDENTIFIER.match(value)
    )


def findings(value: Any, path: str, key: Any) -> Iterator[str]:
    """Where ``value`` (found at ``path`` under ``key``) holds a credential in plain text.

    JSON documents held in strings (a ConfigMap's config.json, a job parameter) are read too.
    A value unknown during preview is an id or ARN the cloud assigns on create, never a
    credential the program wrote: it is skipped, and the rest of the resource is judged.
    """
    if isinstance(value, Mapping):
        name = known(lambda: value.get("name"))
        if credential_named(name) and _literal(known(lambda: value.get("value"))):
            yield f"{path} sets {name} to a literal value (use valueFrom.secretKeyRef)"
        for child_key in value:
            yield from findings(known(lambda: value[child_key]), f"{path}.{child_key}", child_key)
    elif is_list(value):
        for index in range(len(value)):
            yield from findings(known(lambda: value[index]), f"{path}[{index}]", key)
    elif isinstance(value, str) and value:
        if credential_named(key) and _literal(value):
            yield f"{path} holds a credential in plain text"
        for what in credential_value_kinds(value):
            yield f"{path} contains what looks like {what}"
        embedded = _json_container(value)
        if embedded is not None:
            for finding in findings(embedded, f"{path}(json)", key):
                if "contains what looks like" not in finding:  # the text itself was searched above
                    yield finding


def _json_container(value: str) -> Any:
    """A JSON object or array held in a string, or None."""
    if value[:1] not in ("{", "["):
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    return document if isinstance(document, (dict, list)) else None


def _no_plain_credentials(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    kept_secret = SECRET_BY_SCHEMA.get(args.resource_type, frozenset())
    for key in args.props:
        if key not in kept_secret:
            for finding in findings(known(lambda: args.props[key]), key, key):
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
