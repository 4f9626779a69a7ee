"""Databricks policies, called directly: a policed cluster and a well-behaved job pass; each lapse fails its rule."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from infra.contract.limits import DEFAULT_MAX_AUTOTERMINATION_MINUTES, DEFAULT_MAX_WORKERS, MIN_AUTOTERMINATION_MINUTES
from infra.contract.mleap_compat import (
    MLEAP_RELEASES,
    check_runtime_mleap_pair,
    mleap_python_requirement,
    mleap_spark_coordinates,
)
from model_platform_policy import databricks as db  # noqa: E402
from model_platform_policy import types as t  # noqa: E402
from model_platform_policy.testing import resource, violations  # noqa: E402

PACK = Path(__file__).resolve().parents[1] / "policies"
RUNTIME = "13.3.x-cpu-ml-scala2.12"
MLEAP_LIBRARIES = [
    {"whl": "s3://artifacts/days_to_sell-1.4.0-py3-none-any.whl"},
    {"pypi": {"package": "mleap==0.23.0"}},
    {"maven": {"coordinates": "ml.combust.mleap:mleap-spark_2.12:0.23.0"}},
]


def policy_definition() -> dict[str, Any]:
    return {
        "autotermination_minutes": {"type": "range", "minValue": 10, "maxValue": 30, "defaultValue": 30},
        "num_workers": {"type": "range", "minValue": 0, "maxValue": 8},
        "autoscale.max_workers": {"type": "range", "maxValue": 8},
        "spark_version": {"type": "allowlist", "values": [RUNTIME]},
    }


def cluster_props() -> dict[str, Any]:
    return {
        "sparkVersion": RUNTIME,
        "autoterminationMinutes": 30,
        "policyId": "1234",
        "autoscale": {"minWorkers": 1, "maxWorkers": 4},
        "libraries": [{"maven": {"coordinates": "ml.combust.mleap:mleap-spark_2.12:0.23.0"}}],
    }


def task(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "taskKey": key,
        "jobClusterKey": "training",
        "timeoutSeconds": 7200,
        "maxRetries": 1,
        "libraries": MLEAP_LIBRARIES,
        **extra,
    }


def job_props() -> dict[str, Any]:
    return {
        "maxConcurrentRuns": 1,
        "emailNotifications": {"onFailures": ["ml-alerts@example.com"]},
        "jobClusters": [
            {"jobClusterKey": "training", "newCluster": {"sparkVersion": RUNTIME, "numWorkers": 2, "policyId": "1234"}}
        ],
        "tasks": [task("check_bundle"), task("export_bundle"), task("train")],
    }


def edited(make: Callable[[], dict[str, Any]], edit: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    props = copy.deepcopy(make())
    edit(props)
    return props


def cluster(edit: Callable[[dict[str, Any]], Any] = lambda p: None):
    return resource(t.DB_CLUSTER, edited(cluster_props, edit), name="training-discovery")


def job(edit: Callable[[dict[str, Any]], Any] = lambda p: None):
    return resource(t.DB_JOB, edited(job_props, edit), name="days-to-sell-training")


def cluster_policy(edit: Callable[[dict[str, Any]], Any] = lambda d: None):
    return resource(
        t.DB_CLUSTER_POLICY,
        {"name": "training", "definition": json.dumps(edited(policy_definition, edit))},
        name="training-policy",
    )


@pytest.mark.parametrize("policy", db.POLICIES, ids=lambda p: p.name)
def test_a_policed_cluster_and_a_well_behaved_job_pass(policy):
    assert violations(policy, [cluster(), job(), cluster_policy()]) == []


@pytest.mark.parametrize(
    "policy, subject, expected",
    [
        (db.autotermination, cluster(lambda p: p.pop("autoterminationMinutes")), "unset"),
        (db.autotermination, cluster(lambda p: p.update(autoterminationMinutes=0)), "is 0"),
        (
            db.autotermination,
            cluster(lambda p: p.update(autoterminationMinutes=DEFAULT_MAX_AUTOTERMINATION_MINUTES + 1)),
            f"not within {MIN_AUTOTERMINATION_MINUTES}..{DEFAULT_MAX_AUTOTERMINATION_MINUTES}",
        ),
        (db.autotermination, cluster_policy(lambda d: d.pop("autotermination_minutes")), "autotermination_minutes"),
        (db.autotermination, cluster_policy(lambda d: d["autotermination_minutes"].pop("minValue")), "minValue"),
        (db.under_policy, cluster(lambda p: p.pop("policyId")), "cluster has no policyId"),
        (db.under_policy, job(lambda p: p["jobClusters"][0]["newCluster"].pop("policyId")), "job cluster 'training'"),
        (db.runtime_allowed, cluster(lambda p: p.update(sparkVersion="15.4.x-cpu-ml-scala2.12")), "not allow-listed"),
        (
            db.runtime_allowed,
            job(lambda p: p["jobClusters"][0]["newCluster"].update(sparkVersion="13.3.x-scala2.12")),
            "not allow-listed",
        ),
        (
            db.runtime_allowed,
            cluster(
                lambda p: p["libraries"][0]["maven"].update(coordinates="ml.combust.mleap:mleap-spark_2.13:0.24.0")
            ),
            "MLeap 0.24.0",
        ),
        (
            db.runtime_allowed,
            cluster_policy(lambda d: d["spark_version"].update(values=["16.4.x-cpu-ml-scala2.12"])),
            "not allow-listed",
        ),
        (db.runtime_allowed, cluster_policy(lambda d: d.pop("spark_version")), "'fixed' or an 'allowlist'"),
        (db.job_timeouts, job(lambda p: p["tasks"][1].pop("timeoutSeconds")), "['export_bundle']"),
        (db.job_retries, job(lambda p: p["tasks"][2].update(maxRetries=0)), "task 'train' retries 0 times"),
        (db.job_concurrency, job(lambda p: p.pop("maxConcurrentRuns")), "unset"),
        (db.job_concurrency, job(lambda p: p.update(maxConcurrentRuns=3)), "is 3"),
        (db.job_failure_notifications, job(lambda p: p.pop("emailNotifications")), "onFailures"),
        (db.job_tasks_sorted, job(lambda p: p["tasks"].reverse()), "sorted by task_key"),
    ],
)
def test_each_lapse_fails_its_policy(policy, subject, expected):
    found = violations(policy, subject)
    assert found and expected in found[0]


def test_a_job_timeout_covers_tasks_without_their_own():
    def job_level_timeout(p: dict[str, Any]) -> None:
        p["timeoutSeconds"] = 14400
        for each in p["tasks"]:
            each.pop("timeoutSeconds")

    assert violations(db.job_timeouts, job(job_level_timeout)) == []


def test_a_webhook_is_a_failure_notification_too():
    def webhook(p: dict[str, Any]) -> None:
        p.pop("emailNotifications")
        p["webhookNotifications"] = {"onFailures": [{"id": "pagerduty"}]}

    assert violations(db.job_failure_notifications, job(webhook)) == []


@pytest.mark.parametrize(
    "resources, config, expected",
    [
        ([cluster_policy(lambda d: d.pop("num_workers"))], {}, "does not cap"),
        ([cluster_policy(lambda d: d["autoscale.max_workers"].update(type="unlimited"))], {}, "does not cap"),
        ([cluster_policy()], {"maxWorkers": 4}, "allows 8 workers, above 4"),
        (
            [job(lambda p: p["jobClusters"][0]["newCluster"].update(numWorkers=2 * DEFAULT_MAX_WORKERS))],
            {},
            f"asks for {2 * DEFAULT_MAX_WORKERS} workers, above {DEFAULT_MAX_WORKERS}",
        ),
    ],
)
def test_uncapped_workers_fail(resources, config, expected):
    found = violations(db.workers_capped, resources, config)
    assert len(found) == 1 and expected in found[0]


def test_a_cluster_above_its_own_policy_cap_fails_when_the_engine_links_them():
    policy = cluster_policy()
    big = resource(
        t.DB_CLUSTER,
        {**cluster_props(), "autoscale": {"maxWorkers": 12}},
        name="big",
        dependencies={"policyId": [policy]},
    )
    found = violations(db.workers_capped, [policy, big])
    assert found == ["big: cluster asks for 12 workers, above its policy's 8"]


# --------------------------------------------------------------------------- runtime allow-list = config validation


def shipped_settings(environment: str, policy: str) -> dict[str, Any]:
    entry = json.loads((PACK / f"{environment}.json").read_text()).get(policy, {})
    return entry if isinstance(entry, dict) else {}


@pytest.mark.parametrize(
    "runtime, mleap",
    [
        ("13.3.x-cpu-ml-scala2.12", "0.23.0"),
        ("13.3.x-gpu-ml-scala2.12", "0.23.1"),
        ("12.2.x-cpu-ml-scala2.12", "0.22.0"),
        ("11.3.x-cpu-ml-scala2.12", "0.22.0"),
        ("10.4.x-cpu-ml-scala2.12", "0.21.1"),
    ],
)
@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_a_runtime_the_stack_config_accepts_passes_the_shipped_policy_configs(environment, runtime, mleap):
    assert check_runtime_mleap_pair(runtime, mleap) is None  # what infra.config validates databricks.* with
    libraries = [
        {"maven": {"coordinates": mleap_spark_coordinates(runtime, mleap)}},
        {"pypi": {"package": mleap_python_requirement(mleap)}},
    ]
    spec = cluster(lambda p: p.update(sparkVersion=runtime, libraries=libraries))
    policy = cluster_policy(lambda d: d["spark_version"].update(values=[runtime]))
    assert violations(db.runtime_allowed, [spec, policy], shipped_settings(environment, db.runtime_allowed.name)) == []


@pytest.mark.parametrize("runtime", ["14.3.x-cpu-ml-scala2.12", "13.3.x-scala2.12", "13.3.x-cpu-ml-scala2.13"])
def test_a_runtime_the_stack_config_refuses_is_not_allow_listed_by_default(runtime):
    assert all(check_runtime_mleap_pair(runtime, m) for m in MLEAP_RELEASES)
    found = violations(db.runtime_allowed, cluster(lambda p: p.update(sparkVersion=runtime, libraries=[])))
    assert found and "not allow-listed" in found[0]


def test_a_policy_config_may_narrow_the_allow_list_deliberately():
    older = cluster(lambda p: p.update(sparkVersion="12.2.x-cpu-ml-scala2.12", libraries=[]))
    assert violations(db.runtime_allowed, older) == []
    found = violations(db.runtime_allowed, older, {"allowedRuntimes": ["13.3.x-cpu-ml-scala2.12"]})
    assert found == ["cluster: runtime '12.2.x-cpu-ml-scala2.12' is not allow-listed (13.3.x-cpu-ml-scala2.12)"]
