"""Training on Databricks, planned offline: policy, instance profile, discovery cluster, one job per model."""

from __future__ import annotations

import fnmatch
import json

import pytest

from infra.documents.databricks import ClusterPolicyLimits, cluster_policy_definition
from infra.config import PLATFORM_TASK_PARAMETERS, ConfigError
from infra.contract.layout import RUN_VERSION, run_keys
from modelctl.diff import diff_plans
from modelctl.engine import UNKNOWN_PLACEHOLDER, Plan, PlannedResource
from tests.conftest import QUARTZ_SCHEDULE, del_path, parse_doc, plan_doc, plan_fixture, release_edits, set_path, stack_doc, with_models
from tests.dags.declared import TWO_MODELS
from tests.document_reading import as_list

JOB = "databricks:index/job:Job"
CLUSTER = "databricks:index/cluster:Cluster"
POLICY = "databricks:index/clusterPolicy:ClusterPolicy"
PERMISSIONS = "databricks:index/permissions:Permissions"
DB_PROFILE = "databricks:index/instanceProfile:InstanceProfile"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
TRAINING = "model-platform:training:Training"
DB = "model-platform:databricks"
MODELS = "model-platform:models"

#: The steps in the order they must run (the model path contract).
RUN_ORDER = ["prepare_data", "validate_data", "train", "export_bundle", "check_bundle"]
#: The days-to-sell example stacks' own task parameters (strings, documented by the training package).
EXAMPLE_PARAMETERS = {
    "data-source": "synthetic",
    "rows": "40000",
    "seed": "7",
    "min-rows": "10000",
    "max-rmse": "12.0",
    "max-drift": "0.2",
}


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


#: A release of days-to-sell: a new served version and digest, nothing else (the same edit as test_serving's).
RELEASED = release_edits("days-to-sell")
#: Every staging edit a test reads back from one job, role or cluster, in one stack planned once (``plan_fixture``).
#: The package is outside S3 (dbfs:/), a wheel still.
EDITED = {
    f"{MODELS}.days-to-sell.training.timeoutMinutes": 45,
    f"{MODELS}.days-to-sell.training.maxRetries": 3,
    f"{MODELS}.days-to-sell.training.parameters": {**EXAMPLE_PARAMETERS, "lookback-days": "90"},
    f"{MODELS}.days-to-sell.training.package": "dbfs:/FileStore/wheels/days_to_sell-{packageVersion}-py3-none-any.whl",
    f"{MODELS}.days-to-sell.training.schedule": QUARTZ_SCHEDULE,
    f"{DB}.crossAccountRoleName": "databricks-cross-account",
    f"{DB}.discoveryCluster.singleUserName": "ana@example.com",
}
#: prod's edits: the discovery cluster on, and the job on its own paused Quartz schedule.
PROD_EDITED = {
    f"{DB}.discoveryCluster.enabled": True,
    f"{MODELS}.days-to-sell.training.schedule": {**QUARTZ_SCHEDULE, "paused": True},
}


released = plan_fixture("staging", RELEASED)
edited = plan_fixture("staging", EDITED)
prod_edited = plan_fixture("prod", PROD_EDITED)
two_models_plan = plan_fixture("staging", models=TWO_MODELS)


def expected_parameters(bucket: str, model: str) -> dict[str, str]:
    """What every task of ``model``'s job gets: the example's own parameters, then the platform's for the run."""
    return {
        **EXAMPLE_PARAMETERS,
        "model": model,
        "version": "{{job.start_time.iso_date}}-{{job.run_id}}",
        "work-uri": f"s3://{bucket}/_work/{model}/{RUN_VERSION}/",
        "bundle-uri": f"s3://{bucket}/{model}/{RUN_VERSION}/bundle.zip",
        "samples-uri": f"s3://{bucket}/{model}/{RUN_VERSION}/samples.json",
        "metrics-uri": f"s3://{bucket}/{model}/{RUN_VERSION}/metrics.json",
        "stats-uri": f"s3://{bucket}/{model}/{RUN_VERSION}/stats.json",
        "digest-uri": f"s3://{bucket}/{model}/{RUN_VERSION}/bundle.zip.sha256",
        "released-uri": f"s3://{bucket}/{model}/released.json",
    }


# --------------------------------------------------------------------------- jobs


def test_one_job_per_model_and_its_id_is_exported(two_models_plan):
    plan = two_models_plan
    assert sorted(j.inputs["tags"]["model"] for j in plan.by_type(JOB)) == ["days-to-sell", "price-band"]
    names = {j.inputs["name"] for j in plan.by_type(JOB)}
    assert len(names) == 2 and all(n.startswith("model-platform-staging-") for n in names)
    assert sorted(plan.outputs["trainingJobIds"]) == ["days-to-sell", "price-band"]
    # Databricks assigns a job's id when it creates the job: a plan of a new stack cannot know it.
    assert set(plan.outputs["trainingJobIds"].values()) == {UNKNOWN_PLACEHOLDER}


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


def test_every_task_has_its_own_compute_timeout_and_retries(edited):
    job = job_of(edited, "days-to-sell")
    (cluster,) = job.inputs["jobClusters"]
    for task in job.inputs["tasks"]:
        assert task["jobClusterKey"] == cluster["jobClusterKey"], "compute is not inherited by tasks (#847)"
        assert task["timeoutSeconds"] == 45 * 60
        assert task["maxRetries"] == 3
        assert task["minRetryIntervalMillis"] > 0


def test_tasks_install_the_package_at_its_package_version_and_the_stack_mleap(real_plan):
    doc = stack_doc("staging")
    db, model = config(doc, "databricks"), config(doc, "models")["days-to-sell"]
    package = model["training"]["package"].replace("{packageVersion}", model["training"]["packageVersion"])
    for task in job_of(real_plan("staging"), "days-to-sell").inputs["tasks"]:
        libraries = task["libraries"]
        assert {"whl": package} in libraries
        assert {"pypi": {"package": f"mleap=={db['mleapVersion']}"}} in libraries
        maven = [lib["maven"]["coordinates"] for lib in libraries if "maven" in lib]
        assert maven == [f"ml.combust.mleap:mleap-spark_2.12:{db['mleapVersion']}"]
        wheel = task["pythonWheelTask"]
        assert wheel["packageName"] == "days_to_sell"
        assert wheel["entryPoint"] == task["taskKey"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_task_gets_the_contracts_parameters_for_the_runs_own_version(real_plan, stack):
    plan = real_plan(stack)
    keys = run_keys("days-to-sell")
    bucket = plan.outputs["bucketName"]
    expected = expected_parameters(bucket, "days-to-sell")
    assert tuple(expected) == (*EXAMPLE_PARAMETERS, *PLATFORM_TASK_PARAMETERS)
    assert expected["bundle-uri"] == keys.uri(bucket, keys.bundle)
    for task in job_of(plan, "days-to-sell").inputs["tasks"]:
        assert task["pythonWheelTask"]["namedParameters"] == expected, task["taskKey"]


def test_the_served_version_never_reaches_the_job(released):
    served = RELEASED[f"{MODELS}.days-to-sell.version"]
    assert served not in json.dumps(job_of(released, "days-to-sell").inputs)


def test_extra_parameters_reach_every_task(edited):
    for task in job_of(edited, "days-to-sell").inputs["tasks"]:
        assert task["pythonWheelTask"]["namedParameters"]["lookback-days"] == "90"


@pytest.mark.parametrize("name", PLATFORM_TASK_PARAMETERS)
def test_extra_parameters_cannot_replace_the_platform_ones(name):
    clash = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.parameters", {name: "s3://elsewhere"})
    (problem,) = config_problems(clash)
    assert problem.startswith("stacks/Pulumi.staging.yaml: model-platform:models.days-to-sell.training.parameters: ")
    assert f"{name!r} is set by the platform" in problem


def test_a_number_as_a_parameter_value_says_quote_it():
    doc = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.parameters.rows", 40000)
    (problem,) = config_problems(doc)
    assert "training.parameters.rows: 40000 was read by YAML as a number, not text: quote it" in problem


def test_a_jar_package_runs_its_main_class_with_the_step_and_the_same_parameters(three_packages_plans):
    """car-valuation's package is a jar (``three_packages``): its tasks get, as arguments, the parameters a wheel's
    tasks get as named parameters (test_every_task_gets_the_contracts_parameters_for_the_runs_own_version)."""
    plan = three_packages_plans[0]
    package_version = config(three_packages(), "models")["car-valuation"]["training"]["packageVersion"]
    wheel_params = expected_parameters(plan.outputs["bucketName"], "car-valuation")
    for task in job_of(plan, "car-valuation").inputs["tasks"]:
        assert "pythonWheelTask" not in task
        jar_task = task["sparkJarTask"]
        assert jar_task["mainClassName"] == JAR_MAIN_CLASS
        args = jar_task["parameters"]
        assert args[0] == task["taskKey"]
        assert sorted(args[1:]) == sorted(f"--{name}={value}" for name, value in wheel_params.items())
        assert {"jar": PACKAGES["car-valuation"].replace("{packageVersion}", package_version)} in task["libraries"]
        assert not [lib for lib in task["libraries"] if "pypi" in lib or "whl" in lib]


def test_a_jar_without_its_main_class_is_refused():
    doc = set_path(stack_doc("staging"), f"{MODELS}.days-to-sell.training.package", "s3://artifacts/dts-{packageVersion}.jar")
    assert config_problems(doc) == [
        "stacks/Pulumi.staging.yaml: model-platform:models.days-to-sell.training.packageName: "
        "is required for a jar: the main class the tasks run"
    ]


def test_a_version_bump_changes_no_training_resource(real_plan, released):
    diff = diff_plans(real_plan("staging"), released)
    assert diff.changed, "the release changes the served version"
    assert not [c.key for c in diff.changed if TRAINING in c.key]
    assert not diff.added and not diff.removed


def test_a_package_version_bump_changes_only_that_jobs_libraries(three_packages_plans):
    """Of the stack, with three models of three kinds of package: days-to-sell's bumped wheel, nothing else."""
    before, bumped = three_packages_plans
    diff = diff_plans(before, bumped)
    assert not diff.added and not diff.removed and not diff.outputs
    assert [(c.type, c.name) for c in diff.changed] == [(JOB, job_of(before, "days-to-sell").name)]
    changes = diff.changed[0].properties
    assert len(changes) == len(RUN_ORDER), "one library per task"
    for change in changes:
        assert change.path.startswith("tasks[") and change.path.endswith(".libraries[0].whl"), change.path
        assert change.old.endswith("days_to_sell-1.4.0-py3-none-any.whl")
        assert change.new.endswith(f"days_to_sell-{BUMPED_PACKAGE_VERSION}-py3-none-any.whl")


def test_adding_a_model_adds_its_job_and_changes_no_other_training_resource(real_plan, two_models_plan):
    before = real_plan("staging")
    after = two_models_plan
    diff = diff_plans(before, after)
    assert not [c for c in diff.changed if TRAINING in c.key]
    assert not [r for r in diff.removed if TRAINING in r.urn]
    added_jobs = [r for r in diff.added if r.type == JOB]
    assert [j.inputs["tags"]["model"] for j in added_jobs] == ["price-band"]


def test_airflow_schedules_by_default_so_the_job_has_no_schedule(real_plan):
    assert "schedule" not in job_of(real_plan("staging"), "days-to-sell").inputs, "staging has no schedule at all"
    prod_schedule = config(stack_doc("prod"), "models")["days-to-sell"]["training"]["schedule"]
    assert prod_schedule.get("runBy", "airflow") == "airflow"
    assert "schedule" not in job_of(real_plan("prod"), "days-to-sell").inputs, "one scheduler: Airflow, never both"


def test_with_run_by_databricks_the_job_gets_the_quartz_schedule(edited, prod_edited):
    assert job_of(edited, "days-to-sell").inputs["schedule"] == {
        "quartzCronExpression": "0 0 3 * * ?",
        "timezoneId": "Europe/London",
        "pauseStatus": "UNPAUSED",
    }
    assert job_of(prod_edited, "days-to-sell").inputs["schedule"] == {
        "quartzCronExpression": "0 0 3 * * ?",
        "timezoneId": "Europe/London",
        "pauseStatus": "PAUSED",
    }


@pytest.mark.parametrize(
    "schedule, message",
    [
        (
            {"cron": "0 0 3 * * ?"},
            "'0 0 3 * * ?' is not a 5-field cron expression (minute hour day-of-month month day-of-week, e.g. '0 3 * * *'), "
            "which Airflow schedules with (runBy: airflow, the default) (it looks like a Quartz expression: set runBy: "
            "databricks to keep it)",
        ),
        (
            {"runBy": "databricks", "cron": "0 3 * * *"},
            "'0 3 * * *' is not a Quartz cron expression (6 or 7 fields: second minute hour day-of-month month "
            "day-of-week [year], e.g. '0 0 3 * * ?'), which Databricks schedules with (runBy: databricks) (it looks "
            "like a 5-field Unix cron: use it with runBy: airflow)",
        ),
    ],
)
def test_a_cron_of_the_wrong_form_for_its_scheduler_is_refused_saying_which_form(schedule, message):
    doc = set_path(stack_doc("prod"), f"{MODELS}.days-to-sell.training.schedule", schedule)
    assert config_problems(doc, "prod") == [
        f"stacks/Pulumi.prod.yaml: model-platform:models.days-to-sell.training.schedule.cron: {message}"
    ]


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


def test_the_policy_attaches_the_definition_built_from_the_stack_and_lets_the_team_use_it(real_plan):
    """The definition's rules are tested on the document (tests/documents/test_databricks_documents.py); here, that the
    policy carries it with the stack's runtime, node types, limits and tags."""
    doc = stack_doc("prod")
    db = config(doc, "databricks")
    (policy,) = real_plan("prod").by_type(POLICY)
    tags = {**config(doc, "tags"), "project": "model-platform", "environment": "prod", "managed-by": "pulumi"}
    expected = cluster_policy_definition(
        ClusterPolicyLimits(
            spark_version=db["sparkVersion"],
            node_types=tuple(db["nodeTypes"]),
            default_node_type=db["nodeTypes"][0],
            driver_node_type=db.get("driverNodeType", db["nodeTypes"][0]),
            max_workers=db["clusterPolicy"]["maxWorkers"],
            autotermination_minutes=db["clusterPolicy"]["autoterminationMinutes"],
            custom_tags=tags,
        )
    )
    assert json.loads(policy.inputs["definition"]) == expected
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
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert (trust["Effect"], trust["Principal"], trust["Action"]) == ("Allow", {"Service": "ec2.amazonaws.com"}, "sts:AssumeRole")
    (attachment,) = [r for r in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if TRAINING in r.urn]
    assert attachment.inputs["role"] == role.inputs["name"]
    assert attachment.inputs["policyArn"] == plan.outputs["writerPolicyArn"]
    (profile,) = [r for r in plan.by_type("aws:iam/instanceProfile:InstanceProfile") if TRAINING in r.urn]
    assert profile.inputs["role"] == role.inputs["name"]
    (registration,) = plan.by_type(DB_PROFILE)
    assert registration.inputs["instanceProfileArn"].endswith(f":instance-profile/{profile.inputs['name']}")
    grants = role_grants(plan)
    assert sorted(grants) == ["read-training-packages", "writer"], "the role holds the writer and package policies, nothing else"


def test_cross_account_role_may_pass_the_training_role_when_named(real_plan, edited):
    passes = [r for r in real_plan("staging").by_type(ROLE_POLICY) if "iam:PassRole" in r.inputs["policy"]]
    assert passes == [], "no cross-account role named, no grant"
    plan = edited
    (grant,) = [r for r in plan.by_type(ROLE_POLICY) if r.inputs["role"] == "databricks-cross-account"]
    (statement,) = json.loads(grant.inputs["policy"])["Statement"]
    assert statement["Action"] == "iam:PassRole"
    (role,) = [r for r in plan.by_type("aws:iam/role:Role") if TRAINING in r.urn]
    assert statement["Resource"].endswith(f":role/{role.inputs['name']}")
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def role_grants(plan: Plan) -> dict[str, dict]:
    """Every permission document of the training role: attached managed policies and inline ones, by name."""
    (role,) = [r for r in plan.by_type(ROLE) if TRAINING in r.urn]
    assert not role.inputs.get("managedPolicyArns") and not role.inputs.get("inlinePolicies")
    managed = {r.inputs["name"]: r for r in plan.by_type(MANAGED_POLICY)}
    grants = {}
    for attachment in plan.by_type(ATTACHMENT):
        if attachment.inputs["role"] == role.inputs["name"]:
            policy = managed[attachment.inputs["policyArn"].rsplit(":policy/", 1)[1]]
            assert attachment.inputs["policyArn"] == plan.outputs["writerPolicyArn"]
            grants["writer"] = json.loads(policy.inputs["policy"])
    for inline in plan.by_type(ROLE_POLICY):
        if inline.inputs["role"] == role.inputs["name"]:
            grants[inline.inputs["name"]] = json.loads(inline.inputs["policy"])
    return grants


def role_may(grants: dict[str, dict], action: str, arn: str) -> bool:
    """Does an unconditional Allow of any of the role's documents grant ``action`` on ``arn``? (IAM wildcards via fnmatch.)"""
    return any(
        s["Effect"] == "Allow"
        and "Condition" not in s
        and action in as_list(s["Action"])
        and any(fnmatch.fnmatchcase(arn, pattern) for pattern in as_list(s.get("Resource", [])))
        for doc in grants.values()
        for s in doc["Statement"]
    )


def object_arn(uri: str) -> str:
    return "arn:aws:s3:::" + uri.removeprefix("s3://")


def library_uris(job: PlannedResource) -> set[str]:
    """The package files the job's tasks install (maven and pypi come from their repositories)."""
    return {lib[kind] for task in job.inputs["tasks"] for lib in task["libraries"] for kind in ("whl", "jar") if kind in lib}


#: Three models: a wheel and a jar in different buckets, and a wheel on DBFS (read by Databricks itself).
PACKAGES = {
    "days-to-sell": "s3://pricing-artifacts/days-to-sell/days_to_sell-{packageVersion}-py3-none-any.whl",
    "car-valuation": "s3://ml-jars/car-valuation/car-valuation-assembly-{packageVersion}.jar",
    "price-band": "dbfs:/FileStore/wheels/price_band-{packageVersion}-py3-none-any.whl",
}
JAR_MAIN_CLASS = "com.example.Main"
#: days-to-sell's package version after the bump (a pre-release: the grant's pattern must cover any version).
BUMPED_PACKAGE_VERSION = "2.0.0-rc.1"


def three_packages() -> dict:
    """Staging training ``PACKAGES``, with the discovery cluster turned off: the one test of these plans that looks
    at clusters is test_discovery_cluster_can_be_turned_on_in_prod_and_off_in_staging, which reads that."""
    doc = with_models(stack_doc("staging"), list(PACKAGES))
    for model, package in PACKAGES.items():
        set_path(doc, f"{MODELS}.{model}.training.package", package)
        if package.endswith(".jar"):
            set_path(doc, f"{MODELS}.{model}.training.packageName", JAR_MAIN_CLASS)
    return set_path(doc, f"{DB}.discoveryCluster.enabled", False)


@pytest.fixture(scope="module")
def three_packages_plans() -> tuple[Plan, Plan]:
    """``three_packages``, and the same with days-to-sell's package version bumped."""
    bumped = set_path(three_packages(), f"{MODELS}.days-to-sell.training.packageVersion", BUMPED_PACKAGE_VERSION)
    return plan_doc(three_packages(), "staging"), plan_doc(bumped, "staging")


def test_training_role_may_read_every_s3_library_of_every_job_and_nothing_more(three_packages_plans):
    plan = three_packages_plans[0]
    grants = role_grants(plan)
    uris = set().union(*(library_uris(job) for job in plan.by_type(JOB)))
    s3_uris = {u for u in uris if u.startswith("s3://")}
    assert len(s3_uris) == 2 and len(uris) == 3
    for uri in s3_uris:
        assert role_may(grants, "s3:GetObject", object_arn(uri)), f"the clusters could not install {uri}"
    # Nothing more: one get-only statement, one object pattern per s3 package, no neighbour readable.
    (statement,) = grants["read-training-packages"]["Statement"]
    assert as_list(statement["Action"]) == ["s3:GetObject"]
    assert len(as_list(statement["Resource"])) == 2
    for neighbour in (
        "s3://pricing-artifacts/days-to-sell/credentials.json",
        "s3://pricing-artifacts/days-to-sell/days_to_sell-1.4.0-py3-none-any.whl.sig",
        "s3://pricing-artifacts/other-model/days_to_sell-1.4.0-py3-none-any.whl",
        "s3://ml-jars/car-valuation/other-assembly-1.4.0.jar",
        "s3://ml-jars/other/car-valuation-assembly-1.4.0.jar",
    ):
        assert not role_may(grants, "s3:GetObject", object_arn(neighbour)), neighbour


def test_the_package_grant_covers_every_package_version_so_a_new_package_never_changes_iam(three_packages_plans):
    """The grant is built from the package's URI template (tests/documents/test_arns.py checks the pattern against any
    version): a package version bump changes the job's libraries, never the role's grants."""
    plan_before, plan = three_packages_plans
    before = role_grants(plan_before)
    assert role_grants(plan) == before
    (uri,) = [u for u in library_uris(job_of(plan, "days-to-sell")) if u.startswith("s3://")]
    assert BUMPED_PACKAGE_VERSION in uri and role_may(before, "s3:GetObject", object_arn(uri))


def test_packages_outside_s3_need_no_iam_grant(edited):
    (uri,) = library_uris(job_of(edited, "days-to-sell"))
    assert uri.startswith("dbfs:/")
    assert sorted(role_grants(edited)) == ["writer"]


# --------------------------------------------------------------------------- discovery cluster


def test_prod_has_no_discovery_cluster_by_default(real_plan):
    """The program declares the cluster exactly when ``discovery_cluster_enabled`` (prod's file says false: planned
    here); with the key unset, prod's config says false too."""
    plan = real_plan("prod")
    assert plan.by_type(CLUSTER) == []
    assert plan.outputs["discoveryClusterId"] is None
    doc = del_path(stack_doc("prod"), f"{DB}.discoveryCluster.enabled")
    assert parse_doc(doc, "prod").discovery_cluster_enabled is False


def test_discovery_cluster_can_be_turned_on_in_prod_and_off_in_staging(prod_edited, three_packages_plans):
    plan = prod_edited
    assert len(plan.by_type(CLUSTER)) == 1 and plan.outputs["discoveryClusterId"]
    # prod's policy allows at most 20 idle minutes; the default of 30 is capped to it.
    assert plan.by_type(CLUSTER)[0].inputs["autoterminationMinutes"] == 20
    off = three_packages_plans[0]  # staging with discoveryCluster.enabled: false
    assert off.by_type(CLUSTER) == [] and off.outputs["discoveryClusterId"] is None


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


def test_discovery_cluster_dedicated_to_a_user_when_configured(edited):
    (cluster,) = edited.by_type(CLUSTER)
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
