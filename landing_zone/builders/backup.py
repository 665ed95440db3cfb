"""Backups that meet the RPO, in a locked vault, copied to the DR region (BCK-01, BCK-02).

One service-managed StackSet per workload environment with accounts (`backup-<env>`),
built for the environment's recovery targets (`baseline.backup.targets`), filtered to that environment's accounts and
deployed to the home region and the DR region:
- both regions get a vault with the same name, encrypted with the environment key and
  under Vault Lock (compliance mode after a 3-day grace period: nobody, root included,
  can delete recovery points early or lift the lock afterwards);
- the home region gets the backup plan and the selections (S3 buckets tagged `backup: charter`,
  which the workload's data buckets carry, `workloads.stacks.data.BACKED_UP`, plus every
  DynamoDB table; both by resource type, so AWS Backup's per-type opt-in does not apply;
  the account baseline turns on the advanced DynamoDB features that copying tables to the
  DR region needs), whose rule runs often enough for the RPO (at most hourly: AWS Backup's
  shortest schedule) and copies each recovery point into the DR region's vault. An RPO under
  an hour adds continuous backup, point-in-time restore of S3 within the home region;
  DynamoDB tables always have point-in-time recovery on (`workloads.stacks.data`). A
  region's loss loses at most one schedule interval: copies are made of the snapshots.

RTO and RPO are recorded in the stack facts for the disaster-recovery runbook (BCK-04);
`charter validate` refuses targets this design cannot meet (`config.checks.recovery_targets`).
"""

from __future__ import annotations

from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import Equals, GetAtt, Ref, Sub, Tags, Template
from troposphere.backup import (
    BackupPlan,
    BackupPlanResourceType,
    BackupRuleResourceType,
    BackupSelection,
    BackupSelectionResourceType,
    BackupVault,
    ConditionParameter,
    Conditions,
    CopyActionResourceType,
    LifecycleResourceType,
    LockConfigurationType,
)
from troposphere.iam import Role

from charter.config.model import (
    CONTINUOUS_BELOW_MINUTES,
    CONTINUOUS_MAX_DAYS,
    WORKLOAD_ENVIRONMENTS,
    OrgConfig,
    format_minutes,
)
from charter.landing_zone.builders.kms import key_arn_import, member_targets
from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import BACKUP_TAG, resource_name

#: Days before a compliance-mode Vault Lock becomes immutable.
LOCK_GRACE_DAYS = 3


def schedule_for_rpo(rpo_minutes: int) -> str:
    """An AWS Backup cron whose largest gap between runs is at most the RPO, hourly at the
    most often (AWS Backup's shortest schedule; continuous backup covers shorter RPOs)."""
    rpo_hours = max(1, rpo_minutes // 60)
    if rpo_hours == 1:
        return "cron(0 * ? * * *)"
    if rpo_hours < 24:
        return f"cron(0 0/{rpo_hours} ? * * *)"
    if rpo_hours < 48:
        return "cron(0 5 ? * * *)"
    if rpo_hours < 168:
        # every k days; the month boundary only ever shortens a gap
        return f"cron(0 5 1/{rpo_hours // 24} * ? *)"
    return "cron(0 5 ? * 1 *)"


def vault_name(cfg: OrgConfig, environment: str) -> str:
    return resource_name(cfg, environment, "vault")


def template(cfg: OrgConfig, environment: str) -> Template:
    b = cfg.baseline.backup
    rpo = b.rpo_minutes(environment)
    home, dr = cfg.organization.home_region, cfg.dr_region
    retention = b.retention_days
    name = vault_name(cfg, environment)
    t = Template(Description=f"Charter: {environment} backups (RPO {format_minutes(rpo)}) with Vault Lock and DR copy "
                             "(BCK-01, BCK-02)")
    t.add_condition("IsHomeRegion", Equals(Ref("AWS::Region"), home))

    vault = BackupVault(
        "BackupVault", BackupVaultName=name, EncryptionKeyArn=key_arn_import(),
        LockConfiguration=LockConfigurationType(MinRetentionDays=retention, MaxRetentionDays=max(retention, 3653),
                                                ChangeableForDays=LOCK_GRACE_DAYS),
        BackupVaultTags={"ManagedBy": "charter", "Environment": environment})
    vault.DeletionPolicy = "Retain"
    vault.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(vault, "BCK-01", "BCK-02"))

    trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Service", "backup.amazonaws.com"), Action=[Action("sts", "AssumeRole")],
        Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))))])
    role = Role("BackupRole", AssumeRolePolicyDocument=trust, MaxSessionDuration=3600,
                Description="AWS Backup creates and restores recovery points of selected resources",
                # AWS's managed policies for Backup; the S3 pair is needed for tag-selected buckets
                ManagedPolicyArns=[Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"),
                                   Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"),
                                   Sub("arn:${AWS::Partition}:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup"),
                                   Sub("arn:${AWS::Partition}:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore")],
                Tags=Tags(ManagedBy="charter"))
    role.Condition = "IsHomeRegion"
    t.add_resource(controls(role, "BCK-01"))

    copies = []
    if b.copy_to_dr and dr != home:
        copies = [CopyActionResourceType(
            DestinationBackupVaultArn=Sub(f"arn:${{AWS::Partition}}:backup:{dr}:${{AWS::AccountId}}:backup-vault:{name}"),
            Lifecycle=LifecycleResourceType(DeleteAfterDays=retention))]
    rule = BackupRuleResourceType(
        RuleName=f"rpo-{rpo}min", TargetBackupVault=Ref(vault), ScheduleExpression=schedule_for_rpo(rpo),
        StartWindowMinutes=60, CompletionWindowMinutes=max(120, min(rpo, 24 * 60)),
        Lifecycle=LifecycleResourceType(DeleteAfterDays=retention),
        RecoveryPointTags={"ManagedBy": "charter", "RpoMinutes": str(rpo)},
        **({"CopyActions": copies} if copies else {}))
    if rpo < CONTINUOUS_BELOW_MINUTES and retention <= CONTINUOUS_MAX_DAYS:  # validate refuses a longer retention
        rule.EnableContinuousBackup = True  # point-in-time restore between the hourly runs
    plan = BackupPlan("BackupPlan", BackupPlan=BackupPlanResourceType(
        BackupPlanName=resource_name(cfg, environment, "plan"), BackupPlanRule=[rule]),
        BackupPlanTags={"ManagedBy": "charter", "Environment": environment})
    plan.Condition = "IsHomeRegion"
    t.add_resource(controls(plan, "BCK-01", "BCK-02"))

    key, value = BACKUP_TAG
    selections = {
        # Buckets by resource type and tag: a selection by tags alone picks only the resource
        # types opted in to AWS Backup in the region (S3 is not by default); a named type is
        # backed up whatever the opt-in says.
        "TaggedResources": {"Resources": [Sub("arn:${AWS::Partition}:s3:::*")], "Conditions": Conditions(
            StringEquals=[ConditionParameter(ConditionKey=f"aws:ResourceTag/{key}", ConditionValue=value)])},
        "DynamoDbTables": {"Resources": [Sub("arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*")]},
    }
    for sel_name, how in selections.items():
        sel = BackupSelection(f"{sel_name}Selection", BackupPlanId=Ref(plan), BackupSelection=BackupSelectionResourceType(
            SelectionName=f"charter-{sel_name}", IamRoleArn=GetAtt(role, "Arn"), **how))
        sel.Condition = "IsHomeRegion"
        t.add_resource(controls(sel, "BCK-01"))
    return t


def backed_up_environments(cfg: OrgConfig) -> list[str]:
    """Every workload environment with accounts: each has recovery targets (set or default)."""
    return [env for env in WORKLOAD_ENVIRONMENTS if cfg.accounts_in(env)]


@builder("backup", controls=["BCK-01", "BCK-02"],
         description="Backup vault with Vault Lock, RPO-driven plans and cross-region copy to the DR region.")
def build(cfg: OrgConfig) -> list[StackSpec]:
    b = cfg.baseline.backup
    if not b.enabled:
        return []
    regions = list(dict.fromkeys([cfg.organization.home_region, cfg.dr_region]))
    specs = []
    for env in backed_up_environments(cfg):
        names = [a.name for a in cfg.accounts_in(env)]
        specs.append(StackSpec(f"backup-{env}", template(cfg, env), Deployment(
            kind="stackset", permission_model="SERVICE_MANAGED", regions=regions, order=30,
            depends_on=[f"kms-{env}"], **member_targets(cfg, names)),
            facts={"account_filter": "INTERSECTION", "environment": env,
                   "rpo_minutes": b.rpo_minutes(env), "rto_minutes": b.rto_minutes(env),
                   "continuous_backup": b.rpo_minutes(env) < CONTINUOUS_BELOW_MINUTES,
                   "schedule": schedule_for_rpo(b.rpo_minutes(env)), "retention_days": b.retention_days,
                   "dr_region": cfg.dr_region if b.copy_to_dr else None, "vault": vault_name(cfg, env),
                   "selection": {"s3_buckets_tagged": dict([BACKUP_TAG]), "all_dynamodb_tables": True}}))
    return specs
