"""One credential rule for the config and the policy pack: every name either side refuses, neither side's pointers.

The names come from both sides' tests (tests/test_config*.py, tests/test_policies_credentials*.py), so a change
that suits one side and breaks the other fails here, beside the rule.
"""

from __future__ import annotations

import pytest

from infra.contract.credentials import credential_value_kind, credential_value_kinds, is_credential_name

#: Names that hold a credential: the config's free-form map keys and secure keys, the pack's env vars and properties.
CREDENTIAL_NAMES = [
    "password", "db_pass", "apiKey", "aws_secret_access_key", "slack-token", "clientSecret", "token", "webhookToken",
    "databricksClientSecret", "databricks_client_secret", "databricksToken", "databricks_token",
    "DATABRICKS_TOKEN", "db_password", "API_TOKEN", "apiToken", "DB_PASSWORD", "DB_PASS", "smtp_pass",
    "AWS_SECRET_ACCESS_KEY", "signingKey", "stripeApiKey", "dbPassphrase", "storageAccountKey", "pwd", "db_pw",
    "dbpassword", "clientsecret", "ghtoken", "stripeapikey", "googleCredentials", "bearer",
]
#: Names that do not: the schema's structural names, and names that only point at or describe a credential.
NOT_CREDENTIAL_NAMES = [
    "max-tokens", "key-prefix", "partition-key", "tokenizer", "pass-through", "keyspace", "bypass", "passwordKey",
    "secretId", "secretName", "kmsKeyId", "keyName", "sshKeyName", "publicKey", "taskKey", "key", "passwordSecretArn",
    "tokenTtl", "tokenUrl", "secrets.backend", "secrets.backend_kwargs", "name", "description", "note", "",
]


@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
def test_a_name_either_side_refuses_is_a_credential(name):
    assert is_credential_name(name)


@pytest.mark.parametrize("name", NOT_CREDENTIAL_NAMES)
def test_a_name_either_side_accepts_is_not_a_credential(name):
    assert not is_credential_name(name)


@pytest.mark.parametrize(
    "value, kind",
    [
        ("AKIA" + "IOSFODNN7EXAMPLE", "an AWS access key id"),
        ("aws_secret_access_key=" + "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY", "an AWS secret access key"),
        ("dapi" + "0123456789abcdef" * 2 + "-2", "a Databricks personal access token"),
        ("ghp_" + "a1B2" * 9, "a GitHub token"),
        ("github_pat_" + "A1b2C3d4E5" * 3, "a GitHub token"),
        ("xoxb-" + "1234567890-abc", "a Slack token"),
        ("-----BEGIN RSA " + "PRIVATE KEY-----\nMIIE...", "a private key"),
        ("-----BEGIN PGP " + "PRIVATE KEY BLOCK-----\nlQOYBF", "a private key"),
        ("https://bob:" + "hunter2@db.example.com", "a URL with a password"),
        ("postgres://ml:" + "hunter2@db:5432/x", "a URL with a password"),
    ],
)
def test_a_value_shaped_like_a_credential_is_one_whatever_its_name(value, kind):
    assert credential_value_kind(value) == kind


@pytest.mark.parametrize(
    "value",
    ["0123456789" * 4, "sha256:" + "ab" * 32, "arn:aws:kms:eu-west-2:1:key/k", "https://db.example.com:5432/x", "xoxb"],
)
def test_digests_ids_and_plain_urls_are_no_credentials(value):
    assert list(credential_value_kinds(value)) == []
