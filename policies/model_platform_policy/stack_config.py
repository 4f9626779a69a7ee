"""The stack's own config, as the Pulumi CLI hands it to a policy pack.

``pulumi preview`` passes the stack config to the pack process in
``PULUMI_CONFIG`` (secure values decrypted), and pulumi_policy loads it into
the runtime config before each analysis; ``modelctl check`` passes the stack
file's config the same way, secure values as a placeholder. Rules read it only
for what resources cannot say, such as which Airflow connections a stack declares.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi.runtime

from infra.contract.naming import PROJECT


def raw_value(key: str) -> Any:
    """A config value by its full key (``aws:allowedAccountIds``), as the CLI passed it (text), or None."""
    return pulumi.runtime.get_config(key)


def stack_object(key: str) -> Mapping[str, Any]:
    """``model-platform:<key>`` as a mapping; empty when unset or not an object."""
    raw = pulumi.runtime.get_config(f"{PROJECT}:{key}")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return {}
    return raw if isinstance(raw, Mapping) else {}
