"""benchmarks/plan_floor.py measures against the right floor: its replay registers the very resources of a plan,
and its tables carry the columns and ratios the issue's goals are read from. No timings are asserted here."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from infra.stack_source import StackFile
from modelctl.engine import plan_stack_file
from tests.conftest import stack_doc

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "plan_floor.py"


def load_script() -> ModuleType:
    """The script as a module (benchmarks/ is not a package), registered first as dataclasses require."""
    if "plan_floor" not in sys.modules:
        spec = importlib.util.spec_from_file_location("plan_floor", SCRIPT)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["plan_floor"] = module
        spec.loader.exec_module(module)
    return sys.modules["plan_floor"]


@pytest.mark.parametrize("generated", [False, True], ids=["plain", "generated"])
def test_replay_registers_exactly_the_plans_resources(real_plan, generated):
    """A per-model floor is only a floor if it declares the same URNs, inputs, secrets, options and aliases,
    whether as plain resources or through the provider SDKs' generated classes."""
    floor = load_script()
    source = real_plan("staging").to_json(full=True)
    stack_file = StackFile.from_document(stack_doc("staging"), "stacks/Pulumi.staging.yaml")
    replayed = plan_stack_file(stack_file, "staging", program=floor.replay_program(source["resources"], generated=generated))
    assert len(replayed.resources) == len(source["resources"])
    assert floor.differences(source, replayed) == []

    changed = copy.deepcopy(source)
    bucket = next(r for r in changed["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    bucket["inputs"]["bucket"] = "another-bucket"
    assert floor.differences(changed, replayed) == [bucket["urn"]]


@pytest.mark.parametrize(
    ("token", "module", "name"),
    [
        ("aws:iam/role:Role", "pulumi_aws.iam", "Role"),
        ("aws:s3/bucketObjectv2:BucketObjectv2", "pulumi_aws.s3", "BucketObjectv2"),
        ("databricks:index/job:Job", "pulumi_databricks", "Job"),
        ("kubernetes:apps/v1:Deployment", "pulumi_kubernetes.apps.v1", "Deployment"),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "pulumi_kubernetes.networking.v1", "NetworkPolicy"),
    ],
)
def test_the_generated_floor_finds_each_types_class_in_its_sdk(token, module, name):
    assert load_script().generated_class(token) is getattr(importlib.import_module(module), name)


def test_the_generated_floor_passes_top_level_inputs_by_their_python_names():
    names = load_script().python_names({"secretString": 1, "bucket": 2, "assumeRolePolicy": {"Version": "2012-10-17"}})
    assert names == {"secret_string": 1, "bucket": 2, "assume_role_policy": {"Version": "2012-10-17"}}


def test_report_prints_both_tables_with_medians_spreads_and_ratios():
    floor = load_script()
    times = {
        "fixed": ([4.0, 5.0, 4.5], [4.4, 5.2, 4.6]),
        "models1": ([1.0, 1.0, 1.0], [1.5, 1.5, 1.5], [5.0, 5.0, 5.0]),
        "models21": ([2.0, 2.2, 2.1], [3.0, 3.1, 3.2], [7.0, 7.4, 7.2]),
    }
    text = floor.report(times, rounds=3, modules=1000, resources={1: 71, 21: 511}, extras=[20])
    assert "median [min-max] over 3 interleaved round(s)" in text
    assert "importing its 1000 pulumi* modules" in text
    fixed = text.splitlines()[4]
    assert fixed.split() == ["4.50", "[4.00-5.00]", "4.60", "[4.40-5.20]", "1.02x", "1.1x"]
    per_model = text.splitlines()[-1]
    # plain (2.1-1.0)/20 = 55 ms, generated (3.1-1.5)/20 = 80 ms, plan (7.2-5.0)/20 = 110 ms per model
    assert per_model.split() == ["20", "22.0", "55", "[50-60]", "80", "[75-85]", "110", "[100-120]", "2.00x", "1.2x", "1.38x"]


def load_profile_script() -> ModuleType:
    if "plan_profile" not in sys.modules:
        load_script()  # plan_profile imports plan_floor's helpers by name
        spec = importlib.util.spec_from_file_location("plan_profile", SCRIPT.parent / "plan_profile.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["plan_profile"] = module
        spec.loader.exec_module(module)
    return sys.modules["plan_profile"]


def test_each_profiled_sdk_function_falls_in_exactly_one_row():
    """The rows pick disjoint sets of functions, so no entry is counted twice (the rows name four separate call
    trees of the SDK's registration; that those trees do not call one another is the SDK's, not checked here)."""
    profile = load_profile_script()
    sdk = "/venv/lib/python3.11/site-packages/pulumi/runtime/"
    keys = [
        (sdk + "rpc.py", 163, "serialize_properties"),
        (sdk + "rpc.py", 1480, "resolve_outputs"),
        (sdk + "rpc.py", 1187, "transfer_properties"),
        (sdk + "resource.py", 741, "_get_stack_trace"),
        (str(profile.ROOT / "infra" / "program.py"), 47, "build"),
        (str(profile.ROOT / "benchmarks" / "plan_floor.py"), 108, "program"),
        (sdk + "rpc.py", 355, "serialize_property"),  # inside serialize_properties: counted there, in no row of its own
    ]
    matched = {key: [label for label, pick, _ in profile.ROWS if pick(key)] for key in keys}
    assert all(len(labels) == 1 for key, labels in matched.items() if key[2] != "serialize_property"), matched
    assert matched[keys[-1]] == []


def test_profile_figures_are_per_extra_model_cumulative_or_own_time():
    profile = load_profile_script()
    key = ("/x/pulumi/runtime/rpc.py", 1, "serialize_properties")
    one = {key: (1, 1, 0.5, 2.0, {})}
    many = {key: (21, 21, 2.5, 6.0, {})}
    assert profile.per_model(one, many, 20, lambda k: True, "cum") == 200.0  # (6.0 - 2.0) s / 20 models, in ms
    assert profile.per_model(one, many, 20, lambda k: True, "self") == 100.0  # (2.5 - 0.5) s / 20 models


def test_profile_table_splits_the_gap_into_the_generated_classes_and_the_program():
    profile = load_profile_script()
    rows = [("inputs serialized", (30.0, 25.0, 10.0)), ("outputs resolved", (20.0, 18.0, 8.0))]
    text = profile.table(rows, total=(100.0, 90.0, 50.0))
    lines = text.splitlines()
    assert lines[1].split()[-5:] == ["30.0", "25.0", "10.0", "15.0", "5.0"]
    assert lines[3].split()[-5:] == ["50.0", "47.0", "32.0", "15.0", "3.0"]  # everything else: total less the rows
    assert lines[4].split() == ["total", "100.0", "90.0", "50.0", "40.0", "10.0"]
    assert lines[-1] == "of the plan's cost beyond plain resources: generated classes 80%, program 20%"
