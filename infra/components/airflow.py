"""Airflow connections and variables the training DAG uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from infra.config import StackConfig


@dataclass(frozen=True)
class AirflowArgs:
    config: StackConfig
    bucket_name: pulumi.Input[str]
    job_ids: dict[str, pulumi.Output[str]]


class AirflowConnections(pulumi.ComponentResource):
    """Connections and variables in Secrets Manager (MWAA) or a Kubernetes Secret."""

    configuration_options: pulumi.Output[dict]

    def __init__(self, name: str, args: AirflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:airflow:AirflowConnections", name, None, opts)
        # TODO(issue 5)
        self.configuration_options = pulumi.Output.from_input({})
        self.register_outputs({})
