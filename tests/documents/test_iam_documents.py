"""IAM documents (infra/documents/iam.py), called directly: what each grants, to whom, and the rules every one obeys.

The components attach exactly these documents (tests/test_bundle_store.py,
test_training.py and test_airflow.py check that through a plan, once each).
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.documents import iam
from infra.documents.arns import role_arn
from infra.documents.iam_policy import PolicyDocument, Principal, Statement
from infra.contract.layout import bundle_keys, model_prefix
from tests.document_reading import allowed, as_list

BUCKET_ARN = "arn:aws:s3:::model-platform-staging-bundles-111122223333"
KEY_ARN = "arn:aws:kms:eu-west-2:111122223333:key/0a1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b"
OIDC_ARN = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-2.amazonaws.com/id/ABC"
ISSUER = "oidc.eks.eu-west-2.amazonaws.com/id/ABC"
WRITER_ROLE = role_arn(region="eu-west-2", account_id="111122223333", role_name="model-platform-staging-training")
SECRET_BASE = "arn:aws:secretsmanager:eu-west-2:111122223333:secret:"

#: Model names as the config admits them: DNS labels.
models = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
model_lists = st.lists(models, min_size=1, max_size=4, unique=True)
regions = st.sampled_from(["eu-west-2", "us-east-1", "cn-north-1", "us-gov-west-1"])
keys = st.sampled_from([None, KEY_ARN])


def parsed(document: PolicyDocument) -> dict[str, Any]:
    return json.loads(document.to_json())


def every_document(model_list: list[str], kms: Optional[str], region: str) -> list[dict[str, Any]]:
    """What every builder makes of the same inputs."""
    docs = [
        iam.bucket_policy(BUCKET_ARN, kms is not None, writer_role_arn=WRITER_ROLE),
        iam.writer_policy(BUCKET_ARN, model_list, kms, region),
        iam.bundles_reader_policy(BUCKET_ARN, model_list, kms, region),
        iam.secrets_reader_policy(SECRET_BASE, ["airflow/connections", "airflow/variables"], kms, region),
        iam.artifact_reader_policy([f"arn:aws:s3:::pkgs/{m}/*.whl" for m in model_list]),
        iam.service_trust_policy("ec2.amazonaws.com"),
        iam.pass_role_policy(WRITER_ROLE, "ec2.amazonaws.com"),
    ]
    for m in model_list:
        docs += [iam.reader_policy(BUCKET_ARN, m, kms, region), iam.irsa_trust_policy(OIDC_ARN, ISSUER, "models", f"{m}-serving")]
    return [parsed(d) for d in docs]


# --------------------------------------------------------------------------- rules every document obeys


@settings(max_examples=60, deadline=None)
@given(model_list=model_lists, kms=keys, region=regions)
def test_no_document_has_a_wildcard_resource_a_wildcard_allow_or_a_public_allow(model_list, kms, region):
    for doc in every_document(model_list, kms, region):
        assert doc["Version"] == "2012-10-17"
        for s in doc["Statement"]:
            assert "*" not in as_list(s.get("Resource", [])), s
            if s["Effect"] == "Allow":
                assert not [a for a in as_list(s["Action"]) if "*" in a or "?" in a], s
                assert s.get("Principal") != "*", s


@settings(max_examples=80, deadline=None)
@given(model=models, other=models, kms=keys, region=regions)
def test_a_reader_gets_only_its_own_models_objects_and_decrypts_only_through_s3(model, other, kms, region):
    doc = parsed(iam.reader_policy(BUCKET_ARN, model, kms, region))
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    read = by_sid.pop("ReadModelBundles")
    assert as_list(read["Action"]) == ["s3:GetObject"]
    assert as_list(read["Resource"]) == [f"{BUCKET_ARN}/{model_prefix(model)}*"]
    keys_ = bundle_keys(model, "1.0.0")
    assert allowed(doc, "s3:GetObject", f"{BUCKET_ARN}/{keys_.bundle}")
    assert not allowed(doc, "s3:PutObject", f"{BUCKET_ARN}/{keys_.bundle}")
    if other != model:
        assert not allowed(doc, "s3:GetObject", f"{BUCKET_ARN}/{bundle_keys(other, '1.0.0').bundle}")
    if kms:
        decrypt = by_sid.pop("DecryptBundles")
        assert as_list(decrypt["Action"]) == ["kms:Decrypt"] and as_list(decrypt["Resource"]) == [kms]
        assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
    assert by_sid == {}, "nothing else"


@settings(max_examples=60, deadline=None)
@given(model_list=model_lists, outsider=models, kms=keys, region=regions)
def test_the_dags_reader_gets_the_models_versions_only(model_list, outsider, kms, region):
    doc = parsed(iam.bundles_reader_policy(BUCKET_ARN, model_list, kms, region))
    for m in model_list:
        assert allowed(doc, "s3:GetObject", f"{BUCKET_ARN}/{bundle_keys(m, '2026-12-02-1').bundle}")
        assert not allowed(doc, "s3:GetObject", f"{BUCKET_ARN}/{m}/released.json")
    if outsider not in model_list:
        assert not allowed(doc, "s3:GetObject", f"{BUCKET_ARN}/{bundle_keys(outsider, '1.0.0').bundle}")
    s3 = {a for s in doc["Statement"] for a in as_list(s["Action"]) if not a.startswith("kms:")}
    assert s3 == {"s3:GetObject"}


@settings(max_examples=60, deadline=None)
@given(model_list=model_lists, outsider=models, kms=keys, region=regions)
def test_the_writer_stays_under_its_models_prefixes_and_their_scratch(model_list, outsider, kms, region):
    doc = parsed(iam.writer_policy(BUCKET_ARN, model_list, kms, region))
    prefixes = [model_prefix(m) for m in model_list] + [f"_work/{model_prefix(m)}" for m in model_list]
    for s in doc["Statement"]:
        for arn in as_list(s["Resource"]):
            if arn in (BUCKET_ARN, kms):
                continue
            assert any(arn.startswith(f"{BUCKET_ARN}/{p}") for p in prefixes), arn
    if outsider not in model_list:
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert not allowed(doc, action, f"{BUCKET_ARN}/{bundle_keys(outsider, '1.0.0').bundle}")
            assert not allowed(doc, action, f"{BUCKET_ARN}/_work/{outsider}/x")


# --------------------------------------------------------------------------- what each document grants


@pytest.mark.parametrize("kms", [None, KEY_ARN])
def test_writer_publishes_new_objects_only_and_scratches_under_work(kms):
    doc = parsed(iam.writer_policy(BUCKET_ARN, ["days-to-sell"], kms, "eu-west-2"))
    arn = BUCKET_ARN
    keys_ = bundle_keys("days-to-sell", "2026-12-02-884422123")
    for key in keys_.published:
        assert not allowed(doc, "s3:PutObject", f"{arn}/{key}"), "no unconditional put of a published key"
        assert allowed(doc, "s3:GetObject", f"{arn}/{key}")
    (publish,) = [s for s in doc["Statement"] if s["Sid"] == "PublishNewVersionObjects"]
    assert publish["Condition"] == {"Null": {"s3:if-none-match": "false"}}
    assert as_list(publish["Resource"]) == [f"{arn}/days-to-sell/*/*"]
    assert allowed(doc, "s3:GetObject", f"{arn}/{keys_.released}")
    for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
        assert allowed(doc, action, f"{arn}/{keys_.work}data/part-0.parquet")
        assert not allowed(doc, action, f"{arn}/_work/other-model/x")
    assert not allowed(doc, "s3:DeleteObject", f"{arn}/{keys_.bundle}")
    s3_actions = {a for s in doc["Statement"] for a in as_list(s["Action"]) if a.startswith("s3:")}
    assert s3_actions == {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket"}
    (listing,) = [s for s in doc["Statement"] if "s3:ListBucket" in as_list(s["Action"])]
    assert as_list(listing["Resource"]) == [arn]
    assert as_list(listing["Condition"]["StringLike"]["s3:prefix"]) == ["days-to-sell/*", "_work/days-to-sell/*"]
    kms_actions = {a for s in doc["Statement"] for a in as_list(s["Action"]) if a.startswith("kms:")}
    assert kms_actions == ({"kms:Decrypt", "kms:GenerateDataKey"} if kms else set())


def test_reader_role_trusts_exactly_one_service_account():
    (trust,) = parsed(iam.irsa_trust_policy(OIDC_ARN, ISSUER, "models", "days-to-sell-serving"))["Statement"]
    assert trust["Effect"] == "Allow"
    assert trust["Principal"] == {"Federated": OIDC_ARN}
    assert as_list(trust["Action"]) == ["sts:AssumeRoleWithWebIdentity"]
    assert set(trust["Condition"]) == {"StringEquals"}, "no StringLike: one ServiceAccount, no pattern"
    assert trust["Condition"]["StringEquals"] == {
        f"{ISSUER}:sub": "system:serviceaccount:models:days-to-sell-serving",
        f"{ISSUER}:aud": "sts.amazonaws.com",
    }


@pytest.mark.parametrize(
    "prefix,resource",
    [
        ("airflow/connections", f"{SECRET_BASE}airflow/connections/*"),
        # A prefix is matched literally: IAM would read '*' and '?' as wildcards.
        ("odd*prefix?", f"{SECRET_BASE}odd${{*}}prefix${{?}}/*"),
    ],
)
def test_secrets_reader_reads_under_its_prefixes_only(prefix, resource):
    doc = parsed(iam.secrets_reader_policy(SECRET_BASE, [prefix], None, "eu-west-2"))
    (read,) = doc["Statement"]
    assert as_list(read["Action"]) == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    assert as_list(read["Resource"]) == [resource]


def test_permission_policies_pass_iams_grammar_check():
    """moto's IAM validator (operators, action and ARN formats) accepts every permission policy."""
    import boto3
    from moto import mock_aws

    permission = [
        iam.writer_policy(BUCKET_ARN, ["days-to-sell", "car-valuation"], KEY_ARN, "eu-west-2"),
        iam.reader_policy(BUCKET_ARN, "days-to-sell", KEY_ARN, "eu-west-2"),
        iam.bundles_reader_policy(BUCKET_ARN, ["days-to-sell"], KEY_ARN, "eu-west-2"),
        iam.secrets_reader_policy(SECRET_BASE, ["airflow/connections", "airflow/variables"], KEY_ARN, "eu-west-2"),
        iam.artifact_reader_policy(["arn:aws:s3:::pricing-artifacts/days-to-sell/days_to_sell-*-py3-none-any.whl"]),
        iam.pass_role_policy(WRITER_ROLE, "ec2.amazonaws.com"),
    ]
    with mock_aws():
        client = boto3.client("iam", region_name="us-east-1")
        for n, document in enumerate(permission):
            client.create_policy(PolicyName=f"p{n}", PolicyDocument=document.to_json())


@pytest.mark.parametrize(
    "build",
    [
        lambda: iam.writer_policy(BUCKET_ARN, [], None, "eu-west-2"),
        lambda: iam.bundles_reader_policy(BUCKET_ARN, [], None, "eu-west-2"),
        lambda: iam.secrets_reader_policy(SECRET_BASE, [], None, "eu-west-2"),
        lambda: iam.artifact_reader_policy([]),
    ],
)
def test_a_document_that_would_grant_nothing_is_refused(build):
    with pytest.raises(ValueError):
        build()


# --------------------------------------------------------------------------- the types


def test_documents_refuse_wildcard_grants_star_resources_and_public_allows():
    with pytest.raises(ValueError, match="wildcard"):
        Statement(sid="A", effect="Allow", actions=("s3:*",), resources=("arn:aws:s3:::b/*",))
    with pytest.raises(ValueError, match="wildcard"):
        Statement(sid="A", effect="Allow", actions=("s3:Get*",), resources=("arn:aws:s3:::b/*",))
    with pytest.raises(ValueError, match="Resource"):
        Statement(sid="A", effect="Allow", actions=("s3:GetObject",), resources=("*",))
    with pytest.raises(ValueError, match="public"):
        Statement(sid="A", effect="Allow", principal="*", actions=("s3:GetObject",), resources=("arn:aws:s3:::b/*",))
    with pytest.raises(ValueError, match="duplicate"):
        s = Statement(sid="A", effect="Allow", actions=("s3:GetObject",), resources=("arn:aws:s3:::b/*",))
        PolicyDocument((s, s))
    # A Deny may cover every action: refusing plain HTTP must not miss one.
    Statement(sid="D", effect="Deny", principal="*", actions=("s3:*",), resources=("arn:aws:s3:::b",))


def test_documents_serialize_as_iam_json():
    s = Statement(
        sid="Trust",
        effect="Allow",
        principal=Principal("Federated", ("arn:aws:iam::111122223333:oidc-provider/x",)),
        actions=("sts:AssumeRoleWithWebIdentity",),
    )
    assert parsed(PolicyDocument((s,))) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Trust",
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/x"},
                "Action": "sts:AssumeRoleWithWebIdentity",
            }
        ],
    }


# --------------------------------------------------------------------------- the bucket policy
# tests/test_bundle_store.py checks the store attaches iam.bucket_policy built from the stack (KMS in prod, not in
# staging); tests/test_immutability.py checks what it denies the training role.


@pytest.mark.parametrize("kms", [False, True])
def test_bucket_policy_denies_every_request_without_tls(kms):
    doc = parsed(iam.bucket_policy(BUCKET_ARN, kms, writer_role_arn=WRITER_ROLE))
    denies = [
        s
        for s in doc["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(denies) == 1
    (deny,) = denies
    assert deny["Principal"] == "*"
    assert as_list(deny["Action"]) == ["s3:*"], "plain HTTP is refused for every action"
    assert set(as_list(deny["Resource"])) == {BUCKET_ARN, f"{BUCKET_ARN}/*"}


def non_kms_upload_denies(doc: dict[str, Any]) -> list[dict[str, Any]]:
    header = "s3:x-amz-server-side-encryption"
    return [
        s for s in doc["Statement"] if s["Effect"] == "Deny" and header in s.get("Condition", {}).get("StringNotEquals", {})
    ]


def test_with_kms_the_bucket_policy_denies_uploads_that_ask_for_other_encryption():
    (deny,) = non_kms_upload_denies(parsed(iam.bucket_policy(BUCKET_ARN, True, writer_role_arn=WRITER_ROLE)))
    header = "s3:x-amz-server-side-encryption"
    assert deny["Principal"] == "*"
    assert as_list(deny["Action"]) == ["s3:PutObject"]
    assert as_list(deny["Resource"]) == [f"{BUCKET_ARN}/*"]
    assert deny["Condition"]["StringNotEquals"][header] == "aws:kms"
    # Uploads without the header get the bucket's default SSE-KMS, so only an explicit other choice is refused.
    assert deny["Condition"]["Null"][header] == "false"


def test_with_sse_s3_uploads_are_not_restricted_to_kms():
    assert non_kms_upload_denies(parsed(iam.bucket_policy(BUCKET_ARN, False, writer_role_arn=WRITER_ROLE))) == []
