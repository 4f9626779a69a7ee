"""What a credential looks like, by its name or by its value: one rule for the config and the policy pack.

Part of ``infra.contract`` (standard library only). A stack file is reviewed
in a pull request and checked out by every runner, so it never holds a
credential in plain text: the config refuses one in any free-form map
(tags, labels, annotations, training parameters, a connection's extra) and
in free-text fields, and asks for a secure key instead. The policy pack
(``no-plain-credentials``) judges every string input of every resource with
the same rule, so a name the config refuses is one the pack flags, and back.

Names are judged word by word (``camelCase``, ``-``, ``_`` and ``.`` split
words), so ``max-tokens``, ``tokenizer``, ``keyPrefix``, ``partition-key``,
``kmsKeyId``, ``publicKey``, ``secretName`` or ``passwordKey`` (names of the
schema, or of what only points at a credential) are not credentials, while
``apiKey``, ``aws_secret_access_key``, ``DB_PASS``, ``dbPassphrase`` and
``slackToken`` are.
"""

from __future__ import annotations

import re
from typing import Iterator, Optional

#: Words that make a name a credential's wherever they stand, alone or ending a word run together
#: (``dbpassword``, ``clientsecret``, ``ghtoken``, ``stripeapikey``). Ending it, not anywhere in it: a word that
#: only starts with one names something else (``tokens`` of ``max-tokens``, ``tokenizer``, the ``secrets`` of
#: Airflow's ``secrets.backend``).
CREDENTIAL_WORDS = frozenset({
    "password", "passwd", "passphrase", "secret", "token", "credential", "credentials",
    "apikey", "accesskey", "secretkey", "privatekey",
})
#: Short words that make a name a credential's only as a whole word (``pwd``, ``pw``; not the end of ``bypwd``).
CREDENTIAL_WHOLE_WORDS = frozenset({"pwd", "pw", "bearer"})
#: ``pass`` is a credential as the last word only (``db_pass``, ``smtp_pass``), not in ``pass-through`` or ``bypass``.
LAST_WORD_ONLY = frozenset({"pass"})
#: Words that make ``<word> key`` (``api_key``, ``signingKey``, ``storageAccountKey``) a credential; ``key`` alone
#: is not, nor ``taskKey``, ``partitionKey``, an object's ``key``.
KEY_QUALIFIERS = frozenset({
    "api", "access", "secret", "private", "signing", "master", "encryption", "shared", "client", "auth", "license",
    "account", "storage", "hmac", "sas", "app", "consumer", "session", "webhook", "subscription", "ssh",
})
#: A last word that makes the name *about* a credential, not hold one: what refers to it (``secretName``,
#: ``tokenUrl``, ``passwordSecretArn``, ``kmsKeyId``) or describes it (``tokenTtl``, ``tokenExpirationSeconds``).
NOT_A_CREDENTIAL_LAST_WORDS = frozenset({
    "id", "ids", "arn", "arns", "name", "names", "ref", "refs", "path", "prefix", "type", "field", "audience",
    "seconds", "version", "versions", "url", "uri", "enabled", "mode", "file", "files", "length", "ttl",
    "expiration", "rotation", "hash", "policy",
})
#: ``<word> key`` names the key that holds a credential (``passwordKey``) rather than being one (``secretKey``).
REFERENCE_KEY_QUALIFIERS = frozenset({"password", "passwd", "token"})
#: Words that make a name about something public or only a pointer, wherever they stand (``publicKey``,
#: ``kmsKey``).
NEVER_SECRET_WORDS = frozenset({"public", "kms"})

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

#: Values shaped like a credential, by what they are; judged whatever the key is called.
CREDENTIAL_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("a Databricks personal access token", re.compile(r"\bdapi[0-9a-f]{32}(-\d+)?\b")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY")),
    ("a URL with a password", re.compile(r"://[^/\s:@]+:[^/\s@]+@")),
)
#: An AWS secret access key: a run of exactly 40 base64 characters. It has no prefix to be told by, so it must
#: also mix lower case, upper case and digits (:func:`_is_aws_secret_key`): a hex digest is all lower case.
AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def name_words(name: str) -> list[str]:
    """The lowercase words of a name: ``awsSecretAccessKey``, ``AWS_SECRET_ACCESS_KEY`` -> aws, secret, access, key."""
    return [w.lower() for w in _WORD.findall(name)]


def _refers_to_a_credential(words: list[str]) -> bool:
    """Whether the name only mentions a credential: by its last word (``secretName``), by a never-secret word
    (``publicKey``) or as the key that holds one (``passwordKey``)."""
    return (
        words[-1] in NOT_A_CREDENTIAL_LAST_WORDS
        or bool(NEVER_SECRET_WORDS.intersection(words))
        or (len(words) > 1 and words[-1] == "key" and words[-2] in REFERENCE_KEY_QUALIFIERS)
    )


def is_credential_name(name: str) -> bool:
    """Whether a key, property or environment variable called ``name`` would hold a credential."""
    words = name_words(name)
    if not words or _refers_to_a_credential(words):
        return False
    for index, word in enumerate(words):
        if word in CREDENTIAL_WHOLE_WORDS or word.endswith(tuple(CREDENTIAL_WORDS)):
            return True
        if word == "key" and index and words[index - 1] in KEY_QUALIFIERS:
            return True
    return words[-1] in LAST_WORD_ONLY


def _is_aws_secret_key(value: str) -> bool:
    return any(
        re.search(r"[a-z]", run) and re.search(r"[A-Z]", run) and re.search(r"[0-9]", run)
        for run in AWS_SECRET_KEY.findall(value)
    )


def credential_value_kinds(value: str) -> Iterator[str]:
    """Every credential ``value`` contains, by what it looks like (``"an AWS access key id"``)."""
    for kind, pattern in CREDENTIAL_VALUES:
        if pattern.search(value):
            yield kind
    if _is_aws_secret_key(value):
        yield "an AWS secret access key"


def credential_value_kind(value: str) -> Optional[str]:
    """What credential ``value`` looks like first (``"an AWS access key id"``), or None."""
    return next(credential_value_kinds(value), None)
