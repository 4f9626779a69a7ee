"""Training on Databricks, planned offline: policy, instance profile, discovery cluster, one job per model."""

from __future__ import annotations

import json

import pytest

from infra.config import ConfigError
from infra.layout import bundle_keys
from modelctl.diff import diff_plans
from modelctl.engine import Plan, PlannedResource
from tests.conftest import plan_doc, set_path, stack_doc, with_models

JOB = "databricks:index/job:Job"
CLUSTER = "databricks:index/cluster:Cluster"
POLICY = "databricks:index/clusterPolicy:ClusterPolicy"
PERMISSIONS = "databricks:index/permissions:Permissions"
DB_PROFILE = "databricks:index/instanceProfile:InstanceProfile"
TRAINING = "model-platform:training:Training"
DB = "model-platform:databricks"
MODELS = "model-platform:models"

#: The steps in the order they must run.
RUN_ORDER = ["validate_data", "train", "export_bundle", "check_bundle"]


def config(doc: dict, key: str) -> dict:
    return doc["config"][f"model-platform:{key}"]


def job_of(plan: Plan, model: str) -> PlannedResource:
    jobs = [j for j in plan.by_type(JOB) if j.inputs["tags"]["model"] == model]
    assert len(jobs) == 1, [j.name for j in plan.by_type(JOB)]
    return jobs[0]


def permissions_of(plan: Plan, type_: str, name: str) -> list[dict]:
    """Access controls declared beside a resource (the Permissions in the same component)."""
    resource = plan.get(type_, name)
    (perm,) = [r for r in plan.children(resource.parent) if r.type == PERMISSIONS]
    return perm.inputs["accessControls"]


def config_problems(doc: dict, stack: str = "staging") -> list[str]:
    with pytest.raises(ConfigError) as info:
        plan_doc(doc, stack)
    return str(info.value).splitlines()


def two_models() -> dict:
    return with_models(stack_doc("staging"), ["days-to-sell", "price-band"])


# --------------------------------------------------------------------------- jobs


def test_one_job_per_model_and_its_id_is_exported():
    doc = two_models()
    plan = plan_doc(doc, "staging")
    assert sorted(j.inputs["tags"]["model"] for j in plan.by_type(JOB)) == ["days-to-sell", "price-band"]
    names = {j.inputs["name"] for j in plan.by_type(JOB)}
    assert len(names) == 2 and all(n.startswith("model-platform-staging-") for n in names)
    assert sorted(plan.outputs["trainingJobIds"]) == ["days-to-sell", "price-band"]
    assert len(set(plan.outputs["trainingJobIds"].values())) == 2


def test_tasks_are_declared_sorted_and_run_in_pipeline_order(real_plan):
    job = job_of(real_plan("staging"), "days-to-sell")
    tasks = job.inputs["tasks"]
    keys = [t["taskKey"] for t in tasks]
    assert keys == sorted(keys), "pulumi-databricks diffs forever unless tasks are sorted by task_key"
    assert sorted(keys) == sorted(RUN_ORDER)
    upstream = {t["taskKey"]: [d["taskKey"] for d in t.get("dependsOns", [])] for t in tasks}
    order, done = [], set()
    while len(order) < len(upstream):
        ready = [k for k, deps in upstream.items() if k not in done and set(deps) <= done]
        assert len(ready) == 1, f"tasks must form one chain, got {ready} ready together"
        order += ready
        done.update(ready)
    assert order == RUN_ORDER


def test_every_task_has_its_own_compute_timeout_and_retries():
    doc = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.timeoutMinutes", 45)
    set_path(doc, f"{MODELS}.days-to-sell.training.maxRetries", 3)
    job = job_of(plan_doc(doc, "staging"), "days-to-sell")
    (cluster,) = job.inputs["jobClusters"]
    for task in job.inputs["tasks"]:
        assert task["jobClusterKey"] == cluster["jobClusterKey"], "compute is not inherited by tasks (#847)"
        assert task["timeoutSeconds"] == 45 * 60
        assert task["maxRetries"] == 3
        assert task["minRetryIntervalMillis"] > 0


def test_tasks_install_the_model_package_at_its_version_and_the_stack_mleap(real_plan):
    doc = stack_doc("staging")
    db, model = config(doc, "databricks"), config(doc, "models")["days-to-sell"]
    package = model["training"]["package"].replace("{version}", model["version"])
    for task in job_of(real_plan("staging"), "days-to-sell").inputs["tasks"]:
        libraries = task["libraries"]
        assert {"whl": package} in libraries
        assert {"pypi": {"package": f"mleap=={db['mleapVersion']}"}} in libraries
        maven = [lib["maven"]["coordinates"] for lib in libraries if "maven" in lib]
        assert maven == [f"ml.combust.mleap:mleap-spark_2.12:{db['mleapVersion']}"]
        wheel = task["pythonWheelTask"]
        assert wheel["packageName"] == "days_to_sell"
        assert wheel["entryPoint"] == task["taskKey"]


def test_parameters_carry_the_bundle_uri_of_the_shared_layout_and_the_version(real_plan):
    plan = real_plan("staging")
    version = config(stack_doc("staging"), "models")["days-to-sell"]["version"]
    keys = bundle_keys("days-to-sell", version)
    bucket = plan.outputs["bucketName"]
    for task in job_of(plan, "days-to-sell").inputs["tasks"]:
        params = task["pythonWheelTask"]["namedParameters"]
        assert params["bundle-uri"] == keys.uri(bucket)
        assert params["digest-uri"] == keys.uri(bucket, keys.digest)
        assert params["samples-uri"] == keys.uri(bucket, keys.samples)
        assert params["model-version"] == version
        assert params["model"] == "days-to-sell"


def test_extra_parameters_reach_every_task_but_cannot_replace_the_platform_ones():
    doc = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.parameters", {"lookback-days": "90"})
    for task in job_of(plan_doc(doc, "staging"), "days-to-sell").inputs["tasks"]:
        assert task["pythonWheelTask"]["namedParameters"]["lookback-days"] == "90"
    clash = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.parameters", {"bundle-uri": "s3://elsewhere"})
    (problem,) = config_problems(clash)
    assert problem.startswith("stacks/Pulumi.staging.yaml: model-platform:models.days-to-sell.training.parameters: ")
    assert "'bundle-uri' is set by the platform" in problem


def test_a_jar_package_runs_its_main_class_with_the_step_and_parameters():
    doc = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.package", "s3://artifacts/dts-{version}.jar")
    set_path(doc, f"{MODELS}.days-to-sell.training.packageName", "com.example.dts.Main")
    plan = plan_doc(doc, "staging")
    version = config(doc, "models")["days-to-sell"]["version"]
    bundle_uri = bundle_keys("days-to-sell", version).uri(plan.outputs["bucketName"])
    for task in job_of(plan, "days-to-sell").inputs["tasks"]:
        assert "pythonWheelTask" not in task
        jar_task = task["sparkJarTask"]
        assert jar_task["mainClassName"] == "com.example.dts.Main"
        args = jar_task["parameters"]
        assert args[0] == task["taskKey"]
        assert args[args.index("--bundle-uri") + 1] == bundle_uri
        assert args[args.index("--model-version") + 1] == version
        assert {"jar": f"s3://artifacts/dts-{version}.jar"} in task["libraries"]
        assert not [lib for lib in task["libraries"] if "pypi" in lib or "whl" in lib]


def test_a_jar_without_its_main_class_is_refused():
    doc = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.package", "s3://artifacts/dts-{version}.jar")
    assert config_problems(doc) == [
        "stacks/Pulumi.staging.yaml: model-platform:models.days-to-sell.training.packageName: "
        "is required for a jar: the main class the tasks run"
    ]


def test_a_version_bump_changes_only_that_jobs_libraries_and_parameters():
    before = plan_doc(two_models(), "staging")
    bumped = set_path(two_models(), f"{MODELS}.days-to-sell.version", "1.5.0")
    diff = diff_plans(before, plan_doc(bumped, "staging"))
    assert not diff.added and not diff.removed
    training = [c for c in diff.changed if TRAINING in c.key]
    assert [(c.type, c.name) for c in training] == [(JOB, job_of(before, "days-to-sell").name)]
    paths = [p.path for p in training[0].properties]
    for path in paths:
        assert path.startswith("tasks[") and (".libraries[" in path or ".pythonWheelTask.namedParameters." in path), path
    changed_values = {(p.old, p.new) for p in training[0].properties}
    assert ("1.4.0", "1.5.0") in changed_values
    assert any(old.endswith("1.4.0-py3-none-any.whl") and new.endswith("1.5.0-py3-none-any.whl") for old, new in changed_values)
    assert any(old.endswith("/1.4.0/bundle.zip") and new.endswith("/1.5.0/bundle.zip") for old, new in changed_values)


def test_adding_a_model_adds_its_job_and_changes_no_other_training_resource(real_plan):
    before = real_plan("staging")
    after = plan_doc(two_models(), "staging")
    diff = diff_plans(before, after)
    assert not [c for c in diff.changed if TRAINING in c.key]
    assert not [r for r in diff.removed if TRAINING in r.urn]
    added_jobs = [r for r in diff.added if r.type == JOB]
    assert [j.inputs["tags"]["model"] for j in added_jobs] == ["price-band"]


def test_schedule_comes_from_config_and_is_absent_when_airflow_triggers(real_plan):
    assert "schedule" not in job_of(real_plan("staging"), "days-to-sell").inputs
    prod_schedule = config(stack_doc("prod"), "models")["days-to-sell"]["training"]["schedule"]
    schedule = job_of(real_plan("prod"), "days-to-sell").inputs["schedule"]
    assert schedule == {
        "quartzCronExpression": prod_schedule["cron"],
        "timezoneId": prod_schedule["timezone"],
        "pauseStatus": "UNPAUSED",
    }
    paused = set_path(stack_doc("prod"), f"{MODELS}.days-to-sell.training.schedule.paused", True)
    assert job_of(plan_doc(paused, "prod"), "days-to-sell").inputs["schedule"]["pauseStatus"] == "PAUSED"


def test_an_unknown_schedule_timezone_is_refused():
    doc = set_path(stack_doc("prod"), f"{MODELS}.days-to-sell.training.schedule.timezone", "London")
    (problem,) = config_problems(doc, "prod")
    assert problem.startswith("stacks/Pulumi.prod.yaml: model-platform:models.days-to-sell.training.schedule.timezone: ")
    assert "'London' is not a timezone id" in problem


def test_one_run_at_a_time_failures_mailed_airflow_runs_team_views(real_plan):
    plan = real_plan("prod")
    db = config(stack_doc("prod"), "databricks")
    job = job_of(plan, "days-to-sell")
    assert job.inputs["maxConcurrentRuns"] == 1
    assert job.inputs["emailNotifications"]["onFailures"] == db["notificationEmails"]
    access = permissions_of(plan, JOB, job.name)
    assert {"servicePrincipalName": db["airflowServicePrincipal"], "permissionLevel": "CAN_MANAGE_RUN"} in access
    assert {"groupName": db["teamGroup"], "permissionLevel": "CAN_VIEW"} in access
    assert len(access) == 2


def test_job_cluster_is_under_the_policy_with_the_registered_instance_profile(real_plan):
    plan = real_plan("staging")
    (registration,) = plan.by_type(DB_PROFILE)
    new_cluster = job_of(plan, "days-to-sell").inputs["jobClusters"][0]["newCluster"]
    assert new_cluster["policyId"] == plan.outputs["clusterPolicyId"]
    assert new_cluster["awsAttributes"]["instanceProfileArn"] == registration.inputs["instanceProfileArn"]
    assert new_cluster["awsAttributes"]["firstOnDemand"] >= 1
    assert new_cluster["dataSecurityMode"] == "SINGLE_USER"
    assert new_cluster["numWorkers"] == config(stack_doc("staging"), "models")["days-to-sell"]["training"]["numWorkers"]
    assert new_cluster["customTags"]["model"] == "days-to-sell"


# --------------------------------------------------------------------------- policy and identity


def test_policy_limits_runtime_nodes_workers_autotermination_and_requires_tags(real_plan):
    doc = stack_doc("prod")
    db = config(doc, "databricks")
    (policy,) = real_plan("prod").by_type(POLICY)
    rules = json.loads(policy.inputs["definition"])
    assert rules["spark_version"]["values"] == [db["sparkVersion"]]
    assert rules["node_type_id"]["values"] == db["nodeTypes"]
    assert rules["driver_node_type_id"]["values"] == db["nodeTypes"]
    for key in ("num_workers", "autoscale.max_workers"):
        assert rules[key]["maxValue"] == db["clusterPolicy"]["maxWorkers"]
    autotermination = rules["autotermination_minutes"]
    assert autotermination["maxValue"] == db["clusterPolicy"]["autoterminationMinutes"]
    assert autotermination["minValue"] >= 10 and not autotermination.get("isOptional")
    for key, value in config(doc, "tags").items():
        assert rules[f"custom_tags.{key}"] == {"type": "fixed", "value": value}
    assert rules["custom_tags.environment"] == {"type": "fixed", "value": "prod"}
    access = permissions_of(real_plan("prod"), POLICY, policy.name)
    assert access == [{"groupName": db["teamGroup"], "permissionLevel": "CAN_USE"}]


def test_every_cluster_the_stack_declares_obeys_the_policy(real_plan):
    """The clusters would be rejected by Databricks otherwise: check them against the policy's own rules."""
    plan = real_plan("staging")
    (policy,) = plan.by_type(POLICY)
    rules = json.loads(policy.inputs["definition"])
    specs = [j.inputs["jobClusters"][0]["newCluster"] for j in plan.by_type(JOB)] + [c.inputs for c in plan.by_type(CLUSTER)]
    assert len(specs) == 2
    for spec in specs:
        assert spec["sparkVersion"] in rules["spark_version"]["values"]
        assert spec["nodeTypeId"] in rules["node_type_id"]["values"]
        assert spec["driverNodeTypeId"] in rules["driver_node_type_id"]["values"]
        workers = spec.get("numWorkers", spec.get("autoscale", {}).get("maxWorkers"))
        assert workers <= rules["num_workers"]["maxValue"]
        assert spec["awsAttributes"]["firstOnDemand"] >= rules["aws_attributes.first_on_demand"]["minValue"]
        for path, rule in rules.items():
            if path.startswith("custom_tags."):
                assert spec["customTags"][path.removeprefix("custom_tags.")] == rule["value"]
        if "autoterminationMinutes" in spec:
            limits = rules["autotermination_minutes"]
            assert limits["minValue"] <= spec["autoterminationMinutes"] <= limits["maxValue"]


def test_instance_profile_holds_the_writer_policy_and_is_registered(real_plan):
    plan = real_plan("staging")
    (role,) = [r for r in plan.by_type("aws:iam/role:Role") if TRAINING in r.urn]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    (attachment,) = [r for r in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if TRAINING in r.urn]
    assert attachment.inputs["role"] == role.inputs["name"]
    assert attachment.inputs["policyArn"] == plan.outputs["writerPolicyArn"]
    (profile,) = [r for r in plan.by_type("aws:iam/instanceProfile:InstanceProfile") if TRAINING in r.urn]
    assert profile.inputs["role"] == role.inputs["name"]
    (registration,) = plan.by_type(DB_PROFILE)
    assert registration.inputs["instanceProfileArn"].endswith(f":instance-profile/{profile.inputs['name']}")
    assert not [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if TRAINING in r.urn]


def test_cross_account_role_may_pass_the_training_role_when_named():
    doc = set_path(stack_doc("staging"), f"{DB}.crossAccountRoleName", "databricks-cross-account")
    plan = plan_doc(doc, "staging")
    (grant,) = [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if TRAINING in r.urn]
    assert grant.inputs["role"] == "databricks-cross-account"
    statement = json.loads(grant.inputs["policy"])["Statement"][0]
    assert statement["Action"] == "iam:PassRole"
    (role,) = [r for r in plan.by_type("aws:iam/role:Role") if TRAINING in r.urn]
    assert statement["Resource"].endswith(f":role/{role.inputs['name']}")


# --------------------------------------------------------------------------- discovery cluster


def test_prod_has_no_discovery_cluster_by_default(real_plan):
    plan = real_plan("prod")
    assert plan.by_type(CLUSTER) == []
    assert plan.outputs["discoveryClusterId"] is None
    doc = stack_doc("prod")
    del config(doc, "databricks")["discoveryCluster"]["enabled"]
    assert plan_doc(doc, "prod").by_type(CLUSTER) == []


def test_discovery_cluster_can_be_turned_on_in_prod_and_off_in_staging():
    on = set_path(stack_doc("prod"), f"{DB}.discoveryCluster.enabled", True)
    plan = plan_doc(on, "prod")
    assert len(plan.by_type(CLUSTER)) == 1 and plan.outputs["discoveryClusterId"]
    # prod's policy allows at most 20 idle minutes; the default of 30 is capped to it.
    assert plan.by_type(CLUSTER)[0].inputs["autoterminationMinutes"] == 20
    off = set_path(stack_doc("staging"), f"{DB}.discoveryCluster.enabled", False)
    assert plan_doc(off, "staging").by_type(CLUSTER) == []


def test_discovery_cluster_autoscales_autoterminates_on_spot_workers_under_the_policy(real_plan):
    plan = real_plan("staging")
    discovery = config(stack_doc("staging"), "databricks")["discoveryCluster"]
    (cluster,) = plan.by_type(CLUSTER)
    spec = cluster.inputs
    assert spec["policyId"] == plan.outputs["clusterPolicyId"]
    assert spec["autoscale"] == {"minWorkers": discovery["minWorkers"], "maxWorkers": discovery["maxWorkers"]}
    assert spec["autoterminationMinutes"] == discovery["autoterminationMinutes"]
    assert spec["awsAttributes"]["availability"] == "SPOT_WITH_FALLBACK"
    assert spec["awsAttributes"]["firstOnDemand"] == 1, "the driver must be on-demand"
    (registration,) = plan.by_type(DB_PROFILE)
    assert spec["awsAttributes"]["instanceProfileArn"] == registration.inputs["instanceProfileArn"]
    assert spec["customTags"]["environment"] == "staging"
    assert plan.outputs["discoveryClusterId"]
    access = permissions_of(plan, CLUSTER, cluster.name)
    assert access == [{"groupName": config(stack_doc("staging"), "databricks")["teamGroup"], "permissionLevel": "CAN_RESTART"}]


def test_discovery_cluster_dedicated_to_a_user_when_configured():
    doc = set_path(stack_doc("staging"), f"{DB}.discoveryCluster.singleUserName", "ana@example.com")
    (cluster,) = plan_doc(doc, "staging").by_type(CLUSTER)
    assert cluster.inputs["dataSecurityMode"] == "SINGLE_USER"
    assert cluster.inputs["singleUserName"] == "ana@example.com"


@pytest.mark.parametrize(
    "minutes,expected",
    [
        (5, "model-platform:databricks.discoveryCluster.autoterminationMinutes: 5: Input should be greater than or equal to 10"),
        (10001, "model-platform:databricks.discoveryCluster.autoterminationMinutes: 10001: Input should be less than or equal to 10000"),
        (
            45,
            "model-platform:databricks.discoveryCluster.autoterminationMinutes: 45 is greater than "
            "clusterPolicy.autoterminationMinutes (30), the longest the policy allows",
        ),
    ],
)
def test_out_of_range_autotermination_is_refused(minutes, expected):
    doc = set_path(stack_doc("staging"), f"{DB}.discoveryCluster.autoterminationMinutes", minutes)
    problems = config_problems(doc)
    assert len(problems) == 1
    assert problems[0].startswith(f"stacks/Pulumi.staging.yaml: {expected}"), problems


def test_policy_autotermination_out_of_range_is_refused():
    doc = set_path(stack_doc("prod"), f"{DB}.clusterPolicy.autoterminationMinutes", 9)
    (problem,) = config_problems(doc, "prod")
    assert problem.startswith("stacks/Pulumi.prod.yaml: model-platform:databricks.clusterPolicy.autoterminationMinutes: ")
