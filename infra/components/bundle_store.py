"""Bundle store: the S3 bucket of MLeap bundles, its least-privilege IAM, and what each model serves.

Every trained model lives here, so the bucket is versioned, encrypted, private,
TLS-only and, in prod, protected from ``pulumi destroy``. It is declared with
pulumi-aws v7's separate side resources (never the deprecated inline
arguments). A published version is immutable: the training role may only
create objects that do not exist yet (``If-None-Match``), never overwrite or
delete one, by its own policy and by the bucket policy (infra/documents/iam.py);
its scratch under ``_work/`` expires after ``bundleStore.workExpirationDays``.

Per model, the store holds the model's reader role and ``<model>/released.json``
(the served version, its digest and files; infra/contract/layout.py), which the stack
writes so training finds the served version's statistics. Nothing else depends
on the list of models, so removing a model from config removes its reader role
and its released.json, never its bundles; a version bump changes only
released.json here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Optional

import pulumi
import pulumi_aws as aws

from infra.components.bundle_reader import BundleReader, BundleReaderArgs, ServingIdentity
from infra.documents.arns import role_arn
from infra.documents.iam import bucket_policy, writer_policy
from infra.contract.layout import WORK_PREFIX, released_document, released_key, s3_uri
from infra.contract.naming import MODEL_TAG

#: KMS waits this long before deleting a key the stack created (the maximum).
KMS_DELETION_WINDOW_DAYS = 30
#: The writer policy's description: names no bucket, since IAM replaces a policy whose description changes.
WRITER_POLICY_DESCRIPTION = "Training writes MLeap bundles under the configured models' prefixes of the bundle store."
#: Scratch objects a lifecycle rule has made noncurrent are deleted after this many days.
WORK_NONCURRENT_DAYS = 1


@dataclass(frozen=True, kw_only=True)
class ServedVersion:
    """The version a stack serves of one model, and its bundle's digest (written to ``<model>/released.json``)."""

    version: str
    bundle_sha256: str


@dataclass(frozen=True, kw_only=True)
class StoreReader:
    """One model's reader: its role's name and the serving identity that may assume it."""

    role_name: str
    identity: ServingIdentity


@dataclass(frozen=True, kw_only=True)
class StoreProtection:
    """How the store keeps its data: encryption, lifecycle and protection from ``pulumi destroy``."""

    encryption: Literal["sse-s3", "sse-kms"]
    #: With sse-kms: an existing key to use; None makes the store create one.
    kms_key_arn: Optional[str]
    noncurrent_version_days: int
    abort_multipart_days: int
    work_expiration_days: int
    protect: bool


@dataclass(frozen=True, kw_only=True)
class BundleStoreArgs:
    bucket_name: str
    region: str
    #: The account the stack deploys to; None reads it from the caller's identity.
    account_id: Optional[str]
    protection: StoreProtection
    writer_policy_name: str
    key_alias_name: str
    #: The training role's fixed name: the bucket policy names it (the role is declared by training).
    writer_role_name: str
    served: Mapping[str, ServedVersion]
    readers: Mapping[str, StoreReader]


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
        # The bucket, everything that keeps it safe, and the key its data is encrypted
        # with: a destroy that removed a side resource of a retained bucket would
        # silently suspend versioning or drop the public access block.
        protect = args.protection.protect
        data = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)

        self.kms_key_arn = self._kms_key(name, args, data)
        bucket = aws.s3.Bucket(f"{name}-bucket", aws.s3.BucketArgs(bucket=args.bucket_name, force_destroy=False), data)
        encryption = self._harden(name, args, bucket, data)

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.writer_policy_arn = self._writer_policy(name, args, bucket.arn).arn
        self.reader_role_arns = {
            model: BundleReader(
                f"{model}-reader",
                BundleReaderArgs(
                    model=model,
                    role_name=reader.role_name,
                    identity=reader.identity,
                    region=args.region,
                    bucket_arn=bucket.arn,
                    kms_key_arn=self.kms_key_arn,
                ),
                pulumi.ResourceOptions(parent=self),
            ).role_arn
            for model, reader in args.readers.items()
        }
        self.released_uris = {
            model: self._released(model, served, bucket, encryption) for model, served in args.served.items()
        }
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
        self, model: str, served: ServedVersion, bucket: aws.s3.Bucket, encryption: pulumi.Resource
    ) -> pulumi.Output[str]:
        """``<model>/released.json``: the served version, rewritten by each release (a new S3 object version)."""
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
                tags={MODEL_TAG: model},
            ),
            # Written once the default encryption is in place, so it is encrypted like the bundles (SSE-KMS in prod).
            pulumi.ResourceOptions(parent=self, depends_on=[encryption]),
        )
        return pointer.bucket.apply(lambda bucket: s3_uri(bucket, key))

    def _writer_role_arn(self, args: BundleStoreArgs) -> pulumi.Output[str]:
        """The training role's ARN, from the account and the role's fixed name: the bucket policy names the role
        without depending on it (the role depends on this store's writer policy)."""
        name, region = args.writer_role_name, args.region
        if args.account_id:
            return pulumi.Output.from_input(role_arn(region=region, account_id=args.account_id, role_name=name))
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        return identity.account_id.apply(lambda account: role_arn(region=region, account_id=account, role_name=name))

    def _kms_key(self, name: str, args: BundleStoreArgs, data: pulumi.ResourceOptions) -> Optional[pulumi.Output[str]]:
        """The SSE-KMS key: the configured one, or one the stack creates (rotated yearly). None with SSE-S3."""
        store = args.protection
        if store.encryption != "sse-kms":
            return None
        if store.kms_key_arn:
            return pulumi.Output.from_input(store.kms_key_arn)
        key = aws.kms.Key(
            f"{name}-key",
            aws.kms.KeyArgs(
                description=f"Encrypts the MLeap bundles in s3://{args.bucket_name}",
                enable_key_rotation=True,
                deletion_window_in_days=KMS_DELETION_WINDOW_DAYS,
            ),
            data,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            aws.kms.AliasArgs(name=f"alias/{args.key_alias_name}", target_key_id=key.key_id),
            pulumi.ResourceOptions(parent=self),
        )
        return key.arn

    def _harden(self, name: str, args: BundleStoreArgs, bucket: aws.s3.Bucket, data: pulumi.ResourceOptions) -> pulumi.Resource:
        """Versioning, default encryption, no public access, no ACLs, bucket policy, lifecycle; returns the encryption."""
        store = args.protection
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
                policy=pulumi.Output.all(bucket.arn, self._writer_role_arn(args)).apply(
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

    def _writer_policy(self, name: str, args: BundleStoreArgs, bucket_arn: pulumi.Output[str]) -> aws.iam.Policy:
        """Managed policy the training role attaches: put/get/list under the configured models' prefixes."""
        models, region = sorted(args.served), args.region
        return aws.iam.Policy(
            f"{name}-writer",
            aws.iam.PolicyArgs(
                name=args.writer_policy_name,
                # Constant, never derived from config: IAM cannot update a policy's description, so a change
                # replaces the policy, and a replacement under the same fixed name fails (EntityAlreadyExists).
                description=WRITER_POLICY_DESCRIPTION,
                policy=pulumi.Output.all(bucket_arn, self.kms_key_arn).apply(
                    lambda arns: writer_policy(arns[0], models, arns[1], region).to_json()
                ),
            ),
            pulumi.ResourceOptions(parent=self),
        )
