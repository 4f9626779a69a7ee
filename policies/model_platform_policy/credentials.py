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
  id or secret key, Databricks or GitHub token, private key,
  ``user:password@`` URI). Names are read word by word, so the names that
  only point at a credential pass: ``kmsKeyId``, ``keyName``, ``sshKeyName``,
  ``publicKey``, ``secretName``, ``taskKey``, an object's ``key``.

Messages name the property, never its value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Iterator

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.contract.aws import ARN
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

#: Words that make a name a credential's, wherever they appear in it (``dbPassword``, ``AWS_SECRET_ACCESS_KEY``).
CREDENTIAL_WORDS = re.compile(r"(password|passwd|passphrase|secret|token|credential|apikey|privatekey|accesskey)")
#: Words that do so only as a whole word of the name (``DB_PASS``, ``pwd``; not ``bypass``).
CREDENTIAL_WHOLE_WORDS = frozenset({"pass", "pwd", "pw"})
#: A ``key`` is a credential only after one of these words (``apiKey``, ``signing_key``, ``storageAccountKey``);
#: ``key``, ``kmsKeyId``, ``sshKeyName``, ``publicKey``, ``partitionKey``, ``taskKey`` hold no secret.
SECRET_KEY_QUALIFIERS = frozenset(
    {"api", "access", "secret", "private", "signing", "master", "encryption", "shared", "client", "auth", "license",
     "account", "storage", "hmac", "sas", "app", "consumer", "session", "webhook", "subscription"}
)
#: Last words of names that mention a credential without holding one (``secretName``, ``tokenExpirationSeconds``).
NOT_A_CREDENTIAL = frozenset(
    {"id", "ids", "arn", "arns", "name", "names", "ref", "refs", "path", "prefix", "type", "audience", "seconds",
     "version", "versions", "url", "uri", "enabled", "mode", "file", "files", "length", "ttl", "expiration",
     "rotation", "hash", "policy"}
)
#: Words that make a name about something public or only a pointer (``publicKey``, ``kmsKeyId``).
NEVER_SECRET_WORDS = frozenset({"public", "kms"})
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

#: Values that point at a secret instead of being one.
REFERENCE = re.compile(r"^(\{\{secrets/[^/}]+/[^}]+\}\}|arn:aws[a-z-]*:(secretsmanager|ssm):.+)$")
#: Values that are identifiers, never secrets: any ARN.
IDENTIFIER = re.compile(ARN)
KNOWN_FORMATS = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Databricks personal access token", re.compile(r"\bdapi[0-9a-f]{32}(-\d+)?\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")),
    ("a URI with a password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)),
    ("a Slack token", re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{22,})\b")),
)
#: An AWS secret access key: 40 characters of base64, mixed case and digits (a hex digest is all lower case).
AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def name_words(name: str) -> list[str]:
    """``AWS_SECRET_ACCESS_KEY``, ``awsSecretAccessKey``, ``aws-secret-access-key`` -> aws, secret, access, key."""
    return [w.lower() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORD.findall(part)]


def credential_named(name: Any) -> bool:
    """Whether a property, map key or env var name says it holds a credential."""
    if not isinstance(name, str):
        return False
    words = name_words(name)
    if not words or words[-1] in NOT_A_CREDENTIAL or NEVER_SECRET_WORDS & set(words):
        return False
    if CREDENTIAL_WORDS.search("".join(words)) or CREDENTIAL_WHOLE_WORDS & set(words):
        return True
    return any(w == "key" and i > 0 and words[i - 1] in SECRET_KEY_QUALIFIERS for i, w in enumerate(words))


def _literal(value: Any) -> bool:
    """A string written as is: not empty, not a reference, not a flag (provider config encodes booleans as text)."""
    return (
        isinstance(value, str)
        and value.lower() not in ("", "true", "false")
        and not REFERENCE.match(value)
        and not IDENTIFIER.match(value)
    )


def _aws_secret_key(value: str) -> bool:
    return any(
        re.search(r"[a-z]", m) and re.search(r"[A-Z]", m) and re.search(r"[0-9]", m)
        for m in AWS_SECRET_KEY.findall(value)
    )


def value_formats(value: str) -> Iterator[str]:
    """The known credential formats ``value`` contains."""
    for what, pattern in KNOWN_FORMATS:
        if pattern.search(value):
            yield what
    if _aws_secret_key(value):
        yield "an AWS secret access key"


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
        for what in value_formats(value):
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
