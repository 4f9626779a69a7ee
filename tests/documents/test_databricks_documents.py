"""The team's cluster policy definition (infra/documents/databricks.py), called directly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.contract.limits import MIN_AUTOTERMINATION_MINUTES
from infra.documents.databricks import (
    ON_DEMAND_DRIVER,
    ClusterPolicyLimits,
    cluster_policy_definition,
)

TAGS = {"team": "pricing-data-science", "project": "model-platform", "environment": "prod", "managed-by": "pulumi"}


def limits(**overrides) -> ClusterPolicyLimits:
    values = dict(
        spark_version="13.3.x-cpu-ml-scala2.12",
        node_types=("i3.xlarge", "i3.2xlarge"),
        default_node_type="i3.xlarge",
        driver_node_type="i3.2xlarge",
        max_workers=8,
        autotermination_minutes=60,
        custom_tags=TAGS,
    )
    return ClusterPolicyLimits(**{**values, **overrides})


def test_policy_limits_runtime_nodes_workers_autotermination_and_requires_tags():
    rules = cluster_policy_definition(limits())
    assert rules["spark_version"] == {"type": "allowlist", "values": ["13.3.x-cpu-ml-scala2.12"], "defaultValue": "13.3.x-cpu-ml-scala2.12"}
    assert rules["node_type_id"] == {"type": "allowlist", "values": ["i3.xlarge", "i3.2xlarge"], "defaultValue": "i3.xlarge"}
    assert rules["driver_node_type_id"]["values"] == ["i3.xlarge", "i3.2xlarge"]
    assert rules["driver_node_type_id"]["defaultValue"] == "i3.2xlarge"
    for key in ("num_workers", "autoscale.max_workers"):
        assert rules[key]["maxValue"] == 8 and rules[key]["isOptional"] is True
    autotermination = rules["autotermination_minutes"]
    assert autotermination == {"type": "range", "minValue": 10, "maxValue": 60, "defaultValue": 60}
    assert not autotermination.get("isOptional"), "autotermination cannot be switched off"
    assert rules["aws_attributes.first_on_demand"]["minValue"] == ON_DEMAND_DRIVER >= 1
    for key, value in TAGS.items():
        assert rules[f"custom_tags.{key}"] == {"type": "fixed", "value": value}


@settings(max_examples=50, deadline=None)
@given(
    max_workers=st.integers(1, 1000),
    autotermination=st.integers(MIN_AUTOTERMINATION_MINUTES, 10000),
    tags=st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), st.text(max_size=10), max_size=5),
)
def test_every_limit_is_fixed_or_bounded_and_every_tag_fixed(max_workers, autotermination, tags):
    rules = cluster_policy_definition(limits(max_workers=max_workers, autotermination_minutes=autotermination, custom_tags=tags))
    for path, rule in rules.items():
        assert rule["type"] in ("allowlist", "range", "fixed"), path
        if rule["type"] == "range" and path != "aws_attributes.first_on_demand":
            assert "maxValue" in rule, f"{path} has no upper bound"
    assert {p.removeprefix("custom_tags.") for p in rules if p.startswith("custom_tags.")} == set(tags)


def test_autotermination_below_what_databricks_accepts_is_refused():
    with pytest.raises(ValueError):
        limits(autotermination_minutes=MIN_AUTOTERMINATION_MINUTES - 1)
