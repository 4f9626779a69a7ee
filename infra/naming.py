"""The contract's naming (``infra.contract.naming``), called with a ``StackConfig``: for ``program.py``'s call sites.

The rules live in the contract, which takes plain values (the environment,
the stack's tags) so that modelctl and the policy pack can use them without
the config package; these adapters only pick those values out of a config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from infra.contract import naming as _naming
from infra.contract.naming import MANAGED_BY, label_value, service_account_name  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from infra.config import StackConfig


def stack_prefix(cfg: "StackConfig") -> str:
    return _naming.stack_prefix(cfg.environment.value)


def aws_tags(cfg: "StackConfig", model: Optional[str] = None) -> dict[str, str]:
    return _naming.aws_tags(environment=cfg.environment.value, tags=cfg.tags, model=model)


def k8s_labels(cfg: "StackConfig", model: str, version: Optional[str], component: str = "serving") -> dict[str, str]:
    return _naming.k8s_labels(
        environment=cfg.environment.value, tags=cfg.tags, model=model, version=version, component=component
    )


def training_role_name(cfg: "StackConfig") -> str:
    return _naming.training_role_name(environment=cfg.environment.value)


def physical_name(cfg: "StackConfig", *parts: str) -> str:
    return _naming.physical_name(*parts, environment=cfg.environment.value)
