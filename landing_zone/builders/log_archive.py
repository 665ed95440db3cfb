"""The log archive: where every account's audit logs land and cannot be altered.

One stack in the log-archive account's home region holds:

- the logs KMS key (`alias/<org>-logs`, annual rotation), whose policy separates key
  administrators (the account's IAM, admin actions only) from key users (CloudTrail, AWS
  Config and `delivery.logs.amazonaws.com`, each pinned to this organization or this trail,
  plus read-only decrypt for the log-archive, audit and security accounts through S3);
- the CloudTrail bucket: Object Lock in COMPLIANCE mode for `baseline.object_lock_days`,
  deny-delete and TLS-only policies, lifecycle to Glacier, write access for the
  organization trail only (LOG-03);
- the Config bucket (AWS Config delivery channels of every account and region);
- the flow-logs bucket (VPC flow logs of every account, LOG-06);
- the account's own S3 server-access-log bucket (LOG-05);
- S3 replication of the log buckets into their replicas in the DR region
  (`components.replication`).

A second stack, `log-archive-replica` (same account, DR region, wave 5: S3 refuses a
replication rule whose destination does not exist yet), holds the replica key and a replica of
each log bucket, the CloudTrail replica under Object Lock with the source's retention, the same
deny-delete policy and lifecycle, and the account's S3 access-log bucket in that region, which
the account baseline (wave 30) would come too late to provide. Nothing is replicated when the
DR region is the home region.

Other stacks reach these by name (`naming.log_bucket_name`) and by the key alias ARN
(`logs_key_arn`), both derivable from the `LogArchiveAccountId` deploy-time parameter, so no
cross-account export is needed.
"""

from __future__ import annotations

from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs.aws import (
    Allow,
    AWSPrincipal,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
    StringLike,
)
from troposphere import Export, GetAtt, Output, Ref, Sub, Tags, Template
from troposphere.kms import Alias, Key
from troposphere.s3 import LifecycleRule, LifecycleRuleTransition, NoncurrentVersionExpiration

from charter.config.model import OrgConfig
from charter.landing_zone.components.replication import (
    Source,
    replica_key,
    replica_name,
    replicate,
    replicates,
)
from charter.landing_zone.components.s3 import access_log_bucket, secure_bucket
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import control_tags, controls
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import access_log_bucket_name, log_bucket_name

#: Key administration actions: manage the key, never use it (admins separate from users).
KEY_ADMIN_ACTIONS = [
    kms_actions.Action(a) for a in (
        "Create*", "Describe*", "Enable*", "List*", "Put*", "Update*", "Revoke*", "Disable*",
        "Get*", "Delete*", "TagResource", "UntagResource", "ScheduleKeyDeletion", "CancelKeyDeletion",
        "RotateKeyOnDemand",
    )
]

#: Days after which log objects move to S3 Glacier Flexible Retrieval.
GLACIER_AFTER_DAYS = 90


# -- names other builders use -----------------------------------------------------------

def logs_key_alias(cfg: OrgConfig) -> str:
    return f"alias/{cfg.organization.name}-logs"


def logs_key_arn(cfg: OrgConfig) -> str:
    """`Fn::Sub` string of the logs key's alias ARN (needs the `LogArchiveAccountId` parameter).

    CloudTrail, AWS Config and S3 accept an alias ARN wherever they take a key ARN, which
    lets stacks in other accounts name the key without a cross-account export."""
    return (f"arn:${{AWS::Partition}}:kms:{cfg.organization.home_region}:${{LogArchiveAccountId}}:"
            f"{logs_key_alias(cfg)}")


def trail_name(cfg: OrgConfig) -> str:
    return f"{cfg.organization.name}-organization-trail"


def trail_arn(cfg: OrgConfig) -> str:
    """`Fn::Sub` string of the organization trail ARN (needs `ManagementAccountId`)."""
    return (f"arn:${{AWS::Partition}}:cloudtrail:{cfg.organization.home_region}:${{ManagementAccountId}}:"
            f"trail/{trail_name(cfg)}")


def log_retention_days(cfg: OrgConfig) -> int:
    """Archived logs expire after the longer of the log retention and the Object Lock period."""
    return max(cfg.baseline.log_retention_days, cfg.baseline.object_lock_days)


# -- the stack --------------------------------------------------------------------------

def archive_lifecycle(expire_days: int) -> list[LifecycleRule]:
    transitions = None
    if expire_days > 2 * GLACIER_AFTER_DAYS:  # Glacier has a 90-day minimum; only worth it for long retention
        transitions = [LifecycleRuleTransition(StorageClass="GLACIER", TransitionInDays=GLACIER_AFTER_DAYS)]
    rule = LifecycleRule(
        Id="ArchiveThenExpire", Status="Enabled", ExpirationInDays=expire_days,
        # Expiry of a locked object adds a delete marker; the locked version itself goes only
        # after its retain-until date has passed.
        NoncurrentVersionExpiration=NoncurrentVersionExpiration(NoncurrentDays=1),
    )
    if transitions:
        rule.Transitions = transitions
    return [rule]


def deny_delete(arn: str) -> Statement:
    """Nobody deletes archived logs or the bucket. Lifecycle expiry is done by S3 itself and
    is not subject to bucket policies, so retention still ends on schedule."""
    return Statement(
        Sid="DenyLogDeletion", Effect=Deny, Principal=Principal("*"),
        Action=[s3_actions.DeleteObject, s3_actions.DeleteObjectVersion, s3_actions.DeleteBucket],
        Resource=[Sub(arn), Sub(arn + "/*")],
    )


def _org_condition(org_id: Ref, **string_equals: object) -> Condition:
    """Only principals acting for this organization (confused-deputy protection). Extra
    StringEquals keys are merged in: awacs keeps one element per operator."""
    return Condition(StringEquals({"aws:SourceOrgID": org_id, **string_equals}))


def _logs_key(cfg: OrgConfig, t: Template) -> Key:
    org_id = Ref(context_parameter(t, "OrganizationId"))
    readers = [Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")]
    readers += [Sub(f"arn:${{AWS::Partition}}:iam::${{{p}}}:root") for p in ("AuditAccountId", "SecurityAccountId")]
    for p in ("AuditAccountId", "SecurityAccountId"):
        context_parameter(t, p)
    statements = [
        Statement(
            Sid="KeyAdministration", Effect=Allow,
            Principal=AWSPrincipal(Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
            Action=KEY_ADMIN_ACTIONS, Resource=["*"],
        ),
        Statement(
            Sid="ReadArchivedLogsThroughS3", Effect=Allow, Principal=AWSPrincipal(readers),
            Action=[kms_actions.Decrypt, kms_actions.DescribeKey], Resource=["*"],
            Condition=Condition(StringEquals("kms:ViaService", Sub("s3.${AWS::Region}.amazonaws.com"))),
        ),
        Statement(
            Sid="ConfigDelivery", Effect=Allow, Principal=Principal("Service", "config.amazonaws.com"),
            Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey], Resource=["*"],
            Condition=_org_condition(org_id),
        ),
        Statement(
            Sid="FlowLogDelivery", Effect=Allow, Principal=Principal("Service", "delivery.logs.amazonaws.com"),
            Action=[kms_actions.Encrypt, kms_actions.Decrypt, kms_actions.ReEncryptFrom, kms_actions.ReEncryptTo,
                    kms_actions.GenerateDataKey, kms_actions.GenerateDataKeyWithoutPlaintext,
                    kms_actions.DescribeKey],
            Resource=["*"], Condition=_org_condition(org_id),
        ),
    ]
    if cfg.baseline.cloudtrail.enabled:
        trail = Sub(trail_arn(cfg))
        context_parameter(t, "ManagementAccountId")
        statements += [
            Statement(
                Sid="CloudTrailEncrypt", Effect=Allow, Principal=Principal("Service", "cloudtrail.amazonaws.com"),
                Action=[kms_actions.GenerateDataKey], Resource=["*"],
                Condition=Condition([
                    StringEquals("aws:SourceArn", trail),
                    StringLike("kms:EncryptionContext:aws:cloudtrail:arn",
                               Sub("arn:${AWS::Partition}:cloudtrail:*:${ManagementAccountId}:trail/*")),
                ]),
            ),
            Statement(
                Sid="CloudTrailDescribeKey", Effect=Allow, Principal=Principal("Service", "cloudtrail.amazonaws.com"),
                Action=[kms_actions.DescribeKey], Resource=["*"],
                Condition=Condition(StringEquals("aws:SourceArn", trail)),
            ),
        ]
    # LOG-01 only while it encrypts the trail: with CloudTrail off, LOG-01 must show as a gap.
    key_controls = ["LOG-03", "ENC-02"] + (["LOG-01"] if cfg.baseline.cloudtrail.enabled else [])
    key = Key(
        "LogsKey",
        Description=f"Charter: encrypts the {cfg.organization.name} audit log archive (CloudTrail, Config, flow logs)",
        EnableKeyRotation=True,
        RotationPeriodInDays=cfg.baseline.kms_rotation_days,
        PendingWindowInDays=30,
        KeyPolicy=PolicyDocument(Version="2012-10-17", Statement=statements),
        Tags=Tags(**control_tags(*key_controls)),
    )
    key.DeletionPolicy = "Retain"
    key.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(key, *key_controls))
    t.add_resource(controls(Alias("LogsKeyAlias", AliasName=logs_key_alias(cfg), TargetKeyId=Ref(key)),
                            "LOG-03"))
    return key


def build_template(cfg: OrgConfig) -> Template:
    b = cfg.baseline
    t = Template(Description=f"Charter: {cfg.organization.name} log archive (keys, CloudTrail/Config/flow-log buckets)")
    context_parameter(t, "LogArchiveAccountId")
    org_id = Ref(context_parameter(t, "OrganizationId"))
    access_log_bucket(t, cfg)
    key = _logs_key(cfg, t)
    key_arn = GetAtt(key, "Arn")
    expire = log_retention_days(cfg)
    access_logs = access_log_bucket_name(cfg)
    outputs: dict[str, object] = {"LogsKeyArn": key_arn}
    sources: list[Source] = []

    if b.cloudtrail.enabled:
        trail = Sub(trail_arn(cfg))
        name = log_bucket_name(cfg, "cloudtrail")
        arn = f"arn:${{AWS::Partition}}:s3:::{name}"
        bucket, _ = secure_bucket(
            t, "CloudTrailBucket", controls=["LOG-03", "LOG-01"], bucket_name=name, kms_key_arn=key_arn,
            access_log_bucket=access_logs, object_lock_days=b.object_lock_days,
            lifecycle_rules=archive_lifecycle(expire),
            extra_policy_statements=[
                deny_delete(arn),
                Statement(
                    Sid="CloudTrailAclCheck", Effect=Allow, Principal=Principal("Service", "cloudtrail.amazonaws.com"),
                    Action=[s3_actions.GetBucketAcl], Resource=[Sub(arn)],
                    Condition=Condition(StringEquals("aws:SourceArn", trail)),
                ),
                Statement(
                    Sid="CloudTrailOrganizationWrite", Effect=Allow,
                    Principal=Principal("Service", "cloudtrail.amazonaws.com"), Action=[s3_actions.PutObject],
                    # Organization trails write the management account's own events under its
                    # account id and every member's under the organization id.
                    Resource=[Sub(arn + "/AWSLogs/${ManagementAccountId}/*"), Sub(arn + "/AWSLogs/${OrganizationId}/*")],
                    Condition=Condition(StringEquals({"s3:x-amz-acl": "bucket-owner-full-control",
                                                      "aws:SourceArn": trail})),
                ),
            ],
        )
        outputs["CloudTrailBucketName"] = Ref(bucket)
        sources.append(Source(bucket, name, locked=True))

    if b.config.enabled:
        name = log_bucket_name(cfg, "config")
        arn = f"arn:${{AWS::Partition}}:s3:::{name}"
        service = Principal("Service", "config.amazonaws.com")
        bucket, _ = secure_bucket(
            t, "ConfigBucket", controls=["MON-01", "LOG-03"], bucket_name=name, kms_key_arn=key_arn,
            access_log_bucket=access_logs, lifecycle_rules=archive_lifecycle(expire),
            extra_policy_statements=[
                deny_delete(arn),
                Statement(Sid="ConfigBucketPermissionsCheck", Effect=Allow, Principal=service,
                          Action=[s3_actions.GetBucketAcl, s3_actions.ListBucket], Resource=[Sub(arn)],
                          Condition=_org_condition(org_id)),
                Statement(Sid="ConfigDelivery", Effect=Allow, Principal=service, Action=[s3_actions.PutObject],
                          Resource=[Sub(arn + "/AWSLogs/*/Config/*")],
                          Condition=_org_condition(org_id, **{"s3:x-amz-acl": "bucket-owner-full-control"})),
            ],
        )
        outputs["ConfigBucketName"] = Ref(bucket)
        sources.append(Source(bucket, name))

    if b.network.enabled:
        name = log_bucket_name(cfg, "flow-logs")
        arn = f"arn:${{AWS::Partition}}:s3:::{name}"
        service = Principal("Service", "delivery.logs.amazonaws.com")
        bucket, _ = secure_bucket(
            t, "FlowLogsBucket", controls=["LOG-06"], bucket_name=name, kms_key_arn=key_arn,
            access_log_bucket=access_logs, lifecycle_rules=archive_lifecycle(b.network.flow_log_retention_days),
            extra_policy_statements=[
                deny_delete(arn),
                Statement(Sid="FlowLogsAclCheck", Effect=Allow, Principal=service,
                          Action=[s3_actions.GetBucketAcl, s3_actions.ListBucket], Resource=[Sub(arn)],
                          Condition=_org_condition(org_id)),
                Statement(Sid="FlowLogsWrite", Effect=Allow, Principal=service, Action=[s3_actions.PutObject],
                          Resource=[Sub(arn + "/AWSLogs/*")],
                          Condition=_org_condition(org_id, **{"s3:x-amz-acl": "bucket-owner-full-control"})),
            ],
        )
        outputs["FlowLogsBucketName"] = Ref(bucket)
        sources.append(Source(bucket, name))

    if sources and replicates(cfg):
        # into the replicas the log-archive-replica stack made in the DR region (wave 5)
        replicate(t, cfg, "LogReplicationRole", sources, key_arn, "logs", b.backup.rpo_minutes("log-archive"),
                  "LOG-03")

    for name, value in outputs.items():
        t.add_output(Output(name, Value=value, Export=Export(Sub("${AWS::StackName}-" + name))))
    return t


# -- the DR region's replicas (deployed first: S3 refuses a rule into a missing bucket) -----------

LOG_CONTROLS = ("LOG-03", "ENC-02")
EVIDENCE_CONTROLS = ("EVD-01", "ENC-02")


def log_kinds(cfg: OrgConfig) -> list[tuple[str, str, bool]]:
    """(kind, logical id, Object Lock) of each log bucket the log archive builds."""
    b = cfg.baseline
    return [k for k, on in ((("cloudtrail", "CloudTrailBucket", True), b.cloudtrail.enabled),
                            (("config", "ConfigBucket", False), b.config.enabled),
                            (("flow-logs", "FlowLogsBucket", False), b.network.enabled)) if on]


def log_archive_replica(cfg: OrgConfig) -> Template:
    t = Template(Description=f"Charter: DR-region replicas of the {cfg.organization.name} log archive ({cfg.dr_region})")
    context_parameter(t, "LogArchiveAccountId")
    readers = [Sub(f"arn:${{AWS::Partition}}:iam::${{{p}}}:root") for p in ("AuditAccountId", "SecurityAccountId")]
    for p in ("AuditAccountId", "SecurityAccountId"):
        context_parameter(t, p)
    access_log_bucket(t, cfg)
    key = replica_key(t, cfg, "logs", readers, *LOG_CONTROLS)
    for kind, logical, locked in log_kinds(cfg):
        name = replica_name(cfg, log_bucket_name(cfg, kind))
        days = cfg.baseline.network.flow_log_retention_days if kind == "flow-logs" else log_retention_days(cfg)
        bucket, _ = secure_bucket(
            t, logical.replace("Bucket", "Replica"), controls=LOG_CONTROLS, bucket_name=name,
            kms_key_arn=GetAtt(key, "Arn"), access_log_bucket=access_log_bucket_name(cfg),
            object_lock_days=cfg.baseline.object_lock_days if locked else None,
            lifecycle_rules=archive_lifecycle(days),
            extra_policy_statements=[deny_delete(f"arn:${{AWS::Partition}}:s3:::{name}")])
        t.add_output(Output(logical.replace("Bucket", "ReplicaName"), Value=Ref(bucket)))
    return t


@builder("log_archive", controls=["LOG-01", "LOG-03", "LOG-05", "LOG-06", "ENC-02", "ENC-04", "DAT-01", "MON-01"],
         description="Log-archive account: logs KMS key, Object Lock CloudTrail bucket, Config and flow-log buckets.")
def build(cfg: OrgConfig) -> list[StackSpec]:
    home = cfg.organization.home_region
    account = cfg.account("log-archive").name
    replicas = [StackSpec(
        "log-archive-replica", log_archive_replica(cfg),
        Deployment(kind="stack", account=account, regions=[cfg.dr_region], order=5),
        facts={"dr_region": cfg.dr_region, "replicates": [k for k, _, _ in log_kinds(cfg)],
               "rpo_minutes": cfg.baseline.backup.rpo_minutes("log-archive")},
    )] if replicates(cfg) else []
    return [StackSpec(
        "log-archive", build_template(cfg),
        Deployment(kind="stack", account=account, regions=[home], order=10),
        facts={"logs_key_alias": logs_key_alias(cfg), "trail_name": trail_name(cfg),
               "object_lock_days": cfg.baseline.object_lock_days},
    ), *replicas]
