"""What a credential looks like, by its name or by its value: one rule for the config and the policy pack.

Part of ``infra.contract`` (standard library only). A stack file is reviewed
in a pull request and checked out by every runner, so it never holds a
credential in plain text: the config refuses one in any free-form map
(tags, labels, annotations, training parameters, a connection's extra) and
in free-text fields, and asks for a secure key instead.

Names are judged word by word (``camelCase``, ``-``, ``_`` and ``.`` split
words), so ``max-tokens``, ``tokenizer``, ``keyPrefix``, ``partition-key`` or
``passwordKey``-like *structural* names of the schema are not credentials,
while ``apiKey``, ``aws_secret_access_key``, ``db_pass`` and ``slackToken`` are.
"""

from __future__ import annotations

import re
from typing import Optional

#: Words that make a name a credential wherever they stand.
CREDENTIAL_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "secret", "token", "credential", "credentials",
    "apikey", "accesskey", "secretkey", "privatekey", "authtoken", "accesstoken", "apitoken", "bearer",
})
#: Words that make ``<word> key`` (``api_key``, ``accessKey``, ``private-key``) a credential; ``key`` alone is not.
KEY_QUALIFIERS = frozenset({"api", "access", "secret", "private", "signing", "client", "auth", "master", "account", "ssh", "session"})
#: ``pass`` is a credential as the last word only (``db_pass``), not in ``pass-through``.
LAST_WORD_ONLY = frozenset({"pass"})
#: A last word that makes the name *refer to* a credential (``secretName``, ``tokenUrl``, ``passwordKey``: the
#: name of the key that holds it), not hold one.
REFERENCE_WORDS = frozenset({"name", "prefix", "arn", "path", "file", "url", "uri", "ref", "id", "type", "field"})
#: ``<word> key`` names the key that holds a credential (``passwordKey``) rather than being one (``secretKey``).
REFERENCE_KEY_QUALIFIERS = frozenset({"password", "passwd", "token"})

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

#: Values shaped like a credential, by what they are; judged whatever the key is called.
CREDENTIAL_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("a Databricks token", re.compile(r"\bdapi[0-9a-f]{32}(-\d+)?\b")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY")),
    ("a URL with a password", re.compile(r"://[^/\s:@]+:[^/\s@]+@")),
)


def name_words(name: str) -> list[str]:
    """The lowercase words of a key name: ``awsSecretAccessKey`` -> aws, secret, access, key."""
    return [w.lower() for w in _WORD.findall(name)]


def is_credential_name(name: str) -> bool:
    """Whether a key called ``name`` would hold a credential."""
    words = name_words(name)
    if words and (words[-1] in REFERENCE_WORDS or words[-2:-1] and words[-1] == "key" and words[-2] in REFERENCE_KEY_QUALIFIERS):
        return False
    for index, word in enumerate(words):
        if word in CREDENTIAL_WORDS or word.endswith(("password", "passwd", "secret", "token")):
            return True
        if word == "key" and index and words[index - 1] in KEY_QUALIFIERS:
            return True
    return bool(words) and words[-1] in LAST_WORD_ONLY


def credential_value_kind(value: str) -> Optional[str]:
    """What credential ``value`` looks like (``"an AWS access key id"``), or None."""
    for kind, pattern in CREDENTIAL_VALUES:
        if pattern.search(value):
            return kind
    return None
