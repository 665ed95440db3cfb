"""The DR region's copies of the audit data: replicas of the log-archive and evidence buckets.

Two stacks in the DR region (`organization.dr_region`), each in the account that owns the
source buckets, deployed before the stack that replicates into them (S3 refuses a
replication rule whose destination does not exist yet):

- `log-archive-replica` (log-archive account, wave 5, before the log archive itself): the
  replica key and a replica of each log bucket (CloudTrail, Config, flow logs), the
  CloudTrail replica under Object Lock with the source's COMPLIANCE retention, the same
  deny-delete policy and lifecycle; plus the account's S3 access-log bucket in that region,
  which the account baseline (wave 30) would come too late to provide;
- `evidence-replica` (audit account, wave 35, after the account baseline and before the
  evidence store): the replica key and the evidence bucket's replica, under Object Lock.

The replication rules and role are in the source stacks (`components.replication.replicate`);
Replication Time Control is on where the account's environment has an RPO of 15 minutes or
less (`baseline.backup.targets`). Nothing is built when the DR region is the home region.
"""

from __future__ import annotations

from troposphere import GetAtt, Output, Ref, Sub, Template

from charter.landing_zone.builders.log_archive import (
    archive_lifecycle,
    deny_delete,
    log_retention_days,
)
from charter.landing_zone.components.replication import replica_key, replica_name, replicates
from charter.landing_zone.components.s3 import access_log_bucket, secure_bucket
from charter.landing_zone.config.model import OrgConfig
from charter.landing_zone.context import context_parameter
from charter.landing_zone.naming import (
    access_log_bucket_name,
    evidence_bucket_name,
    log_bucket_name,
)
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec

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


def evidence_replica(cfg: OrgConfig) -> Template:
    t = Template(Description=f"Charter: DR-region replica of the {cfg.organization.name} evidence store "
                             f"({cfg.dr_region}, EVD-01)")
    context_parameter(t, "AuditAccountId")
    key = replica_key(t, cfg, "evidence", [], *EVIDENCE_CONTROLS)
    bucket, _ = secure_bucket(
        t, "EvidenceReplica", controls=EVIDENCE_CONTROLS, bucket_name=replica_name(cfg, evidence_bucket_name(cfg)),
        kms_key_arn=GetAtt(key, "Arn"), access_log_bucket=access_log_bucket_name(cfg),
        object_lock_days=cfg.baseline.object_lock_days)
    t.add_output(Output("EvidenceReplicaName", Value=Ref(bucket)))
    return t


@builder("dr_replicas", controls=["LOG-03", "EVD-01", "ENC-02", "ENC-04", "DAT-01", "LOG-05"],
         description="DR-region replicas (Object Lock, own KMS key) of the log-archive and evidence buckets.")
def build(cfg: OrgConfig) -> list[StackSpec]:
    if not replicates(cfg):
        return []
    dr = cfg.dr_region
    b = cfg.baseline.backup
    return [
        StackSpec("log-archive-replica", log_archive_replica(cfg), Deployment(
            kind="stack", account=cfg.account("log-archive").name, regions=[dr], order=5),
            facts={"dr_region": dr, "replicates": [k for k, _, _ in log_kinds(cfg)],
                   "rpo_minutes": b.rpo_minutes("log-archive")}),
        StackSpec("evidence-replica", evidence_replica(cfg), Deployment(
            kind="stack", account=cfg.account("audit").name, regions=[dr], order=35, depends_on=["account-baseline"]),
            facts={"dr_region": dr, "replicates": ["evidence"], "rpo_minutes": b.rpo_minutes("audit")}),
    ]
