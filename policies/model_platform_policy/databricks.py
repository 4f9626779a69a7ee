"""Databricks: clusters stop when idle, live under a policy with capped workers, run an MLeap-capable
allow-listed runtime; training jobs time out, retry, never pile up, report failures and keep tasks sorted.

A "cluster spec" is an all-purpose ``Cluster`` or the ``newCluster`` of a
job cluster or task: the rules judge them alike. The runtime/MLeap matrix is
``infra.contract.mleap_compat``, the same table the stack config is validated with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator, Optional

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from infra.contract.limits import (
    DEFAULT_MAX_AUTOTERMINATION_MINUTES,
    DEFAULT_MAX_WORKERS,
    DEFAULT_MIN_TASK_RETRIES,
    MAX_CONCURRENT_TRAINING_RUNS,
    MIN_AUTOTERMINATION_MINUTES,
)
from infra.contract.mleap_compat import (
    DATABRICKS_RUNTIMES,
    LAST_MLEAP_RUNTIME,
    MLEAP_RELEASES,
    MleapLibrary,
    check_runtime_mleap_pair,
    parse_mleap_jar,
    parse_mleap_wheel,
    parse_runtime,
)
from model_platform_policy import types as t
from model_platform_policy.rules import (
    Config,
    count,
    resource_policy,
    stack_policy,
    strings,
)
from model_platform_policy.stack_keys import key_hint, model_hint
from model_platform_policy.values import (
    get,
    items,
    json_document,
    known,
    mapping,
    number,
    show,
)

#: The newest runtime open-source MLeap supports (``13.3``), and the MLeap line it exports with (``0.23``).
_LAST = ".".join(map(str, LAST_MLEAP_RUNTIME))
_LAST_LINE = max(
    (line for line, spark in MLEAP_RELEASES.items() if spark == DATABRICKS_RUNTIMES[_LAST]),
    key=lambda line: tuple(map(int, line.split("."))),
)


def cluster_specs(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(label, spec)`` of every cluster a Cluster or Job declares."""
    if resource_type == t.DB_CLUSTER:
        yield "cluster", props
    elif resource_type == t.DB_JOB:
        for jc in items(get(props, "jobClusters")):
            if get(jc, "newCluster"):
                yield f"job cluster {get(jc, 'jobClusterKey', default='?')!r}", mapping(get(jc, "newCluster"))
        for task in items(get(props, "tasks")):
            if get(task, "newCluster"):
                yield f"task {get(task, 'taskKey', default='?')!r} cluster", mapping(get(task, "newCluster"))


def max_workers(spec: Mapping[str, Any]) -> Optional[float]:
    return number(get(spec, "autoscale", "maxWorkers", default=get(spec, "numWorkers", default=0)))


def policy_definition(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(json_document(get(props, "definition")))


# --------------------------------------------------------------------------- autotermination


def _autotermination(args: ResourceValidationArgs, report: ReportViolation, config: Config) -> None:
    low, high = config["minMinutes"], config["maxMinutes"]
    if args.resource_type == t.DB_CLUSTER:
        minutes = number(get(args.props, "autoterminationMinutes"))
        if minutes is None or not low <= minutes <= high:
            report(
                f"autoterminationMinutes is {show(minutes)}, not within {show(low)}..{show(high)}"
                + key_hint(args.props, "databricks.discoveryCluster.autoterminationMinutes")
            )
        return
    rule = mapping(get(policy_definition(args.props), "autotermination_minutes"))
    kind = get(rule, "type")
    limit = (
        number(get(rule, "value")) if kind == "fixed" else number(get(rule, "maxValue")) if kind == "range" else None
    )
    if limit is None or not low <= limit <= high or (kind == "range" and not number(get(rule, "minValue"))):
        report(
            f"definition.autotermination_minutes must be 'fixed' or a 'range' with minValue >= 1 and maxValue within "
            f"{show(low)}..{show(high)} (found {dict(rule) or 'nothing'})"
            + key_hint(args.props, "databricks.clusterPolicy.autoterminationMinutes")
        )


autotermination = resource_policy(
    "databricks-autotermination",
    "Every all-purpose cluster stops when idle, within the environment's bounds, and every cluster policy enforces "
    "it (a policy without autotermination lets users create clusters that never stop). Fix: set "
    "autotermination_minutes on the cluster (stack file: databricks.discoveryCluster.autoterminationMinutes) and an "
    "'autotermination_minutes' range or fixed value in the cluster policy definition (stack file: "
    "databricks.clusterPolicy.autoterminationMinutes, its maximum and default).",
    _autotermination,
    types=[t.DB_CLUSTER, t.DB_CLUSTER_POLICY],
    hints=["databricks.discoveryCluster.autoterminationMinutes", "databricks.clusterPolicy.autoterminationMinutes"],
    settings=[
        count(
            "minMinutes",
            MIN_AUTOTERMINATION_MINUTES,
            f"Shortest autotermination allowed (Databricks' own minimum is {MIN_AUTOTERMINATION_MINUTES}).",
            minimum=1,
        ),
        count(
            "maxMinutes",
            DEFAULT_MAX_AUTOTERMINATION_MINUTES,
            "Longest autotermination allowed.",
            minimum=MIN_AUTOTERMINATION_MINUTES,
        ),
    ],
)


# --------------------------------------------------------------------------- under a policy


def _under_policy(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    for label, spec in cluster_specs(args.resource_type, args.props):
        # Unknown during preview: the id of a policy created in the same update, which is set.
        if not known(lambda: get(spec, "policyId")):
            report(f"{label} has no policyId")


under_policy = resource_policy(
    "databricks-cluster-under-policy",
    "Every cluster (all-purpose, job cluster or task cluster) is created under a cluster policy, which fixes the "
    "node types, runtimes, autotermination and worker cap the team agreed on. Fix: set policy_id (and "
    "apply_policy_default_values) to the stack's ClusterPolicy id.",
    _under_policy,
    types=[t.DB_CLUSTER, t.DB_JOB],
)


# --------------------------------------------------------------------------- workers capped


def policy_worker_cap(definition: Mapping[str, Any]) -> Optional[float]:
    """The most workers a policy allows, or None when it leaves num_workers or autoscale.max_workers uncapped."""
    caps = []
    for attribute in ("num_workers", "autoscale.max_workers"):
        rule = mapping(get(definition, attribute))
        kind = get(rule, "type")
        cap = (
            number(get(rule, "value"))
            if kind == "fixed"
            else number(get(rule, "maxValue"))
            if kind == "range"
            else None
        )
        if cap is None:
            return None
        caps.append(cap)
    return max(caps)


def _policy_of(
    spec: Mapping[str, Any], owner: PolicyResource, policies: list[PolicyResource]
) -> Optional[PolicyResource]:
    """The stack's ClusterPolicy a spec names, when the engine tells (a dependency of ``policyId``)."""
    dependencies = {d.urn for deps in owner.property_dependencies.values() for d in deps}
    linked = [p for p in policies if p.urn in dependencies]
    return linked[0] if len(linked) == 1 and known(lambda: get(spec, "policyId")) else None


def _workers_hint(owner: PolicyResource) -> str:
    """The key behind a cluster's worker count: a job's (per model) or the discovery cluster's."""
    if owner.resource_type == t.DB_JOB:
        return model_hint(owner.props, "training.numWorkers")
    return key_hint(owner.props, "databricks.discoveryCluster.maxWorkers")


def _workers_capped(args: StackValidationArgs, report: ReportViolation, config: Config) -> None:
    ceiling = config["maxWorkers"]
    policies = [r for r in args.resources if r.resource_type == t.DB_CLUSTER_POLICY]
    for policy in policies:
        cap = policy_worker_cap(policy_definition(policy.props))
        fix = key_hint(policy.props, "databricks.clusterPolicy.maxWorkers")
        if cap is None:
            report(f"cluster policy {policy.name!r} does not cap num_workers and autoscale.max_workers{fix}", policy.urn)
        elif cap > ceiling:
            report(f"cluster policy {policy.name!r} allows {show(cap)} workers, above {show(ceiling)}{fix}", policy.urn)
    for owner in args.resources:
        for label, spec in cluster_specs(owner.resource_type, owner.props):
            workers = max_workers(spec) or 0
            policy = _policy_of(spec, owner, policies)
            cap = policy_worker_cap(policy_definition(policy.props)) if policy else None
            fix = _workers_hint(owner)
            if workers > ceiling:
                report(f"{owner.name}: {label} asks for {show(workers)} workers, above {show(ceiling)}{fix}", owner.urn)
            elif cap is not None and workers > cap:
                report(
                    f"{owner.name}: {label} asks for {show(workers)} workers, above its policy's {show(cap)}{fix}",
                    owner.urn,
                )


workers_capped = stack_policy(
    "databricks-workers-capped",
    "Every cluster policy caps num_workers and autoscale.max_workers, and no cluster asks for more workers than its "
    "policy or the environment's ceiling allows, so one job cannot burn the budget. Fix: keep the stack file's "
    "databricks.clusterPolicy.maxWorkers (the policy), models.<name>.training.numWorkers (a training job) and "
    "databricks.discoveryCluster.maxWorkers (the discovery cluster) within the ceiling.",
    _workers_capped,
    settings=[count("maxWorkers", DEFAULT_MAX_WORKERS, "Most workers any cluster or policy may allow.", minimum=1)],
    hints=[
        "databricks.clusterPolicy.maxWorkers",
        "databricks.discoveryCluster.maxWorkers",
        "models.<name>.training.numWorkers",
    ],
)


# --------------------------------------------------------------------------- runtime


def mleap_libraries(libraries: Any) -> Iterator[MleapLibrary]:
    """Each MLeap library among ``libraries``, read with the spelling the program writes them in."""
    for lib in items(libraries):
        jar = parse_mleap_jar(str(get(lib, "maven", "coordinates", default="")))
        if jar:
            yield jar
        wheel = parse_mleap_wheel(str(get(lib, "pypi", "package", default="")))
        if wheel:
            yield wheel


def mleap_capable_runtimes() -> list[str]:
    """Every runtime key stack config validation accepts: one some MLeap release pairs with (infra.contract.mleap_compat).

    The default allow-list, so the pack never refuses a runtime the config
    let through; a policy config narrows it deliberately (allowedRuntimes).
    Spellings are those ``parse_runtime`` reads: ``X.Y.x-[cpu-|gpu-]ml-[photon-]scala<line>``.
    """
    scala_lines = sorted({line.scala for line in DATABRICKS_RUNTIMES.values()})
    candidates = [
        f"{version}.x-{device}ml-{photon}scala{scala}"
        for version in DATABRICKS_RUNTIMES
        for device in ("cpu-", "gpu-", "")
        for photon in ("", "photon-")
        for scala in scala_lines
    ]
    return [key for key in candidates if any(check_runtime_mleap_pair(key, m) is None for m in MLEAP_RELEASES)]


def runtime_problem(runtime: Any, allowed: list[str]) -> Optional[str]:
    if runtime not in allowed:
        return f"runtime {runtime!r} is not allow-listed ({', '.join(allowed)})"
    parsed = parse_runtime(str(runtime))
    if parsed is None or not parsed.ml or parsed.version > LAST_MLEAP_RUNTIME:
        return f"runtime {runtime!r} cannot run open-source MLeap (Databricks Runtime ML up to {_LAST} LTS only)"
    return None


def library_problems(runtime: Any, libraries: Any) -> Iterator[str]:
    parsed = parse_runtime(str(runtime))
    for version, scala in mleap_libraries(libraries):
        problem = check_runtime_mleap_pair(str(runtime), version)
        if problem:
            yield problem.message
        elif parsed and scala and scala != parsed.scala:
            yield f"MLeap library built for Scala {scala} on runtime {runtime!r} (Scala {parsed.scala})"


def _task_runtimes(props: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """``(label, runtime, libraries)`` of each job task, the runtime from its own or its job cluster."""
    shared = {
        get(jc, "jobClusterKey"): get(jc, "newCluster", "sparkVersion") for jc in items(get(props, "jobClusters"))
    }
    for task in items(get(props, "tasks")):
        runtime = get(task, "newCluster", "sparkVersion", default=shared.get(get(task, "jobClusterKey")))
        if runtime is not None:
            yield f"task {get(task, 'taskKey', default='?')!r}", runtime, get(task, "libraries")


def _runtime(args: ResourceValidationArgs, report: ReportViolation, config: Config) -> None:
    allowed = list(config["allowedRuntimes"])
    runtime_fix = key_hint(args.props, "databricks.sparkVersion")
    if args.resource_type == t.DB_CLUSTER_POLICY:
        rule = mapping(get(policy_definition(args.props), "spark_version"))
        runtimes = [get(rule, "value")] if get(rule, "type") == "fixed" else list(items(get(rule, "values")))
        if get(rule, "type") not in ("fixed", "allowlist") or not runtimes:
            report("definition.spark_version must be 'fixed' or an 'allowlist' of MLeap-capable runtimes")
        for problem in filter(None, (runtime_problem(r, allowed) for r in runtimes)):
            report(f"definition.spark_version: {problem}{runtime_fix}")
        return
    for label, spec in cluster_specs(args.resource_type, args.props):
        problem = runtime_problem(get(spec, "sparkVersion"), allowed)
        if problem:
            report(f"{label}: {problem}{runtime_fix}")
    if args.resource_type == t.DB_CLUSTER:
        for problem in library_problems(get(args.props, "sparkVersion"), get(args.props, "libraries")):
            report(f"cluster: {problem}")
    for label, runtime, libraries in _task_runtimes(args.props) if args.resource_type == t.DB_JOB else ():
        for problem in library_problems(runtime, libraries):
            report(f"{label}: {problem}")


runtime_allowed = resource_policy(
    "databricks-runtime-allowed",
    "Every cluster and cluster policy uses an allow-listed Databricks Runtime ML that open-source MLeap supports "
    f"({_LAST} LTS ML or older), and every MLeap library matches the runtime's Spark/Scala line. The allow-list defaults "
    "to every runtime the stack config accepts (infra/contract/mleap_compat.py); a policy config may narrow it. Fix: "
    "set the stack file's databricks.sparkVersion to an allow-listed runtime and databricks.mleapVersion to its MLeap "
    f"line ({_LAST_LINE}.x for {_LAST} LTS ML).",
    _runtime,
    types=[t.DB_CLUSTER, t.DB_JOB, t.DB_CLUSTER_POLICY],
    hints=["databricks.sparkVersion"],
    settings=[
        strings(
            "allowedRuntimes",
            mleap_capable_runtimes(),
            "Databricks runtime keys clusters may use (default: every runtime infra/contract/mleap_compat.py pairs with an "
            "MLeap release, the table stack config is validated with).",
        )
    ],
)


# --------------------------------------------------------------------------- jobs


def tasks(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [mapping(task) for task in items(get(props, "tasks"))]


def task_key(task: Mapping[str, Any]) -> str:
    return str(get(task, "taskKey", default="?"))


def _timeouts(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    if (number(get(args.props, "timeoutSeconds")) or 0) > 0:
        return
    missing = [task_key(task) for task in tasks(args.props) if not (number(get(task, "timeoutSeconds")) or 0) > 0]
    if missing or not tasks(args.props):
        report(f"no job timeoutSeconds, and tasks {missing} have no timeoutSeconds")


job_timeouts = resource_policy(
    "databricks-job-timeouts",
    "Every training job times out: a hung Spark job otherwise holds its cluster (and the next run) forever. Fix: "
    "set timeout_seconds on each task (stack file: models.<name>.training.timeoutMinutes) or on the job.",
    _timeouts,
    types=[t.DB_JOB],
)


def _retries(args: ResourceValidationArgs, report: ReportViolation, config: Config) -> None:
    for task in tasks(args.props):
        retries = number(get(task, "maxRetries"))
        if retries is None or retries < config["minRetries"]:
            report(
                f"task {task_key(task)!r} retries {show(retries)} times, fewer than {show(config['minRetries'])}"
                + model_hint(args.props, "training.maxRetries")
            )


job_retries = resource_policy(
    "databricks-job-retries",
    "Every training task retries transient failures (spot loss, S3 throttling) before failing the run. Fix: set "
    "max_retries on each task (stack file: models.<name>.training.maxRetries, at least the environment's minimum).",
    _retries,
    types=[t.DB_JOB],
    hints=["models.<name>.training.maxRetries"],
    settings=[count("minRetries", DEFAULT_MIN_TASK_RETRIES, "Fewest retries a task may have.")],
)


def _concurrency(args: ResourceValidationArgs, report: ReportViolation, config: Config) -> None:
    runs = number(get(args.props, "maxConcurrentRuns"))
    if runs is None or not 1 <= runs <= config["maxConcurrentRuns"]:
        report(f"maxConcurrentRuns is {show(runs)}, not within 1..{show(config['maxConcurrentRuns'])}")


job_concurrency = resource_policy(
    "databricks-job-concurrency",
    "Every training job sets max_concurrent_runs explicitly and low, so a retrigger never trains the same model "
    "twice at once and writes two bundles for one version. Fix: set max_concurrent_runs=1 on the job.",
    _concurrency,
    types=[t.DB_JOB],
    settings=[count("maxConcurrentRuns", MAX_CONCURRENT_TRAINING_RUNS, "Most concurrent runs of one job.", minimum=1)],
)


def _failure_notifications(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    emails = items(get(args.props, "emailNotifications", "onFailures"))
    hooks = items(get(args.props, "webhookNotifications", "onFailures"))
    if not emails and not hooks:
        report("no emailNotifications.onFailures or webhookNotifications.onFailures")


job_failure_notifications = resource_policy(
    "databricks-job-failure-notifications",
    "Every training job tells someone when it fails: a silently failing retrain leaves a stale model in "
    "production. Fix: set email_notifications.on_failures (stack file: databricks.notificationEmails) or "
    "webhook_notifications.on_failures on the job.",
    _failure_notifications,
    types=[t.DB_JOB],
)


def _tasks_sorted(args: ResourceValidationArgs, report: ReportViolation, _: Config) -> None:
    keys = [task_key(task) for task in tasks(args.props)]
    if keys != sorted(set(keys)):
        report(f"tasks are declared as {keys}; declare them sorted by task_key, each key once")


job_tasks_sorted = resource_policy(
    "databricks-job-tasks-sorted",
    "A job's tasks are declared sorted by task_key: the provider returns them sorted, so any other order shows a "
    "diff on every `pulumi up` (pulumi-databricks #49). Fix: sort the tasks list by task_key.",
    _tasks_sorted,
    types=[t.DB_JOB],
)

POLICIES = [
    autotermination,
    under_policy,
    workers_capped,
    runtime_allowed,
    job_timeouts,
    job_retries,
    job_concurrency,
    job_failure_notifications,
    job_tasks_sorted,
]
