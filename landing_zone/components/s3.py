"""S3 buckets that meet the Charter baseline by construction.

`secure_bucket` gives every bucket the same floor, so each property is one control that an
auditor can check on every bucket in every template:

| property | control |
|---|---|
| S3 server access logging to the account/region access-log bucket | LOG-05 |
| default encryption: SSE-KMS with a bucket key (SSE-S3 only when no key is given) | ENC-02 |
| bucket policy denying any request without TLS (`aws:SecureTransport` false) | ENC-04 |
| public access block (all four settings) and `BucketOwnerEnforced` (ACLs disabled) | DAT-01 |

Plus versioning, `DeletionPolicy`/`UpdateReplacePolicy: Retain` (a stack deletion must never
destroy evidence or logs) and an abort-incomplete-multipart-uploads lifecycle rule.

`access_log_bucket` builds the one bucket per account and region that receives those
access logs; it cannot log to itself (S3 would log its own log deliveries forever), which is
the single justified checkov suppression here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from awacs import s3 as s3_actions
from awacs.aws import (
    Allow,
    ArnLike,
    Bool,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import GetAtt, Ref, Sub, Tags, Template
from troposphere.s3 import (
    AbortIncompleteMultipartUpload,
    Bucket,
    BucketEncryption,
    BucketPolicy,
    DefaultRetention,
    LifecycleConfiguration,
    LifecycleRule,
    LoggingConfiguration,
    NoncurrentVersionExpiration,
    ObjectLockConfiguration,
    ObjectLockRule,
    OwnershipControls,
    OwnershipControlsRule,
    PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault,
    ServerSideEncryptionRule,
    VersioningConfiguration,
)

from charter.config.model import OrgConfig
from charter.landing_zone.metadata import control_tags, suppress
from charter.landing_zone.metadata import controls as tag_controls
from charter.naming import OBJECT_LOCK_TAG, access_log_bucket_name

#: Controls every bucket built here evidences.
BUCKET_CONTROLS: tuple[str, ...] = ("LOG-05", "ENC-02", "ENC-04", "DAT-01")

#: Logical id of the access-log bucket; a stack that also builds other buckets can
#: `DependsOn` it so the log target exists before S3 validates the logging configuration.
ACCESS_LOG_BUCKET_ID = "AccessLogBucket"

KmsArn = str | Ref | GetAtt | Sub


def bucket_arns(bucket: Bucket) -> tuple[GetAtt, Sub]:
    """(bucket ARN, ARN of every object) for policy `Resource` lists."""
    return GetAtt(bucket, "Arn"), Sub("${Arn}/*", Arn=GetAtt(bucket, "Arn"))


def tls_only_statement(bucket: Bucket) -> Statement:
    """Deny every S3 action on the bucket and its objects to anyone not using TLS (ENC-04)."""
    return Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[s3_actions.Action("*")],
        Resource=list(bucket_arns(bucket)),
        Condition=Condition(Bool("aws:SecureTransport", "false")),
    )


def _tags(control_ids: Sequence[str], extra: dict[str, str] | None = None) -> Tags:
    return Tags(**control_tags(*control_ids, extra=extra))


def secure_bucket(
    template: Template,
    logical_id: str,
    *,
    controls: Iterable[str] = (),
    bucket_name: str | None = None,
    kms_key_arn: KmsArn | None = None,
    versioning: bool = True,
    access_log_bucket: str | None = None,
    object_lock_days: int | None = None,
    lifecycle_rules: Sequence[LifecycleRule] | None = None,
    extra_policy_statements: Sequence[Statement] | None = None,
    retain: bool = True,
    tags: dict[str, str] | None = None,
) -> tuple[Bucket, BucketPolicy]:
    """Add a baseline-compliant bucket and its policy to `template`; returns both.

    - `bucket_name`: an `Fn::Sub` string (e.g. from `naming.log_bucket_name`), or None to
      let CloudFormation name it.
    - `kms_key_arn`: SSE-KMS with an S3 bucket key (fewer KMS calls); pass one whenever the
      writers can use a customer-managed key. None falls back to SSE-S3 (AES-256).
    - `access_log_bucket`: `Fn::Sub` string of the target bucket, normally
      `naming.access_log_bucket_name(cfg)`; None only for the access-log bucket itself.
    - `object_lock_days`: Object Lock in COMPLIANCE mode with this default retention
      (requires versioning; nobody, root included, can delete a locked version early).
    - `extra_policy_statements`: awacs statements appended after the TLS-only deny.
    """
    control_ids = list(dict.fromkeys([*BUCKET_CONTROLS, *controls]))
    if object_lock_days is not None and not versioning:
        raise ValueError(f"{logical_id}: Object Lock requires versioning")

    if kms_key_arn is not None:
        sse = ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(
                SSEAlgorithm="aws:kms", KMSMasterKeyID=kms_key_arn
            ),
            BucketKeyEnabled=True,
        )
    else:
        sse = ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
        )

    rules = list(lifecycle_rules or [])
    rules.append(LifecycleRule(
        Id="AbortIncompleteMultipartUploads", Status="Enabled",
        AbortIncompleteMultipartUpload=AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
    ))

    props: dict[str, object] = dict(
        BucketEncryption=BucketEncryption(ServerSideEncryptionConfiguration=[sse]),
        PublicAccessBlockConfiguration=PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
        ),
        OwnershipControls=OwnershipControls(Rules=[OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        LifecycleConfiguration=LifecycleConfiguration(Rules=rules),
        Tags=_tags(control_ids, tags),
    )
    if bucket_name is not None:
        props["BucketName"] = Sub(bucket_name)
    if versioning:
        props["VersioningConfiguration"] = VersioningConfiguration(Status="Enabled")
    if access_log_bucket is not None:
        # One prefix per source bucket keeps the access-log bucket browsable per source.
        prefix = Sub(bucket_name + "/") if bucket_name is not None else f"{logical_id}/"
        props["LoggingConfiguration"] = LoggingConfiguration(
            DestinationBucketName=Sub(access_log_bucket), LogFilePrefix=prefix
        )
    if object_lock_days is not None:
        props["ObjectLockEnabled"] = True
        props["ObjectLockConfiguration"] = ObjectLockConfiguration(
            ObjectLockEnabled="Enabled",
            Rule=ObjectLockRule(DefaultRetention=DefaultRetention(Mode="COMPLIANCE", Days=object_lock_days)),
        )

    if object_lock_days is not None:
        # Scopes the S3_BUCKET_DEFAULT_LOCK_ENABLED Config rule to the buckets that must be locked.
        tags = {**(tags or {}), OBJECT_LOCK_TAG: "compliance"}
        props["Tags"] = _tags(control_ids, tags)

    bucket = Bucket(logical_id, **props)
    if retain:
        bucket.DeletionPolicy = "Retain"
        bucket.UpdateReplacePolicy = "Retain"
    if access_log_bucket is not None and ACCESS_LOG_BUCKET_ID in template.resources and logical_id != ACCESS_LOG_BUCKET_ID:
        bucket.DependsOn = [ACCESS_LOG_BUCKET_ID]
    template.add_resource(tag_controls(bucket, *control_ids))

    document = PolicyDocument(
        Version="2012-10-17",
        Statement=[tls_only_statement(bucket), *(extra_policy_statements or [])],
    )
    policy = BucketPolicy(logical_id + "Policy", Bucket=Ref(bucket), PolicyDocument=document)
    if retain:
        # The policy carries deny-delete and TLS statements; keep it with the bucket.
        policy.DeletionPolicy = "Retain"
        policy.UpdateReplacePolicy = "Retain"
    template.add_resource(tag_controls(policy, *control_ids))
    return bucket, policy


def access_log_bucket(template: Template, cfg: OrgConfig, *, controls: Iterable[str] = ()) -> tuple[Bucket, BucketPolicy]:
    """The S3 server-access-log bucket of the account and region the stack deploys to.

    Named `naming.access_log_bucket_name(cfg)`, which every other bucket's logging config
    targets. Encrypted with SSE-S3: S3 log delivery (`logging.s3.amazonaws.com`) writes
    with SSE-S3 unless a customer key policy grants it, and the only key that exists in
    every account and region before any other stack is AWS-owned. Access logs are kept for
    the log retention period, then expire.
    """
    statement = Statement(
        Sid="AllowS3ServerAccessLogDelivery",
        Effect=Allow,
        Principal=Principal("Service", "logging.s3.amazonaws.com"),
        Action=[s3_actions.PutObject],
        Resource=[Sub("arn:${AWS::Partition}:s3:::" + access_log_bucket_name(cfg) + "/*")],
        # Only buckets of this account may deliver here (confused-deputy protection).
        Condition=Condition([
            StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
            ArnLike("aws:SourceArn", Sub("arn:${AWS::Partition}:s3:::*")),
        ]),
    )
    expire = LifecycleRule(
        Id="ExpireAccessLogs", Status="Enabled",
        ExpirationInDays=cfg.baseline.log_retention_days,
        NoncurrentVersionExpiration=NoncurrentVersionExpiration(NoncurrentDays=30),
    )
    bucket, policy = secure_bucket(
        template, ACCESS_LOG_BUCKET_ID,
        controls=controls,
        bucket_name=access_log_bucket_name(cfg),
        kms_key_arn=None,
        access_log_bucket=None,
        lifecycle_rules=[expire],
        extra_policy_statements=[statement],
    )
    suppress(bucket, "CKV_AWS_18",
             "This is the server-access-log target bucket itself; logging it to itself would log "
             "every log delivery endlessly. Its reads and writes are recorded by the organization "
             "CloudTrail (S3 data events when enabled).")
    return bucket, policy
