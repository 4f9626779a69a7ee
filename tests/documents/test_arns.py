"""ARN patterns (infra/documents/arns.py): partitions, literal matching, one object at every version."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.documents.arns import iam_literal, partition, role_arn, secret_arn_base, versioned_object_arn


@pytest.mark.parametrize(
    "region,uri,arn",
    [
        ("eu-west-2", "s3://b/m/m-{packageVersion}.whl", "arn:aws:s3:::b/m/m-*.whl"),
        ("cn-north-1", "s3://b/m/m-{packageVersion}.whl", "arn:aws-cn:s3:::b/m/m-*.whl"),
        ("us-gov-west-1", "s3://b/{packageVersion}/m-{packageVersion}.jar", "arn:aws-us-gov:s3:::b/*/m-*.jar"),
        # IAM would read '*', '?' and '$' in a key as wildcards or a variable: matched literally instead.
        ("eu-west-2", "s3://b/a*b?c$d-{packageVersion}.whl", "arn:aws:s3:::b/a${*}b${?}c${$}d-*.whl"),
    ],
)
def test_package_arns_have_the_regions_partition_and_match_special_characters_literally(region, uri, arn):
    assert versioned_object_arn(uri, region) == arn


def test_a_package_that_is_not_an_s3_object_has_no_arn():
    for uri in ("dbfs:/wheels/m-{packageVersion}.whl", "s3://bucket-only-{packageVersion}.whl"):
        with pytest.raises(ValueError):
            versioned_object_arn(uri, "eu-west-2")


@settings(max_examples=100, deadline=None)
@given(version=st.from_regex(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,30}", fullmatch=True))
def test_the_package_pattern_covers_every_package_version_so_a_new_package_never_changes_iam(version):
    """The pattern is derived from the template alone; every version's object matches it, its neighbours do not."""
    template = "s3://pricing-artifacts/days-to-sell/days_to_sell-{packageVersion}-py3-none-any.whl"
    pattern = versioned_object_arn(template, "eu-west-2")
    resolved = "arn:aws:s3:::" + template.removeprefix("s3://").replace("{packageVersion}", version)
    assert fnmatch.fnmatchcase(resolved, pattern)
    assert not fnmatch.fnmatchcase(resolved + ".sig", pattern)
    assert not fnmatch.fnmatchcase(resolved.replace("/days-to-sell/", "/other-model/"), pattern)


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=1, max_size=20))
def test_literal_text_has_no_wildcard_left(text):
    escaped = iam_literal(text)
    unescaped = escaped.replace("${*}", "").replace("${?}", "").replace("${$}", "")
    assert "*" not in unescaped and "?" not in unescaped


@pytest.mark.parametrize(
    "region,expected", [("eu-west-2", "aws"), ("cn-northwest-1", "aws-cn"), ("us-gov-east-1", "aws-us-gov")]
)
def test_role_arns_are_known_before_the_role_exists_in_the_regions_partition(region, expected):
    assert partition(region) == expected
    assert role_arn(region=region, account_id="111122223333", role_name="r") == f"arn:{expected}:iam::111122223333:role/r"


def test_secret_arn_base_keeps_partition_region_and_account_of_a_real_secret():
    arn = "arn:aws:secretsmanager:eu-west-2:111122223333:secret:airflow/connections/aws_default-AbCdEf"
    assert secret_arn_base(arn) == "arn:aws:secretsmanager:eu-west-2:111122223333:secret:"
    with pytest.raises(ValueError):
        secret_arn_base("arn:aws:s3:::bucket")
