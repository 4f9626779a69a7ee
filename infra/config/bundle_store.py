"""``model-platform:bundleStore``: the S3 bucket of MLeap bundles (its key layout is infra.contract.layout)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from infra.config.base import Block, _err
from infra.config.types import Bool, BucketName, KmsArn


class BundleStoreConfig(Block):
    bucket_name: Optional[BucketName] = Field(
        None,
        description="Override the bucket name (default: <project>-<environment>-bundles[-<accountId>]); checked by all "
        "of S3's naming rules, reserved prefixes and suffixes included.",
    )
    encryption: Literal["sse-s3", "sse-kms"] = Field("sse-s3", description="Default encryption: SSE-S3, or SSE-KMS with a bucket key.")
    kms_key_arn: Optional[KmsArn] = Field(None, description="With sse-kms: an existing key ARN. Unset: the stack creates a key.")
    noncurrent_version_days: int = Field(90, ge=1, le=3650, description="Days after which noncurrent bundle versions expire.")
    abort_multipart_days: int = Field(7, ge=1, le=365, description="Days after which incomplete multipart uploads are aborted.")
    work_expiration_days: int = Field(
        7,
        ge=1,
        le=365,
        description="Days after which a training run's scratch objects (_work/<model>/<version>/: data set, fitted Spark "
        "model, statistics before publishing) expire. Published versions never expire.",
    )
    protect: Optional[Bool] = Field(
        None,
        description="protect + retain_on_delete on the bucket, its side resources and the KMS key the stack creates "
        "(the serving namespace is always retained, and protected too when this is on). Default: true in prod, false elsewhere.",
    )

    @model_validator(mode="after")
    def _kms(self) -> "BundleStoreConfig":
        if self.kms_key_arn and self.encryption != "sse-kms":
            raise _err("kmsKeyArn", "is set but encryption is 'sse-s3'; set encryption: sse-kms or remove the key")
        return self
