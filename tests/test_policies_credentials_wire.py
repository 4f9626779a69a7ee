"""no-plain-credentials over the Analyzer protocol: any string input of any resource, by the name it is written
under or by the shape of the value, without flagging the names that only point at a credential."""

from __future__ import annotations

import json

import pytest

from modelctl.engine import SECRET
from tests.policy_programs import (
    Res,
    pack,  # noqa: F401  (the session's pack fixture)
)

RULE = "no-plain-credentials"
# Shaped like the real thing, built so that no scanner mistakes this file for a leak.
AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
DATABRICKS_TOKEN = "dapi" + "0123456789abcdef" * 2 + "-2"
GITHUB_PAT = "github_pat_" + "11ABCDEFG0123456789_" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
OPENSSH_KEY = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
PGP_KEY = "-----BEGIN PGP " + "PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----"


@pytest.mark.parametrize(
    "resource_type, inputs, expected",
    [
        ("kubernetes:core/v1:ConfigMap", {"data": {"DB_PASS": "hunter2"}}, "data.DB_PASS holds a credential"),
        ("kubernetes:core/v1:ConfigMap", {"data": {"smtp_pass": "hunter2"}}, "data.smtp_pass holds a credential"),
        ("databricks:index/job:Job", {"tasks": [{"sparkEnvVars": {"AWS_SECRET_ACCESS_KEY": "x"}}]}, "ACCESS_KEY holds"),
        ("aws:lambda/function:Function", {"environment": {"variables": {"signingKey": "abc"}}}, "signingKey holds"),
        ("aws:lambda/function:Function", {"environment": {"variables": {"stripeApiKey": "abc"}}}, "stripeApiKey holds"),
        ("custom:index:Anything", {"settings": {"nested": [{"dbPassphrase": "correct horse"}]}}, "dbPassphrase holds"),
        (
            "kubernetes:core/v1:ConfigMap",
            {"data": {"config.json": json.dumps({"database": {"password": "hunter2"}})}},
            "data.config.json(json).database.password holds a credential",
        ),
    ],
)
def test_a_credential_named_field_anywhere_fails(pack, resource_type, inputs, expected):
    found = pack.check([Res(resource_type, "r", inputs)])
    assert len(found.of(RULE)) == 1 and expected in found.messages(RULE)[0]
    assert "hunter2" not in found.messages(RULE)[0] and "horse" not in found.messages(RULE)[0]


@pytest.mark.parametrize(
    "value, what",
    [
        (AWS_KEY_ID, "an AWS access key id"),
        (f"aws_secret_access_key={AWS_SECRET_KEY}", "an AWS secret access key"),
        (DATABRICKS_TOKEN, "a Databricks personal access token"),
        (GITHUB_PAT, "a GitHub token"),
        (GITHUB_TOKEN, "a GitHub token"),
        (OPENSSH_KEY, "a private key"),
        (PGP_KEY, "a private key"),
    ],
)
@pytest.mark.parametrize(
    "resource_type, where",
    [
        ("aws:iam/role:Role", "tags"),
        ("kubernetes:apps/v1:Deployment", "metadata"),
        ("databricks:index/job:Job", "description"),
        ("aws:s3/bucketObjectv2:BucketObjectv2", "content"),
    ],
)
def test_a_value_shaped_like_a_credential_fails_in_any_input_of_any_resource(pack, value, what, resource_type, where):
    placed = {"metadata": {"annotations": {"note": value}}, "tags": {"note": value}}
    inputs = {where: placed.get(where, value)}
    found = pack.check([Res(resource_type, "r", inputs)])
    assert any(f"looks like {what}" in m for m in found.messages(RULE))
    assert all(value not in m for m in found.messages(RULE))


SECRET_KEY_REF = {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
POINTERS = {
    "object-key": (
        "aws:s3/bucketObjectv2:BucketObjectv2",
        {"bucket": "b", "key": "days-to-sell/1.5.0/bundle.zip", "kmsKeyId": "arn:aws:kms:eu-west-2:1:key/k"},
    ),
    "released-json": (
        "aws:s3/bucketObjectv2:BucketObjectv2",
        {"key": "days-to-sell/released.json", "content": json.dumps({"bundleSha256": "3b" * 32, "version": "1.5.0"})},
    ),
    "key-name": ("aws:ec2/instance:Instance", {"keyName": "deployer", "ami": "ami-0123456789abcdef0"}),
    "public-key": (
        "aws:ec2/keyPair:KeyPair",
        {"keyName": "deployer", "publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0 user@host"},
    ),
    "ssh-key-name": ("aws:emr/cluster:Cluster", {"ec2Attributes": {"keyName": "k", "sshKeyName": "ops"}}),
    "kms-key-id": (
        "aws:secretsmanager/secret:Secret",
        {"name": "airflow/connections/x", "kmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
    ),
    "secret-key-ref": (
        "kubernetes:apps/v1:Deployment",
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [SECRET_KEY_REF]}]}}}},
    ),
    "databricks-ref": (
        "databricks:index/job:Job",
        {"tasks": [{"taskKey": "train", "sparkEnvVars": {"API_TOKEN": "{{secrets/ml/api-token}}"}}]},
    ),
    "hex-digests": ("custom:index:Anything", {"commit": "0123456789" * 4, "digest": "sha256:" + "ab" * 32}),
    "pointer-names": (
        "custom:index:Anything",
        {"passwordSecretArn": "arn:aws:secretsmanager:eu-west-2:1:secret:x", "tokenTtl": "3600"},
    ),
    "secret-version": ("aws:secretsmanager/secretVersion:SecretVersion", {"secretId": "x", "secretString": SECRET}),
    "k8s-secret": ("kubernetes:core/v1:Secret", {"stringData": {"token": DATABRICKS_TOKEN}}),
}


@pytest.mark.parametrize("resource_type, inputs", POINTERS.values(), ids=POINTERS.keys())
def test_names_and_values_that_only_point_at_a_credential_pass(pack, resource_type, inputs):
    assert pack.check([Res(resource_type, "r", inputs)]).of(RULE) == []


def test_a_pulumi_secret_in_a_field_the_service_stores_in_plain_text_still_fails(pack):
    """The Analyzer hands the rule the secret's value; the cluster stores an env value in plain text all the same."""
    container = {"name": "c", "env": [{"name": "DB_PASS", "value": SECRET}]}
    env = {"spec": {"template": {"spec": {"containers": [container]}}}}
    assert len(pack.check([Res("kubernetes:apps/v1:Deployment", "d", env)]).of(RULE)) == 1


def test_credentials_are_mandatory_in_every_environment(pack):
    program = [Res("aws:iam/role:Role", "r", {"tags": {"note": AWS_KEY_ID}})]
    for environment in ("dev", "staging", "prod"):
        assert [f.level for f in pack.check(program, environment).of(RULE)] == ["mandatory"], environment
