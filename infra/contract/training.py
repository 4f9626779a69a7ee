"""What the platform passes to a model's training package: one statement for the config, the job and the docs.

Part of ``infra.contract`` (standard library only). The Databricks job passes
these named parameters to every task of the training package, and the config
refuses a user parameter that would redefine one. The reference package
(``examples/days-to-sell``) reads exactly these names; it runs on Databricks
without this repository, so it spells them itself, and its tests compare.
"""

from __future__ import annotations

#: Named parameters the platform passes to every training task (``--name=value``), in this order;
#: ``training.parameters`` may not redefine them.
PLATFORM_TASK_PARAMETERS = (
    "model",
    "version",
    "work-uri",
    "bundle-uri",
    "samples-uri",
    "metrics-uri",
    "stats-uri",
    "digest-uri",
    "released-uri",
)

#: Where ``training.package`` takes ``training.packageVersion`` (the package's own version, not the model's).
PACKAGE_VERSION_PLACEHOLDER = "{packageVersion}"
