"""How the tests read the documents the program attaches: IAM grants and Ingress routing, as AWS and Kubernetes do.

One reading shared by the direct document tests (tests/documents/) and the plan-level tests, so a test of
"the reader may get this bundle" means the same thing wherever it is asked.
"""

from __future__ import annotations

import fnmatch
from typing import Any


def as_list(v: Any) -> list[Any]:
    """IAM's one-or-many fields (``Action``, ``Resource``) as a list."""
    return v if isinstance(v, list) else [v]


def allowed(doc: dict[str, Any], action: str, arn: str) -> bool:
    """Does an unconditional Allow of ``doc`` grant ``action`` on ``arn``? (IAM wildcards via fnmatch.)"""
    return any(
        s["Effect"] == "Allow"
        and "Condition" not in s
        and action in as_list(s["Action"])
        and any(fnmatch.fnmatchcase(arn, pattern) for pattern in as_list(s.get("Resource", [])))
        for s in doc["Statement"]
    )


def ingress_routes(spec: dict[str, Any], host: str, path: str) -> bool:
    """Whether an Ingress ``spec`` sends ``host``+``path`` to a backend (Exact and Prefix as Kubernetes defines them)."""
    for rule in spec["rules"]:
        if rule.get("host") not in (None, host):
            continue
        for p in rule["http"]["paths"]:
            if p["pathType"] == "Exact" and path == p["path"]:
                return True
            if p["pathType"] == "Prefix":
                prefix = [e for e in p["path"].split("/") if e]
                if [e for e in path.split("/") if e][: len(prefix)] == prefix:
                    return True
    return False
