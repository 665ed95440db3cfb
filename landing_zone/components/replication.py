"""Audit data copied to the DR region: S3 replication of the log-archive and evidence buckets.

Two halves, in two stacks of the same account:

- `replica_key` and the replica buckets, in a stack of their own in the DR region
  (`log-archive-replica` from `builders.log_archive`, `evidence-replica` from
  `builders.evidence_store`), deployed first: S3 refuses a replication rule whose destination bucket does not exist or is not
  versioned. A replica of an Object Lock bucket has Object Lock with the same COMPLIANCE
  retention (S3 replicates a locked object only into a bucket with Object Lock enabled, and
  each replica keeps its source's retain-until date);
- `replicate`, in the home region's stack that owns the source buckets: the replication role
  and each bucket's replication rule.

The replication role may read only the source buckets' versions (and their retention and legal
hold where locked), decrypt only through S3 in the home region, write replicas only into the
replica buckets and encrypt only with the DR key, through S3 in the DR region. Delete markers
are not replicated (nobody may delete audit data; `s3:ReplicateDelete` is not granted), and
both accounts are the same, so no ownership override is needed. At or below an RPO of
15 minutes (`RTC_AT_OR_BELOW_MINUTES`) the rule uses Replication Time Control, S3's
15-minute replication SLA, with its metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs.aws import (
    Allow,
    Condition,
    ForAnyValueStringEquals,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from awacs.sts import AssumeRole
from troposphere import GetAtt, Ref, Sub, Tags, Template
from troposphere.iam import Policy, Role
from troposphere.kms import Alias, Key
from troposphere.s3 import (
    Bucket,
    DeleteMarkerReplication,
    EncryptionConfiguration,
    Metrics,
    ReplicationConfiguration,
    ReplicationConfigurationRules,
    ReplicationConfigurationRulesDestination,
    ReplicationRuleFilter,
    ReplicationTime,
    ReplicationTimeValue,
    SourceSelectionCriteria,
    SseKmsEncryptedObjects,
)

from charter.config.model import RTC_AT_OR_BELOW_MINUTES, OrgConfig
from charter.landing_zone.metadata import control_tags, controls

#: Key administration actions: manage the key, never use it (admins apart from users).
KEY_ADMIN_ACTIONS = ("Create*", "Describe*", "Enable*", "List*", "Put*", "Update*", "Revoke*", "Disable*", "Get*",
                     "Delete*", "TagResource", "UntagResource", "ScheduleKeyDeletion", "CancelKeyDeletion",
                     "RotateKeyOnDemand")


def replicates(cfg: OrgConfig) -> bool:
    """Audit data is replicated whenever the DR region is another region."""
    return cfg.dr_region != cfg.organization.home_region


def replica_name(cfg: OrgConfig, source_name: str) -> str:
    """The replica of a bucket named `<...>-<home region>` is `<...>-<DR region>` (for `Fn::Sub`)."""
    home = cfg.organization.home_region
    if not source_name.endswith("-" + home):
        raise ValueError(f"bucket name {source_name!r} does not end with the home region")
    return source_name[: -len(home)] + cfg.dr_region


def replica_key_alias(cfg: OrgConfig, purpose: str) -> str:
    return f"alias/{cfg.organization.name}-{purpose}-replica"


def replica_key(t: Template, cfg: OrgConfig, purpose: str, readers: Sequence[Sub], *control_ids: str) -> Key:
    """The DR region's key for the replicas: the account administers it, S3 (in the DR region)
    encrypts replicas with it for the account's replication role and decrypts them for `readers`."""
    root = Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    via_s3 = StringEquals("kms:ViaService", Sub("s3.${AWS::Region}.amazonaws.com"))
    policy = PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="KeyAdministration", Effect=Allow, Principal=Principal("AWS", root),
                  Action=[kms_actions.Action(a) for a in KEY_ADMIN_ACTIONS], Resource=["*"]),
        # the replication role's own policy narrows this to itself and to this key's alias
        Statement(Sid="ReplicationWritesThroughS3", Effect=Allow, Principal=Principal("AWS", root),
                  Action=[kms_actions.Encrypt, kms_actions.GenerateDataKey], Resource=["*"],
                  Condition=Condition(via_s3)),
        Statement(Sid="ReadReplicasThroughS3", Effect=Allow, Principal=Principal("AWS", [root, *readers]),
                  Action=[kms_actions.Decrypt, kms_actions.DescribeKey], Resource=["*"], Condition=Condition(via_s3)),
    ])
    key = Key(f"{purpose.title().replace('-', '')}ReplicaKey",
              Description=f"Charter: encrypts the DR-region replicas of the {cfg.organization.name} {purpose} buckets",
              EnableKeyRotation=True, RotationPeriodInDays=cfg.baseline.kms_rotation_days, PendingWindowInDays=30,
              KeyPolicy=policy, Tags=Tags(**control_tags(*control_ids)))
    key.DeletionPolicy = "Retain"  # it decrypts years of replicated audit data
    key.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(key, *control_ids))
    t.add_resource(controls(Alias(key.title + "Alias", AliasName=replica_key_alias(cfg, purpose),
                                  TargetKeyId=Ref(key)), *control_ids))
    return key


@dataclass(frozen=True)
class Source:
    """A bucket to replicate: the bucket resource, its name (`Fn::Sub` string) and whether it
    has Object Lock."""

    bucket: Bucket
    name: str
    locked: bool = False


def _arn(name: str, suffix: str = "") -> Sub:
    return Sub("arn:${AWS::Partition}:s3:::" + name + suffix)


def replicate(t: Template, cfg: OrgConfig, logical: str, sources: Sequence[Source], source_key: object,
              purpose: str, rpo_minutes: int, *control_ids: str) -> Role:
    """Replicate `sources` (all encrypted with `source_key`) into their replicas in the DR
    region; returns the replication role."""
    home, dr = cfg.organization.home_region, cfg.dr_region
    alias = replica_key_alias(cfg, purpose)
    reads = [s3_actions.GetObjectVersionForReplication, s3_actions.GetObjectVersionAcl,
             s3_actions.GetObjectVersionTagging]
    statements = [
        Statement(Sid="ReadReplicationConfiguration", Effect=Allow,
                  Action=[s3_actions.GetReplicationConfiguration, s3_actions.ListBucket],
                  Resource=[_arn(s.name) for s in sources]),
        Statement(Sid="ReadSourceVersions", Effect=Allow, Action=reads,
                  Resource=[_arn(s.name, "/*") for s in sources]),
    ]
    locked = [s for s in sources if s.locked]
    if locked:
        # S3 copies each version's retention and legal hold along with it
        statements.append(Statement(Sid="ReadSourceObjectLock", Effect=Allow,
                                    Action=[s3_actions.GetObjectRetention, s3_actions.GetObjectLegalHold],
                                    Resource=[_arn(s.name, "/*") for s in locked]))
    statements += [
        Statement(Sid="WriteReplicas", Effect=Allow, Action=[s3_actions.ReplicateObject, s3_actions.ReplicateTags],
                  Resource=[_arn(replica_name(cfg, s.name), "/*") for s in sources]),
        Statement(Sid="DecryptSourcesThroughS3", Effect=Allow, Action=[kms_actions.Decrypt],
                  Resource=[source_key],
                  Condition=Condition(StringEquals("kms:ViaService", f"s3.{home}.amazonaws.com"))),
        # the DR key lives in another stack and region: named by its alias, as S3 is told
        Statement(Sid="EncryptReplicasThroughS3", Effect=Allow, Action=[kms_actions.Encrypt, kms_actions.GenerateDataKey],
                  Resource=[Sub(f"arn:${{AWS::Partition}}:kms:{dr}:${{AWS::AccountId}}:key/*")],
                  Condition=Condition([ForAnyValueStringEquals("kms:ResourceAliases", alias),
                                       StringEquals("kms:ViaService", f"s3.{dr}.amazonaws.com")])),
    ]
    trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Service", "s3.amazonaws.com"), Action=[AssumeRole],
        Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))))])
    role = t.add_resource(controls(Role(
        logical, AssumeRolePolicyDocument=trust, MaxSessionDuration=3600,
        Description=f"S3 replicates the {purpose} bucket(s) to {dr}",
        Policies=[Policy(PolicyName="replicate-to-dr", PolicyDocument=PolicyDocument(
            Version="2012-10-17", Statement=statements))],
        Tags=Tags(ManagedBy="charter")), *control_ids))

    key_arn = Sub(f"arn:${{AWS::Partition}}:kms:{dr}:${{AWS::AccountId}}:{alias}")
    for s in sources:
        destination = ReplicationConfigurationRulesDestination(
            Bucket=_arn(replica_name(cfg, s.name)), StorageClass="STANDARD",
            EncryptionConfiguration=EncryptionConfiguration(ReplicaKmsKeyID=key_arn))
        if rpo_minutes <= RTC_AT_OR_BELOW_MINUTES:
            fifteen = ReplicationTimeValue(Minutes=15)  # the only value S3 accepts
            destination.ReplicationTime = ReplicationTime(Status="Enabled", Time=fifteen)
            destination.Metrics = Metrics(Status="Enabled", EventThreshold=fifteen)
        s.bucket.ReplicationConfiguration = ReplicationConfiguration(Role=GetAtt(role, "Arn"), Rules=[
            ReplicationConfigurationRules(
                Id="ToDrRegion", Status="Enabled", Priority=1, Filter=ReplicationRuleFilter(Prefix=""),
                DeleteMarkerReplication=DeleteMarkerReplication(Status="Disabled"),
                SourceSelectionCriteria=SourceSelectionCriteria(
                    SseKmsEncryptedObjects=SseKmsEncryptedObjects(Status="Enabled")),
                Destination=destination)])
    return role
