"""The thresholds the stack config enforces and the policy pack judges with: each number once.

Part of ``infra.contract``. Where a policy's setting defaults to one of these,
or an environment's policy config (``policies/<environment>.json``) must agree
with the config's production rules, the pack imports it from here;
tests/contract/test_contract_is_pure.py checks the JSON files against it.
"""

from __future__ import annotations

#: Serving replicas a prod stack keeps at least (``models.<m>.serving.replicas.min``; policy ``k8s-serving-hpa``).
PROD_MIN_REPLICAS = 2
#: Databricks' own shortest autotermination (minutes); the config's and the policy's floor.
MIN_AUTOTERMINATION_MINUTES = 10
#: Secrets Manager's recovery window: 0 (delete at once, refused in prod) or this range of days.
RECOVERY_WINDOW_DAYS = (7, 30)
#: The oldest Kubernetes minor version the serving manifests support (``1.<this>``).
MIN_KUBERNETES_MINOR = 29

# --------------------------------------------------------------------------- policy defaults (policies/<environment>.json may override)

#: Longest autotermination (minutes) policy ``databricks-autotermination`` allows; policy config ``maxMinutes`` overrides.
DEFAULT_MAX_AUTOTERMINATION_MINUTES = 120
#: Most workers a cluster or cluster policy may have (policy ``databricks-workers-capped``); policy config ``maxWorkers`` overrides.
DEFAULT_MAX_WORKERS = 32
#: Fewest retries of a training task (policy ``databricks-job-retries``); policy config ``minRetries`` overrides.
DEFAULT_MIN_TASK_RETRIES = 1
#: Runs of one model's training job at once: what the program sets, and the most policy
#: ``databricks-job-concurrency`` allows (policy config ``maxConcurrentRuns`` overrides), so a
#: retrigger never trains one model twice at once and writes two bundles for one version.
MAX_CONCURRENT_TRAINING_RUNS = 1

# --------------------------------------------------------------------------- hostile stack files (infra/stack_source.py)

#: Bytes a stack file may hold: ours are under 8 KiB; a larger one is refused before YAML parsing.
MAX_STACK_FILE_BYTES = 256 * 1024
#: YAML aliases (``*name``) a stack file may use: merge keys for a few shared blocks, never an alias bomb.
MAX_YAML_ALIASES = 64
#: Nodes a stack file may expand to once every alias is followed (ours: a few hundred).
MAX_YAML_NODES = 20_000
#: How deeply a stack file may nest mappings and lists (ours: 8 levels).
MAX_YAML_DEPTH = 32

# --------------------------------------------------------------------------- Kubernetes quantities (models.<m>.serving.resources)

#: CPU a serving container may request or be limited to, in millicores: at least 10m, at most 64 cores.
CPU_MILLICORES = (10, 64_000)
#: Memory of a serving container, in bytes: at least 128Mi (a JVM with MLeap), at most 512Gi.
MEMORY_BYTES = (128 * 2**20, 512 * 2**30)

# --------------------------------------------------------------------------- Kubernetes namespaces and ingress

#: Namespaces a stack never puts its own objects in (kubernetes.namespace, airflow.namespace): the cluster's own,
#: and ``default``, where every unscoped ``kubectl`` lands. Namespaces that only admit traffic may name them.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "default")
#: Ingress annotations a stack may set (``models.<m>.serving.ingress.annotations``): health checks, TLS and
#: timeouts. Anything else (``nginx.ingress.kubernetes.io/configuration-snippet``, ``server-snippet``, auth or
#: source-range overrides, ``alb.ingress.kubernetes.io/scheme``) changes who may reach the model or injects
#: controller configuration, and is refused.
INGRESS_ANNOTATIONS = (
    "alb.ingress.kubernetes.io/healthcheck-path",
    "alb.ingress.kubernetes.io/healthcheck-interval-seconds",
    "alb.ingress.kubernetes.io/healthcheck-timeout-seconds",
    "alb.ingress.kubernetes.io/success-codes",
    "alb.ingress.kubernetes.io/target-type",
    "alb.ingress.kubernetes.io/certificate-arn",
    "alb.ingress.kubernetes.io/ssl-redirect",
    "alb.ingress.kubernetes.io/listen-ports",
    "alb.ingress.kubernetes.io/group.name",
    "nginx.ingress.kubernetes.io/proxy-body-size",
    "nginx.ingress.kubernetes.io/proxy-read-timeout",
    "nginx.ingress.kubernetes.io/proxy-send-timeout",
    "nginx.ingress.kubernetes.io/proxy-connect-timeout",
    "nginx.ingress.kubernetes.io/ssl-redirect",
    "nginx.ingress.kubernetes.io/force-ssl-redirect",
    "cert-manager.io/cluster-issuer",
)
