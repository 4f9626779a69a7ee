"""The bundle store under the mock runtime: the bucket, its side resources, its IAM, its safety.

Expected values come from the stack files (account, OIDC provider, namespace,
lifecycle days) and from the layout module, never from the plan itself.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Optional

import pulumi_aws as aws
import pytest

from infra.components.bundle_reader import fit_role_name
from infra.config import PROJECT
from infra.contract.layout import bundle_keys, model_prefix, released_document
from infra.contract.naming import ENVIRONMENTS, physical_name
from infra.documents import iam
from infra.documents.arns import role_arn
from infra.naming import service_account_name
from modelctl.engine import UNKNOWN_PLACEHOLDER, Plan, PlannedResource
from modelctl.tree import format_tree
from tests.conftest import RELEASED_DIGEST, RELEASED_VERSION, del_path, parse_doc, plan_fixture, release_edits, stack_doc
from tests.document_reading import allowed, as_list

STACKS = ["staging", "prod"]
STORE = "model-platform:storage:BundleStore"
READER = "model-platform:storage:BundleReader"
TRAINING = "model-platform:training:Training"
BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
SIDE_RESOURCES = (VERSIONING, ENCRYPTION, PUBLIC_ACCESS, OWNERSHIP, BUCKET_POLICY, LIFECYCLE)
KMS_KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
BUNDLE_STORE_KEY = "model-platform:bundleStore"
#: The longest model names (40 characters) sharing all but their last: their reader roles' names must be cut to
#: IAM's 64 characters and still differ.
LONG_NAMES = ["m" * 39 + "a", "m" * 39 + "b"]
#: The models of the several-models stack (prod): the committed one and two of the longest names.
SEVERAL_MODELS = ["days-to-sell", *LONG_NAMES]
OWN_BUCKET = "acme-ml-bundles-staging"
OWN_KEY_ARN = "arn:aws:kms:eu-west-2:111122223333:key/0f0e0d0c-0000-4b4a-8a8b-0c0d0e0f0a0b"

#: One edited staging stack for every test of a key the committed stacks leave at another value (``plan_fixture``).
EDITED = {
    f"{BUNDLE_STORE_KEY}.bucketName": OWN_BUCKET,
    f"{BUNDLE_STORE_KEY}.encryption": "sse-kms",
    f"{BUNDLE_STORE_KEY}.kmsKeyArn": OWN_KEY_ARN,
    f"{BUNDLE_STORE_KEY}.workExpirationDays": 2,
    f"{BUNDLE_STORE_KEY}.noncurrentVersionDays": 45,
    f"{BUNDLE_STORE_KEY}.protect": True,
    **release_edits("days-to-sell"),
    "model-platform:airflow.kmsKeyArn": "arn:aws:kms:eu-west-2:111122223333:key/0a1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b",
    "model-platform:airflow.connectionsPrefix": "mwaa/connections",
}
#: Config a stack may change at any time that ``EDITED`` cannot carry: the account id is part of the bucket's default
#: name, which ``EDITED``'s bucketName overrides, and a key the stack creates is another path than a configured one.
MOVED = {
    "model-platform:aws.accountId": "999988887777",
    f"{BUNDLE_STORE_KEY}.encryption": "sse-kms",
    "model-platform:kubernetes.namespace": "serving",
}


# --------------------------------------------------------------------------- helpers


def cfg_value(stack: str, key: str) -> Any:
    return stack_doc(stack)["config"][f"{PROJECT}:{key}"]


def expected_bucket_name(stack: str) -> str:
    return f"{PROJECT}-{stack}-bundles-{cfg_value(stack, 'aws')['accountId']}"


def descendants(plan: Plan, urn: str) -> list[PlannedResource]:
    out, frontier = [], [urn]
    while frontier:
        kids = plan.children(frontier.pop())
        out += kids
        frontier += [k.urn for k in kids]
    return out


def store_of(plan: Plan) -> list[PlannedResource]:
    (store,) = plan.by_type(STORE)
    return descendants(plan, store.urn)


def only(plan: Plan, type_: str) -> PlannedResource:
    found = [r for r in store_of(plan) if r.type == type_]
    assert len(found) == 1, f"expected one {type_} in the store, found {[r.name for r in found]}"
    return found[0]


def of_type(plan: Plan, type_: str) -> list[PlannedResource]:
    return [r for r in store_of(plan) if r.type == type_]


def doc_of(r: PlannedResource, key: str = "policy") -> dict[str, Any]:
    return json.loads(r.inputs[key])


def reader_of(plan: Plan, model: str) -> tuple[PlannedResource, PlannedResource]:
    """The model's IRSA role and its inline policy, found under the model's reader component."""
    reader = plan.get(READER, f"{model}-reader")
    kids = {r.type: r for r in plan.children(reader.urn)}
    return kids[ROLE], kids[ROLE_POLICY]


def bucket_arn(plan: Plan) -> str:
    return f"arn:aws:s3:::{only(plan, BUCKET).inputs['bucket']}"


def kms_statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in doc["Statement"] if any(a.startswith("kms:") for a in as_list(s["Action"]))]


edited = plan_fixture("staging", EDITED)
moved = plan_fixture("staging", MOVED)
#: prod serving ``SEVERAL_MODELS``.
several = plan_fixture("prod", models=SEVERAL_MODELS)


# --------------------------------------------------------------------------- the bucket


@pytest.mark.parametrize("stack", STACKS)
def test_one_bucket_per_stack_named_from_project_and_environment(real_plan, stack):
    buckets = real_plan(stack).by_type(BUCKET)
    assert len(buckets) == 1
    assert buckets[0].inputs["bucket"] == expected_bucket_name(stack)
    assert buckets[0].parent == real_plan(stack).by_type(STORE)[0].urn


def test_bucket_name_can_be_overridden(edited):
    assert only(edited, BUCKET).inputs["bucket"] == OWN_BUCKET
    assert all(r.inputs["bucket"] == OWN_BUCKET for r in of_type(edited, LIFECYCLE))
    assert edited.outputs["bucketName"] == OWN_BUCKET


@pytest.mark.parametrize("stack", STACKS)
def test_bucket_is_configured_by_v7_side_resources_joined_to_it(real_plan, stack):
    plan = real_plan(stack)
    bucket = only(plan, BUCKET)
    deprecated_inline = {"versioning", "serverSideEncryptionConfiguration", "lifecycleRules", "policy", "acl", "grants"}
    assert not deprecated_inline & set(bucket.inputs)
    assert not bucket.inputs.get("forceDestroy"), "a bucket of bundles is never emptied by a destroy"
    for side in SIDE_RESOURCES:
        assert only(plan, side).inputs["bucket"] == bucket.inputs["bucket"], side


@pytest.mark.parametrize("stack", STACKS)
def test_versioning_is_enabled(real_plan, stack):
    assert only(real_plan(stack), VERSIONING).inputs["versioningConfiguration"]["status"] == "Enabled"


@pytest.mark.parametrize("stack", STACKS)
def test_public_access_is_blocked_and_acls_are_disabled(real_plan, stack):
    pab = only(real_plan(stack), PUBLIC_ACCESS).inputs
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert pab.get(flag) is True, flag
    assert only(real_plan(stack), OWNERSHIP).inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"


# --------------------------------------------------------------------------- encryption


def sse_rule(plan: Plan) -> dict[str, Any]:
    (rule,) = only(plan, ENCRYPTION).inputs["rules"]
    return rule


def test_staging_encrypts_with_sse_s3(real_plan):
    assert cfg_value("staging", "bundleStore")["encryption"] == "sse-s3"
    plan = real_plan("staging")
    rule = sse_rule(plan)
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    assert "kmsMasterKeyId" not in rule["applyServerSideEncryptionByDefault"]
    assert plan.by_type(KMS_KEY) == []


def test_sse_s3_is_the_default():
    """The store encrypts as the config says (test_staging_encrypts_with_sse_s3 plans sse-s3): unset, it says sse-s3."""
    doc = del_path(stack_doc("staging"), f"{BUNDLE_STORE_KEY}.encryption")
    assert parse_doc(doc, "staging").bundle_store.encryption == "sse-s3"


def test_prod_encrypts_with_a_key_it_creates_rotated_and_with_a_bucket_key(real_plan):
    assert cfg_value("prod", "bundleStore")["encryption"] == "sse-kms"
    assert "kmsKeyArn" not in cfg_value("prod", "bundleStore")
    plan = real_plan("prod")
    key = only(plan, KMS_KEY)
    assert key.inputs["enableKeyRotation"] is True
    rule = sse_rule(plan)
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    # The key's ARN is assigned when KMS creates the key: unknown in a plan, and taken from this key.
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == UNKNOWN_PLACEHOLDER
    encryption = only(plan, ENCRYPTION)
    assert key.urn in encryption.property_dependencies["rules"]
    assert rule["bucketKeyEnabled"] is True


def test_a_configured_kms_key_is_used_and_none_is_created(edited):
    key_arn, plan = OWN_KEY_ARN, edited
    assert plan.by_type(KMS_KEY) == []
    rule = sse_rule(plan)
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
    assert rule["bucketKeyEnabled"] is True
    _, reader_policy = reader_of(plan, "days-to-sell")
    for doc in (doc_of(only(plan, MANAGED_POLICY)), doc_of(reader_policy)):
        assert [as_list(s["Resource"]) for s in kms_statements(doc)] == [[key_arn]]


# --------------------------------------------------------------------------- bucket policy


# What the bucket policy denies (plain HTTP; with SSE-KMS, uploads asking for other encryption; the writer's
# overwrites) is tested on iam.bucket_policy (tests/documents/test_iam_documents.py, tests/test_immutability.py);
# test_the_store_attaches_the_documents_built_from_its_config checks the store attaches it.


# --------------------------------------------------------------------------- lifecycle


def lifecycle_rules(plan: Plan) -> list[dict[str, Any]]:
    return only(plan, LIFECYCLE).inputs["rules"]


def whole_bucket_rules(plan: Plan) -> list[dict[str, Any]]:
    return [r for r in lifecycle_rules(plan) if r["filter"] == {"prefix": ""}]


def noncurrent_days(plan: Plan) -> list[int]:
    return [r["noncurrentVersionExpiration"]["noncurrentDays"] for r in whole_bucket_rules(plan) if "noncurrentVersionExpiration" in r]


def scratch_rule(plan: Plan) -> dict[str, Any]:
    (rule,) = [r for r in lifecycle_rules(plan) if r["filter"] != {"prefix": ""}]
    return rule


@pytest.mark.parametrize("stack", STACKS)
def test_lifecycle_expires_noncurrent_versions_and_aborts_multipart_uploads(real_plan, stack):
    plan = real_plan(stack)
    rules = whole_bucket_rules(plan)
    assert noncurrent_days(plan) == [cfg_value(stack, "bundleStore")["noncurrentVersionDays"]]
    aborts = [r["abortIncompleteMultipartUpload"]["daysAfterInitiation"] for r in rules if "abortIncompleteMultipartUpload" in r]
    assert aborts == [7]
    for rule in lifecycle_rules(plan):
        assert rule["status"] == "Enabled"
    for rule in rules:
        assert "expiration" not in rule and "transitions" not in rule, "current bundles never expire"


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_runs_scratch_expires(real_plan, stack):
    rule = scratch_rule(real_plan(stack))
    assert rule["filter"] == {"prefix": "_work/"}
    assert rule["expiration"] == {"days": 7}, "bundleStore.workExpirationDays defaults to 7"
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] >= 1
    work = bundle_keys("days-to-sell", RELEASED_VERSION).work
    published = bundle_keys("days-to-sell", RELEASED_VERSION).published
    assert work.startswith(rule["filter"]["prefix"])
    assert not [key for key in published if key.startswith(rule["filter"]["prefix"])]


def test_work_expiration_days_follow_config(edited):
    assert scratch_rule(edited)["expiration"] == {"days": EDITED[f"{BUNDLE_STORE_KEY}.workExpirationDays"]}


def test_noncurrent_version_days_default_to_90_and_follow_config(edited):
    """The lifecycle takes the config's value (45 here, the stack's own in the test above); unset, the config says 90."""
    assert noncurrent_days(edited) == [EDITED[f"{BUNDLE_STORE_KEY}.noncurrentVersionDays"]]
    doc = del_path(stack_doc("staging"), f"{BUNDLE_STORE_KEY}.noncurrentVersionDays")
    assert parse_doc(doc, "staging").bundle_store.noncurrent_version_days == 90


# --------------------------------------------------------------------------- released.json


def released_object(plan: Plan, model: str) -> PlannedResource:
    (obj,) = [r for r in of_type(plan, OBJECT) if r.inputs["key"] == f"{model}/released.json"]
    return obj


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_writes_each_models_released_json_from_its_served_version(real_plan, stack):
    plan = real_plan(stack)
    served = cfg_value(stack, "models")["days-to-sell"]
    obj = released_object(plan, "days-to-sell")
    assert obj.inputs["bucket"] == only(plan, BUCKET).inputs["bucket"]
    assert obj.inputs["contentType"] == "application/json"
    assert obj.inputs["tags"]["model"] == "days-to-sell"
    assert obj.inputs["content"] == released_document(
        bucket=plan.outputs["bucketName"], model="days-to-sell", version=served["version"], bundle_sha256=served["bundleSha256"]
    )
    # Encrypted like the bundles: written only after the bucket's default encryption.
    assert only(plan, ENCRYPTION).urn in obj.dependencies


def test_a_release_rewrites_released_json_with_the_new_version_and_digest(edited):
    document = json.loads(released_object(edited, "days-to-sell").inputs["content"])
    assert (document["version"], document["bundleSha256"]) == (RELEASED_VERSION, RELEASED_DIGEST)
    assert document["files"]["stats"].endswith(f"/days-to-sell/{RELEASED_VERSION}/stats.json")


# --------------------------------------------------------------------------- IAM


@pytest.mark.parametrize("stack", STACKS)
def test_kms_permissions_exist_exactly_when_kms_is_used(real_plan, stack):
    plan = real_plan(stack)
    uses_kms = cfg_value(stack, "bundleStore")["encryption"] == "sse-kms"
    _, reader = reader_of(plan, "days-to-sell")
    reader_kms = kms_statements(doc_of(reader))
    writer_kms = kms_statements(doc_of(only(plan, MANAGED_POLICY)))
    assert bool(reader_kms) == uses_kms and bool(writer_kms) == uses_kms
    if uses_kms:
        # Policy documents keep the known parts of the key's ARN; the key id is the hole KMS fills on create.
        account = cfg_value(stack, "aws")["accountId"]
        key_arn = f"arn:aws:kms:{cfg_value(stack, 'aws')['region']}:{account}:key/{UNKNOWN_PLACEHOLDER}"
        assert {a for s in reader_kms for a in as_list(s["Action"])} == {"kms:Decrypt"}
        assert {a for s in writer_kms for a in as_list(s["Action"])} == {"kms:Decrypt", "kms:GenerateDataKey"}
        region = cfg_value(stack, "aws")["region"]
        for s in reader_kms + writer_kms:
            assert as_list(s["Resource"]) == [key_arn]
            assert s["Condition"]["StringEquals"]["kms:ViaService"] == f"s3.{region}.amazonaws.com"


def key_of(doc: dict[str, Any]) -> Optional[str]:
    """The KMS key a policy names (None without SSE-KMS)."""
    keys = {arn for s in kms_statements(doc) for arn in as_list(s["Resource"])}
    assert len(keys) <= 1
    return next(iter(keys), None)


@pytest.mark.parametrize("stack", STACKS)
def test_the_store_attaches_the_documents_built_from_its_config(real_plan, stack):
    """What each document grants is tested on the documents (tests/documents/test_iam_documents.py); here, that the
    store attaches them with the stack's bucket, models, key, region and serving identity."""
    plan = real_plan(stack)
    arn, region = bucket_arn(plan), cfg_value(stack, "aws")["region"]
    kube = cfg_value(stack, "kubernetes")
    issuer = kube["oidcProviderArn"].split(":oidc-provider/", 1)[1]
    writer = doc_of(only(plan, MANAGED_POLICY))
    key = key_of(writer)
    assert writer == json.loads(iam.writer_policy(arn, sorted(cfg_value(stack, "models")), key, region).to_json())
    uses_kms = cfg_value(stack, "bundleStore")["encryption"] == "sse-kms"
    # The writer is the role the stack's training creates, by its planned name: not the store's own naming rule.
    (training_role,) = [r for r in plan.by_type(ROLE) if TRAINING in r.urn]
    account = cfg_value(stack, "aws")["accountId"]
    writer_role = role_arn(region=region, account_id=account, role_name=training_role.inputs["name"])
    bucket_policy = iam.bucket_policy(arn, uses_kms, writer_role_arn=writer_role)
    assert doc_of(only(plan, BUCKET_POLICY)) == json.loads(bucket_policy.to_json())
    for model in cfg_value(stack, "models"):
        role, policy = reader_of(plan, model)
        trust = iam.irsa_trust_policy(kube["oidcProviderArn"], issuer, kube["namespace"], service_account_name(model))
        assert doc_of(role, "assumeRolePolicy") == json.loads(trust.to_json())
        assert doc_of(policy) == json.loads(iam.reader_policy(arn, model, key, region).to_json())


def test_several_models_get_scoped_prefixes_and_a_reader_role_each(several):
    plan = several
    arn = bucket_arn(plan)
    roles = of_type(plan, ROLE)
    assert len(roles) == len(SEVERAL_MODELS) and len({r.inputs["name"] for r in roles}) == len(SEVERAL_MODELS)
    writer = doc_of(only(plan, MANAGED_POLICY))
    (listing,) = [s for s in writer["Statement"] if "s3:ListBucket" in as_list(s["Action"])]
    assert sorted(as_list(listing["Condition"]["StringLike"]["s3:prefix"])) == sorted(
        p for m in SEVERAL_MODELS for p in (model_prefix(m) + "*", f"_work/{model_prefix(m)}*")
    )
    for model in SEVERAL_MODELS:
        own = bundle_keys(model, "1.0.0").bundle
        assert allowed(writer, "s3:GetObject", f"{arn}/{own}")
        assert released_object(plan, model).inputs["tags"]["model"] == model
        role, policy = reader_of(plan, model)
        assert role.inputs["tags"]["model"] == model
        subject = doc_of(role, "assumeRolePolicy")["Statement"][0]["Condition"]["StringEquals"]
        assert f"system:serviceaccount:models:{service_account_name(model)}" in subject.values()
        assert allowed(doc_of(policy), "s3:GetObject", f"{arn}/{own}")
        for other in set(SEVERAL_MODELS) - {model}:
            assert not allowed(doc_of(policy), "s3:GetObject", f"{arn}/{bundle_keys(other, '1.0.0').bundle}")
    arns = plan.outputs["readerRoleArns"]
    assert set(arns) == set(SEVERAL_MODELS) and len(set(arns.values())) == len(SEVERAL_MODELS)


def test_reader_role_names_fit_iam_for_the_longest_model_names(several):
    """The longest model names' reader roles, planned in prod, fit IAM's 64 characters and stay apart; ``fit_role_name``
    keeps them so in every environment."""
    names = [reader_of(several, model)[0].inputs["name"] for model in SEVERAL_MODELS]
    assert len(set(names)) == len(SEVERAL_MODELS) and all(len(n) <= 64 for n in names), names
    for model in LONG_NAMES:
        assert len(physical_name(model, "reader", environment="prod")) > 64, "the plan exercises the cut"
    for environment in ENVIRONMENTS:
        names = {fit_role_name(physical_name(m, "reader", environment=environment)) for m in LONG_NAMES}
        assert len(names) == 2 and all(len(n) <= 64 for n in names), environment


#: Arguments IAM cannot update in place: a change replaces the resource, and the replacement, created
#: before the old one is deleted under the same fixed name, fails with EntityAlreadyExists.
REPLACE_ONLY = {
    MANAGED_POLICY: ("name", "namePrefix", "path", "description"),
    ROLE: ("name", "namePrefix", "path"),
    "aws:iam/instanceProfile:InstanceProfile": ("name", "namePrefix", "path"),
    ROLE_POLICY: ("name", "namePrefix", "role"),
}
#: Config a stack may change at any time, each key in one of the two edited stacks (the bucket's name changes with
#: the first two, so they are in different ones).
CHANGEABLE_CONFIG = [
    "model-platform:bundleStore.bucketName",
    "model-platform:aws.accountId",
    "model-platform:bundleStore.encryption",
    "model-platform:kubernetes.namespace",
    "model-platform:airflow.kmsKeyArn",
    "model-platform:airflow.connectionsPrefix",
]


def replace_only_arguments(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.urn: {k: r.inputs.get(k) for k in REPLACE_ONLY[r.type]} for r in plan.resources if r.type in REPLACE_ONLY}


@pytest.mark.parametrize("edits", ["edited", "moved"])
def test_changing_config_never_replaces_an_iam_policy_or_role(real_plan, request, edits):
    """Every IAM policy, role and profile of the stack (store, training, Airflow) keeps what IAM can only replace.

    Each changeable key is changed in one of two edited stacks; keys feeding one value (bucketName overrides the
    account id in the bucket's name) are in different ones, so no edit can hide what another changes."""
    assert set(CHANGEABLE_CONFIG) <= set(EDITED) | set(MOVED)
    before = real_plan("staging")
    after = request.getfixturevalue(edits)  # the fixture asserts each of its edits changes the config
    assert replace_only_arguments(after) == replace_only_arguments(before)
    assert len(replace_only_arguments(before)) >= 6


@pytest.mark.parametrize("stack", STACKS)
def test_writer_policy_description_names_no_bucket(real_plan, stack):
    plan = real_plan(stack)
    description = only(plan, MANAGED_POLICY).inputs["description"]
    assert only(plan, BUCKET).inputs["bucket"] not in description and "s3://" not in description


# --------------------------------------------------------------------------- data safety


def data_resources(plan: Plan) -> list[PlannedResource]:
    return [r for r in store_of(plan) if r.type in (BUCKET, KMS_KEY, *SIDE_RESOURCES)]


def test_prod_protects_and_retains_the_bucket_its_side_resources_and_its_key(real_plan):
    resources = data_resources(real_plan("prod"))
    assert {r.type for r in resources} >= {BUCKET, KMS_KEY, *SIDE_RESOURCES}
    for r in resources:
        assert r.options.get("protect") is True, r.name
        assert r.options.get("retainOnDelete") is True, r.name


def test_staging_is_unprotected_by_default_and_protected_on_request(real_plan, edited):
    assert all(not r.options.get("protect") and not r.options.get("retainOnDelete") for r in data_resources(real_plan("staging")))
    bucket = only(edited, BUCKET)
    assert bucket.options.get("protect") is True and bucket.options.get("retainOnDelete") is True


def test_removing_a_model_removes_its_reader_but_never_touches_the_bucket(real_plan, several):
    two, one = several, real_plan("prod")
    assert list(cfg_value("prod", "models")) == SEVERAL_MODELS[:1], "the committed prod stack serves the first model only"
    snapshot = lambda plan: {r.urn: (r.inputs, r.options) for r in data_resources(plan)}  # noqa: E731
    assert snapshot(one) == snapshot(two), "the bucket, its side resources and its policy do not depend on the model list"
    assert {r.name for r in one.by_type(READER)} == {f"{SEVERAL_MODELS[0]}-reader"}
    # Bundles are never Pulumi resources, so nothing a version holds in S3 can be deleted by a config change:
    # the stack's only objects are the models' released.json.
    bundle_bucket = only(two, BUCKET).inputs["bucket"]
    objects = [
        r
        for r in two.resources
        if (r.type.startswith("aws:s3/bucketObject") or r.type.startswith("aws:s3/object"))
        and r.inputs["bucket"] == bundle_bucket
    ]
    assert sorted(r.inputs["key"] for r in objects) == sorted(f"{m}/released.json" for m in SEVERAL_MODELS)


# --------------------------------------------------------------------------- tags, outputs, plan


def takes_tags(type_: str) -> bool:
    module, cls = type_.split(":")[1].split("/")[0], type_.split(":")[2]
    resource = getattr(getattr(aws, module), cls)
    return "tags" in inspect.signature(resource._internal_init).parameters


def effective_tags(plan: Plan, r: PlannedResource) -> dict[str, str]:
    """The tags AWS gets: the resource's provider's ``default_tags``, then the resource's own (which win)."""
    provider = next(p for p in plan.resources if p.urn == r.options.get("provider"))
    raw = provider.inputs.get("defaultTags") or {}
    defaults = (json.loads(raw) if isinstance(raw, str) else raw).get("tags", {})
    return {**defaults, **(r.inputs.get("tags") or {})}


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_aws_resource_is_tagged(real_plan, stack):
    plan = real_plan(stack)
    taggable = [r for r in store_of(plan) if r.custom and r.type.startswith("aws:") and takes_tags(r.type)]
    assert {BUCKET, ROLE, MANAGED_POLICY} <= {r.type for r in taggable}
    for r in taggable:
        tags = effective_tags(plan, r)
        assert tags.get("project") == PROJECT, r.name
        assert tags.get("environment") == stack, r.name
        assert tags.get("managed-by") == "pulumi", r.name
        for key, value in cfg_value(stack, "tags").items():
            assert tags.get(key) == value, (r.name, key)
    role, _ = reader_of(plan, "days-to-sell")
    assert role.inputs["tags"]["model"] == "days-to-sell"
    assert "model" not in effective_tags(plan, only(plan, BUCKET)), "the bucket is shared by every model"


@pytest.mark.parametrize("stack", STACKS)
def test_stack_outputs_name_the_store(real_plan, stack):
    out = real_plan(stack).outputs
    assert out["bucketName"] == expected_bucket_name(stack)
    assert out["bucketArn"] == f"arn:aws:s3:::{expected_bucket_name(stack)}"
    assert out["writerPolicyArn"].startswith("arn:aws:iam::") and ":policy/" in out["writerPolicyArn"]
    assert set(out["readerRoleArns"]) == set(cfg_value(stack, "models"))
    assert all(":role/" in arn for arn in out["readerRoleArns"].values())


@pytest.mark.parametrize("stack", STACKS)
def test_modelctl_plan_shows_the_whole_store(real_plan, stack):
    plan = real_plan(stack)
    tree = format_tree(plan)
    for r in store_of(plan):
        line = next((ln for ln in tree.splitlines() if f"{r.type}  {r.name}" in ln), None)
        assert line is not None, f"{r.type} {r.name} missing from the tree"
        if r.options.get("protect"):
            assert "[protect]" in line and "[retainOnDelete]" in line
    assert expected_bucket_name(stack) in tree


# --------------------------------------------------------------------------- typed documents


