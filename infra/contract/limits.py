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
