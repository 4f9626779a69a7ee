"""``model-platform:aws``: the AWS account and region of the bundle store and IAM."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from infra.config.base import Block
from infra.config.types import AccountId, Region


class AwsConfig(Block):
    region: Region = Field(description="AWS region of the bundle store and IAM.")
    account_id: Optional[AccountId] = Field(None, description="AWS account id; used in the default bucket name when set.")
