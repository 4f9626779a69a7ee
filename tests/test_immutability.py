"""Published versions are immutable: the training role creates a version's objects once and never changes them.

Two layers hold it (infra/documents/iam.py): the writer's own
policy, and the bucket policy's denies for the writer's role. moto does not
evaluate IAM or bucket-policy conditions (its access control only knows
``sts:ExternalId``), so the documents are proved here by table tests and a
small evaluator of IAM's rules (explicit deny wins; else an allow grants;
else denied), applied to the requests training makes. What S3 itself does
with ``If-None-Match`` is checked against moto's S3, which honours it.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

from infra.documents.arns import role_arn
from infra.documents.iam import bucket_policy, writer_policy
from infra.documents.iam_policy import PolicyDocument, Statement
from infra.contract.layout import bundle_keys, released_key
from modelctl.engine import Plan
from tests.conftest import plan_doc, stack_doc
from tests.document_reading import as_list

BUCKET_ARN = "arn:aws:s3:::bundles"
ROLE = "arn:aws:iam::111122223333:role/model-platform-staging-training"
KMS_KEY = "arn:aws:kms:eu-west-2:111122223333:key/0f0e0d0c-0000-4b4a-8a8b-0c0d0e0f0a0b"
REGION = "eu-west-2"
MODEL_SETS = [("days-to-sell",), ("days-to-sell", "car-valuation")]
RUN = "2026-12-02-884422123"


def statements(doc: PolicyDocument) -> list[dict[str, Any]]:
    return json.loads(doc.to_json())["Statement"]


def is_published(resource: str) -> bool:
    return resource.startswith(f"{BUCKET_ARN}/") and not resource.startswith(f"{BUCKET_ARN}/_work/")


# --------------------------------------------------------------------------- the writer's policy, statement by statement


@pytest.mark.parametrize("models", MODEL_SETS)
@pytest.mark.parametrize("kms", [None, KMS_KEY])
def test_every_writer_put_on_a_published_key_carries_the_if_none_match_condition(models, kms):
    for s in statements(writer_policy(BUCKET_ARN, models, kms, REGION)):
        if s["Effect"] == "Allow" and "s3:PutObject" in as_list(s["Action"]):
            for resource in as_list(s["Resource"]):
                if is_published(resource):
                    assert s["Condition"] == {"Null": {"s3:if-none-match": "false"}}, s["Sid"]


@pytest.mark.parametrize("models", MODEL_SETS)
@pytest.mark.parametrize("kms", [None, KMS_KEY])
def test_the_writer_has_no_delete_on_published_keys(models, kms):
    for s in statements(writer_policy(BUCKET_ARN, models, kms, REGION)):
        deletes = [a for a in as_list(s["Action"]) if a.startswith("s3:Delete")]
        if s["Effect"] == "Allow" and deletes:
            assert not [r for r in as_list(s["Resource"]) if is_published(r)], s["Sid"]


@pytest.mark.parametrize("models", MODEL_SETS)
@pytest.mark.parametrize("kms", [None, KMS_KEY])
def test_every_writer_arn_is_under_a_models_prefix_or_its_scratch(models, kms):
    allowed_prefixes = [p for m in models for p in (f"{BUCKET_ARN}/{m}/", f"{BUCKET_ARN}/_work/{m}/")]
    for s in statements(writer_policy(BUCKET_ARN, models, kms, REGION)):
        for resource in as_list(s["Resource"]):
            if as_list(s["Action"]) == ["s3:ListBucket"]:
                assert resource == BUCKET_ARN
                prefixes = as_list(s["Condition"]["StringLike"]["s3:prefix"])
                assert sorted(prefixes) == sorted(p.removeprefix(f"{BUCKET_ARN}/") + "*" for p in allowed_prefixes)
            elif resource.startswith("arn:aws:kms:"):
                assert resource == kms
            else:
                assert any(resource.startswith(p) for p in allowed_prefixes), resource


def test_the_writer_cannot_put_released_json():
    """The stack writes released.json; the writer's put covers only a version's objects (<model>/*/*)."""
    (publish,) = [s for s in statements(writer_policy(BUCKET_ARN, ["days-to-sell"], None, REGION)) if "PutObject" in str(s["Action"]) and "Null" in s.get("Condition", {})]
    assert not fnmatch.fnmatchcase(f"{BUCKET_ARN}/{released_key('days-to-sell')}", publish["Resource"])
    assert fnmatch.fnmatchcase(f"{BUCKET_ARN}/{bundle_keys('days-to-sell', RUN).bundle}", publish["Resource"])


def test_a_deny_may_exclude_resources_but_an_allow_may_not():
    Statement(sid="D", effect="Deny", principal="*", actions=("s3:PutObject",), not_resources=(f"{BUCKET_ARN}/_work/*",))
    with pytest.raises(ValueError, match="NotResource"):
        Statement(sid="A", effect="Allow", actions=("s3:PutObject",), not_resources=(f"{BUCKET_ARN}/_work/*",))


# --------------------------------------------------------------------------- IAM's evaluation, in miniature


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    #: Condition keys the request carries (absent keys are what ``Null: true`` matches).
    context: dict[str, str] = field(default_factory=dict)


def _matches(patterns: list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def _condition_holds(operator: str, key: str, values: list[str], context: dict[str, str]) -> bool:
    present = key in context
    if operator == "Null":
        return (not present) == (values[0] == "true")
    if not present:
        return operator.startswith("StringNot")  # IAM: a negated operator holds when the key is absent
    actual = context[key]
    if operator in ("StringEquals", "ArnEquals"):
        return actual in values
    if operator in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(actual, v) for v in values)
    if operator == "StringNotEquals":
        return actual not in values
    if operator == "Bool":
        return actual.lower() == values[0].lower()
    raise AssertionError(f"the evaluator does not know {operator}")


def _applies(s: dict[str, Any], request: Request) -> bool:
    if not _matches(as_list(s["Action"]), request.action):
        return False
    if "Resource" in s and not _matches(as_list(s["Resource"]), request.resource):
        return False
    if "NotResource" in s and _matches(as_list(s["NotResource"]), request.resource):
        return False
    return all(
        _condition_holds(operator, key, as_list(values), request.context)
        for operator, block in s.get("Condition", {}).items()
        for key, values in block.items()
    )


def decide(request: Request, *documents: PolicyDocument) -> str:
    """"allow", "denied" (an explicit Deny) or "not allowed" (no Allow), as IAM decides within one account."""
    found = [s for doc in documents for s in statements(doc) if _applies(s, request)]
    if any(s["Effect"] == "Deny" for s in found):
        return "denied"
    return "allow" if any(s["Effect"] == "Allow" for s in found) else "not allowed"


def training(action: str, key: str, *, if_none_match: bool = False, prefix: Optional[str] = None) -> Request:
    """A request of the training role (``aws:PrincipalArn``), over TLS."""
    context = {"aws:PrincipalArn": ROLE, "aws:SecureTransport": "true"}
    if if_none_match:
        context["s3:if-none-match"] = "*"
    if prefix is not None:
        context["s3:prefix"] = prefix
    resource = BUCKET_ARN if action == "s3:ListBucket" else f"{BUCKET_ARN}/{key}"
    return Request(action, resource, context)


KEYS = bundle_keys("days-to-sell", RUN)
OLD = bundle_keys("days-to-sell", "1.4.0")
WORK = f"{KEYS.work}dataset/part-0.parquet"
#: (what training does, its request, the decision under the writer policy plus the bucket policy).
WRITER_TABLE = [
    ("publish a new version's object", training("s3:PutObject", KEYS.bundle, if_none_match=True), "allow"),
    ("publish the seal last", training("s3:PutObject", KEYS.digest, if_none_match=True), "allow"),
    ("overwrite without If-None-Match", training("s3:PutObject", OLD.bundle), "denied"),
    ("overwrite the seal without If-None-Match", training("s3:PutObject", OLD.digest), "denied"),
    ("delete a published object", training("s3:DeleteObject", OLD.bundle), "denied"),
    ("delete an object version", training("s3:DeleteObjectVersion", OLD.bundle), "denied"),
    ("re-tag a published object", training("s3:PutObjectTagging", OLD.samples), "denied"),
    ("re-ACL a published object", training("s3:PutObjectAcl", OLD.samples), "denied"),
    ("write released.json", training("s3:PutObject", released_key("days-to-sell"), if_none_match=True), "not allowed"),
    ("read released.json", training("s3:GetObject", released_key("days-to-sell")), "allow"),
    ("read an older version's stats", training("s3:GetObject", OLD.stats), "allow"),
    ("write scratch", training("s3:PutObject", WORK), "allow"),
    ("delete scratch", training("s3:DeleteObject", WORK), "allow"),
    ("write another model's version", training("s3:PutObject", "car-valuation/1.0.0/bundle.zip", if_none_match=True), "not allowed"),
    ("write another model's scratch", training("s3:PutObject", "_work/car-valuation/x/y"), "not allowed"),
    ("read another model", training("s3:GetObject", "car-valuation/1.0.0/bundle.zip"), "not allowed"),
    ("list its versions", training("s3:ListBucket", "", prefix="days-to-sell/"), "allow"),
    ("list its scratch", training("s3:ListBucket", "", prefix=KEYS.work), "allow"),
    ("list the whole bucket", training("s3:ListBucket", "", prefix=""), "not allowed"),
    ("list another model", training("s3:ListBucket", "", prefix="car-valuation/"), "not allowed"),
]


@pytest.mark.parametrize("kms", [False, True])
@pytest.mark.parametrize("what, request_, expected", WRITER_TABLE, ids=[w for w, _, _ in WRITER_TABLE])
def test_what_the_training_role_may_do(what, request_, expected, kms):
    writer = writer_policy(BUCKET_ARN, ["days-to-sell"], KMS_KEY if kms else None, REGION)
    store = bucket_policy(BUCKET_ARN, kms, writer_role_arn=ROLE)
    assert decide(request_, writer, store) == expected, what


#: Requests the bucket policy refuses the training role whatever its identity policies say.
ALWAYS_DENIED = [w for w in WRITER_TABLE if w[2] == "denied"]


@pytest.mark.parametrize("what, request_, _", ALWAYS_DENIED, ids=[w for w, _, _ in ALWAYS_DENIED])
def test_the_bucket_policy_holds_even_if_someone_grants_the_role_everything(what, request_, _):
    everything = PolicyDocument(
        (Statement(sid="TooBroad", effect="Allow", actions=("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging", "s3:PutObjectAcl"), resources=(f"{BUCKET_ARN}/*",)),)
    )
    assert decide(request_, everything, bucket_policy(BUCKET_ARN, False, writer_role_arn=ROLE)) == "denied", what
    assert decide(training("s3:PutObject", WORK), everything, bucket_policy(BUCKET_ARN, False, writer_role_arn=ROLE)) == "allow"


def test_other_principals_are_not_held_to_conditional_writes():
    """The stack (the deploy role) rewrites released.json on every release; only the training role is restricted."""
    deployer = PolicyDocument((Statement(sid="Deploy", effect="Allow", actions=("s3:PutObject",), resources=(f"{BUCKET_ARN}/*",)),))
    put = Request("s3:PutObject", f"{BUCKET_ARN}/{released_key('days-to-sell')}", {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/deploy", "aws:SecureTransport": "true"})
    assert decide(put, deployer, bucket_policy(BUCKET_ARN, False, writer_role_arn=ROLE)) == "allow"


@pytest.mark.parametrize(
    "region, partition", [("eu-west-2", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_the_role_arn_is_computed_from_account_and_name(region, partition):
    assert role_arn(region=region, account_id="111122223333", role_name="r") == f"arn:{partition}:iam::111122223333:role/r"


# --------------------------------------------------------------------------- in the plan


def resource_named(plan: Plan, type_: str, name_part: str):
    (found,) = [r for r in plan.by_type(type_) if name_part in r.name]
    return found


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_bucket_policy_names_the_training_role_without_depending_on_it(real_plan, stack):
    plan = real_plan(stack)
    role = resource_named(plan, "aws:iam/role:Role", "training")
    account = stack_doc(stack)["config"]["model-platform:aws"]["accountId"]
    expected = f"arn:aws:iam::{account}:role/{role.inputs['name']}"
    policy = plan.by_type("aws:s3/bucketPolicy:BucketPolicy")[0]
    denies = [s for s in json.loads(policy.inputs["policy"])["Statement"] if s["Sid"].startswith("DenyWriter")]
    assert len(denies) == 2
    for deny in denies:
        assert deny["Condition"]["ArnEquals"]["aws:PrincipalArn"] == expected
        assert deny["NotResource"] == f"arn:aws:s3:::{plan.outputs['bucketName']}/_work/*"
    assert role.urn not in policy.dependencies, "no cycle: the role holds the store's writer policy"


def test_without_an_account_id_the_role_arn_uses_the_deploying_account():
    doc = stack_doc("staging")
    del doc["config"]["model-platform:aws"]["accountId"]
    plan = plan_doc(doc, "staging")
    policy = plan.by_type("aws:s3/bucketPolicy:BucketPolicy")[0]
    (deny,) = [s for s in json.loads(policy.inputs["policy"])["Statement"] if s["Sid"] == "DenyWriterOverwrites"]
    role = resource_named(plan, "aws:iam/role:Role", "training")
    registration = plan.by_type("databricks:index/instanceProfile:InstanceProfile")[0]
    assert deny["Condition"]["ArnEquals"]["aws:PrincipalArn"] == registration.inputs["iamRoleArn"]
    assert registration.inputs["iamRoleArn"].endswith(f":role/{role.inputs['name']}")


# --------------------------------------------------------------------------- S3 itself (moto)


def test_s3_refuses_a_conditional_write_over_an_existing_key_and_keeps_the_first_bytes(s3):
    from botocore.exceptions import ClientError

    from tests.fixtures.release_env import MODEL

    s3.client.create_bucket(Bucket="bundles", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    key = bundle_keys(MODEL, RUN).bundle
    s3.client.put_object(Bucket="bundles", Key=key, Body=b"first run", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        s3.client.put_object(Bucket="bundles", Key=key, Body=b"a retry with other bytes", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.client.get_object(Bucket="bundles", Key=key)["Body"].read() == b"first run"
    other = bundle_keys(MODEL, "2026-12-03-884422999").bundle
    s3.client.put_object(Bucket="bundles", Key=other, Body=b"second run", IfNoneMatch="*")
    assert s3.client.get_object(Bucket="bundles", Key=key)["Body"].read() == b"first run"
