"""Bundle store: the S3 bucket of MLeap bundles, its least-privilege IAM, and what each model serves.

Every trained model lives here, so the bucket is versioned, encrypted, private,
TLS-only and, in prod, protected from ``pulumi destroy``. It is declared with
pulumi-aws v7's separate side resources (never the deprecated inline
arguments). A published version is immutable: the training role may only
create objects that do not exist yet (``If-None-Match``), never overwrite or
delete one, by its own policy and by the bucket policy (iam_documents.py);
its scratch under ``_work/`` expires after ``bundleStore.workExpirationDays``.

Per model, the store holds the model's reader role and ``<model>/released.json``
(the served version, its digest and files; infra/layout.py), which the stack
writes so training finds the served version's statistics. Nothing else depends
on the list of models, so removing a model from config removes its reader role
and its released.json, never its bundles; a version bump changes only
released.json here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from infra.components.bundle_reader import BundleReader, BundleReaderArgs
from infra.components.iam_documents import bucket_policy, role_arn, writer_policy
from infra.config import StackConfig
from infra.layout import WORK_PREFIX, released_document, released_key
from infra.naming import aws_tags, physical_name, training_role_name

#: KMS waits this long before deleting a key the stack created (the maximum).
KMS_DELETION_WINDOW_DAYS = 30
#: The writer policy's description: names no bucket, since IAM replaces a policy whose description changes.
WRITER_POLICY_DESCRIPTION = "Training writes MLeap bundles under the configured models' prefixes of the bundle store."
#: Scratch objects a lifecycle rule has made noncurrent are deleted after this many days.
WORK_NONCURRENT_DAYS = 1


@dataclass(frozen=True)
class BundleStoreArgs:
    config: StackConfig


class BundleStore(pulumi.ComponentResource):
    """The bucket, its side resources, the writer policy, and per model a reader role and released.json."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    kms_key_arn: Optional[pulumi.Output[str]]
    writer_policy_arn: pulumi.Output[str]
    reader_role_arns: dict[str, pulumi.Output[str]]
    #: ``s3://`` URI of each model's released.json.
    released_uris: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: BundleStoreArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("model-platform:storage:BundleStore", name, None, opts)
        cfg = args.config
        # The bucket, everything that keeps it safe, and the key its data is encrypted
        # with: a destroy that removed a side resource of a retained bucket would
        # silently suspend versioning or drop the public access block.
        data = pulumi.ResourceOptions(parent=self, protect=cfg.protect_data, retain_on_delete=cfg.protect_data)

        self.kms_key_arn = self._kms_key(name, cfg, data)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            aws.s3.BucketArgs(bucket=cfg.bucket_name, force_destroy=False, tags=aws_tags(cfg)),
            data,
        )
        encryption = self._harden(name, cfg, bucket, data)

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.writer_policy_arn = self._writer_policy(name, cfg, bucket.arn).arn
        self.reader_role_arns = {
            model: BundleReader(
                f"{model}-reader",
                BundleReaderArgs(config=cfg, model=model, bucket_arn=bucket.arn, kms_key_arn=self.kms_key_arn),
                pulumi.ResourceOptions(parent=self),
            ).role_arn
            for model in cfg.models
        }
        self.released_uris = {model: self._released(cfg, model, bucket, encryption) for model in cfg.models}
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "kmsKeyArn": self.kms_key_arn,
                "writerPolicyArn": self.writer_policy_arn,
                "readerRoleArns": self.reader_role_arns,
                "releasedUris": self.released_uris,
            }
        )

    def _released(
        self, cfg: StackConfig, model: str, bucket: aws.s3.Bucket, encryption: pulumi.Resource
    ) -> pulumi.Output[str]:
        """``<model>/released.json``: the served version, rewritten by each release (a new S3 object version)."""
        served = cfg.models[model]
        key = released_key(model)
        pointer = aws.s3.BucketObjectv2(
            f"{model}-released",
            aws.s3.BucketObjectv2Args(
                bucket=bucket.bucket,
                key=key,
                content=bucket.bucket.apply(
                    lambda b: released_document(bucket=b, model=model, version=served.version, bundle_sha256=served.bundle_sha256)
                ),
                content_type="application/json",
                tags=aws_tags(cfg, model),
            ),
            # Written once the default encryption is in place, so it is encrypted like the bundles (SSE-KMS in prod).
            pulumi.ResourceOptions(parent=self, depends_on=[encryption]),
        )
        return pulumi.Output.concat("s3://", pointer.bucket, "/", key)

    def _writer_role_arn(self, cfg: StackConfig) -> pulumi.Output[str]:
        """The training role's ARN, from the account and the role's fixed name: the bucket policy names the role
        without depending on it (the role depends on this store's writer policy)."""
        name, region = training_role_name(cfg), cfg.aws.region
        if cfg.aws.account_id:
            return pulumi.Output.from_input(role_arn(region=region, account_id=cfg.aws.account_id, role_name=name))
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        return identity.account_id.apply(lambda account: role_arn(region=region, account_id=account, role_name=name))

    def _kms_key(self, name: str, cfg: StackConfig, data: pulumi.ResourceOptions) -> Optional[pulumi.Output[str]]:
        """The SSE-KMS key: the configured one, or one the stack creates (rotated yearly). None with SSE-S3."""
        store = cfg.bundle_store
        if store.encryption != "sse-kms":
            return None
        if store.kms_key_arn:
            return pulumi.Output.from_input(store.kms_key_arn)
        key = aws.kms.Key(
            f"{name}-key",
            aws.kms.KeyArgs(
                description=f"Encrypts the MLeap bundles in s3://{cfg.bucket_name}",
                enable_key_rotation=True,
                deletion_window_in_days=KMS_DELETION_WINDOW_DAYS,
                tags=aws_tags(cfg),
            ),
            data,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            aws.kms.AliasArgs(name=f"alias/{physical_name(cfg, 'bundles')}", target_key_id=key.key_id),
            pulumi.ResourceOptions(parent=self),
        )
        return key.arn

    def _harden(self, name: str, cfg: StackConfig, bucket: aws.s3.Bucket, data: pulumi.ResourceOptions) -> pulumi.Resource:
        """Versioning, default encryption, no public access, no ACLs, bucket policy, lifecycle; returns the encryption."""
        store = cfg.bundle_store
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            aws.s3.BucketVersioningInitArgs(
                bucket=bucket.bucket,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            ),
            data,
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            aws.s3.BucketServerSideEncryptionConfigurationInitArgs(bucket=bucket.bucket, rules=[self._encryption_rule()]),
            data,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            aws.s3.BucketPublicAccessBlockArgs(
                bucket=bucket.bucket,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
            ),
            data,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            aws.s3.BucketOwnershipControlsArgs(
                bucket=bucket.bucket,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            ),
            data,
        )
        kms = self.kms_key_arn is not None
        aws.s3.BucketPolicy(
            f"{name}-policy",
            aws.s3.BucketPolicyArgs(
                bucket=bucket.bucket,
                policy=pulumi.Output.all(bucket.arn, self._writer_role_arn(cfg)).apply(
                    lambda arns: bucket_policy(arns[0], kms, writer_role_arn=arns[1]).to_json()
                ),
            ),
            # S3 rejects a policy written while the public access block is changing.
            pulumi.ResourceOptions.merge(data, pulumi.ResourceOptions(depends_on=[public_access])),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(
                bucket=bucket.bucket,
                rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="expire-noncurrent-versions",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=store.noncurrent_version_days
                        ),
                    ),
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="abort-incomplete-multipart-uploads",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=store.abort_multipart_days
                        ),
                    ),
                    # Only the runs' scratch expires; published versions never do.
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="expire-run-scratch",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=WORK_PREFIX),
                        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=store.work_expiration_days),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=WORK_NONCURRENT_DAYS
                        ),
                    ),
                ],
            ),
            # Noncurrent-version rules only mean something once versioning is on.
            pulumi.ResourceOptions.merge(data, pulumi.ResourceOptions(depends_on=[versioning])),
        )
        return encryption

    def _encryption_rule(self) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgs:
        by_default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
        if self.kms_key_arn is None:
            return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=by_default(sse_algorithm="AES256")
            )
        return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=by_default(sse_algorithm="aws:kms", kms_master_key_id=self.kms_key_arn),
            # One data key per bucket instead of a KMS call per object: cheaper, fewer throttles.
            bucket_key_enabled=True,
        )

    def _writer_policy(self, name: str, cfg: StackConfig, bucket_arn: pulumi.Output[str]) -> aws.iam.Policy:
        """Managed policy the training role attaches: put/get/list under the configured models' prefixes."""
        models, region = sorted(cfg.models), cfg.aws.region
        return aws.iam.Policy(
            f"{name}-writer",
            aws.iam.PolicyArgs(
                name=physical_name(cfg, "bundles-writer"),
                # Constant, never derived from config: IAM cannot update a policy's description, so a change
                # replaces the policy, and a replacement under the same fixed name fails (EntityAlreadyExists).
                description=WRITER_POLICY_DESCRIPTION,
                policy=pulumi.Output.all(bucket_arn, self.kms_key_arn).apply(
                    lambda arns: writer_policy(arns[0], models, arns[1], region).to_json()
                ),
                tags=aws_tags(cfg),
            ),
            pulumi.ResourceOptions(parent=self),
        )
