"""Serving: per model, a Kubernetes Deployment that loads its MLeap bundle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from infra.config import StackConfig


@dataclass(frozen=True)
class ServingArgs:
    config: StackConfig
    bucket_name: pulumi.Input[str]
    reader_role_arns: dict[str, pulumi.Output[str]]


class Serving(pulumi.ComponentResource):
    """Namespace and one ModelServing per model."""

    endpoints: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ServingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:serving:Serving", name, None, opts)
        # TODO(issue 6)
        self.endpoints = {}
        self.register_outputs({})
