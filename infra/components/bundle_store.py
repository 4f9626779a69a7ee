"""Bundle store: the S3 bucket of MLeap bundles and its least-privilege IAM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from infra.config import StackConfig


@dataclass(frozen=True)
class BundleStoreArgs:
    config: StackConfig


class BundleStore(pulumi.ComponentResource):
    """The bucket, its side resources, the writer policy and one reader role per model."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    kms_key_arn: Optional[pulumi.Output[str]]
    writer_policy_arn: pulumi.Output[str]
    reader_role_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: BundleStoreArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:storage:BundleStore", name, None, opts)
        cfg = args.config
        # TODO(issue 3): bucket, side resources, IAM. Placeholder outputs until then.
        self.bucket_name = pulumi.Output.from_input(cfg.bucket_name)
        self.bucket_arn = pulumi.Output.from_input(f"arn:aws:s3:::{cfg.bucket_name}")
        self.kms_key_arn = None
        self.writer_policy_arn = pulumi.Output.from_input("")
        self.reader_role_arns = {m: pulumi.Output.from_input("") for m in cfg.models}
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn})
