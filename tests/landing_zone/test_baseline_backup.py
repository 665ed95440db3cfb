"""BCK-01, BCK-02: plans meeting the RPO, Vault Lock, copies to the DR region."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.landing_zone.builders import backup
from charter.landing_zone.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def specs(cfg):
    return {s.name: s for s in backup.build(cfg)}


def _rule(spec):
    plan = spec.template.to_dict()["Resources"]["BackupPlan"]
    [rule] = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    return plan, rule


def test_one_stackset_per_workload_environment_with_an_rpo(cfg, specs):
    assert set(specs) == {"backup-prod", "backup-staging", "backup-dev"}
    dep = specs["backup-prod"].deployment
    assert dep.target_accounts == ["prod"] and dep.regions == [cfg.organization.home_region, cfg.dr_region]


def test_prod_plan_is_hourly_and_copies_to_the_dr_vault(cfg, specs):
    plan, rule = _rule(specs["backup-prod"])
    assert rule["ScheduleExpression"] == "cron(0 * ? * * *)"
    assert rule["EnableContinuousBackup"] is True  # point in time between the hourly runs
    [copy] = rule["CopyActions"]
    arn = copy["DestinationBackupVaultArn"]["Fn::Sub"]
    assert f":backup:{cfg.dr_region}:" in arn and arn.endswith(f"backup-vault:{backup.vault_name(cfg, 'prod')}")
    assert copy["Lifecycle"]["DeleteAfterDays"] == cfg.baseline.backup.retention_days
    assert rule["Lifecycle"]["DeleteAfterDays"] == cfg.baseline.backup.retention_days
    assert plan["Condition"] == "IsHomeRegion"  # the DR region holds only the vault


def test_daily_rpo_gets_a_daily_plan(specs):
    _, rule = _rule(specs["backup-dev"])
    assert rule["ScheduleExpression"] == "cron(0 5 ? * * *)"
    assert "EnableContinuousBackup" not in rule


@pytest.mark.parametrize(("rpo", "expected"), [
    (5, "cron(0 * ? * * *)"), (60, "cron(0 * ? * * *)"), (90, "cron(0 * ? * * *)"), (240, "cron(0 0/4 ? * * *)"),
    (1440, "cron(0 5 ? * * *)"), (4320, "cron(0 5 1/3 * ? *)"), (10080, "cron(0 5 ? * 1 *)"),
])
def test_schedule_never_exceeds_the_rpo(rpo, expected):
    assert backup.schedule_for_rpo(rpo) == expected


def test_vault_is_locked_encrypted_and_retained(cfg, specs):
    vault = specs["backup-staging"].template.to_dict()["Resources"]["BackupVault"]
    props = vault["Properties"]
    assert props["EncryptionKeyArn"] == {"Fn::ImportValue": "charter-kms-key-arn"}
    lock = props["LockConfiguration"]
    assert lock["MinRetentionDays"] == cfg.baseline.backup.retention_days
    # compliance mode after AWS's shortest grace period: ChangeableForDays is at least 3 days
    # (AWS Backup Vault Lock); after it nobody, root included, can delete the lock or the backups
    assert lock["ChangeableForDays"] == 3
    assert vault["DeletionPolicy"] == "Retain"
    assert {"BCK-01", "BCK-02"} <= set(vault["Metadata"]["Charter"]["Controls"])


def test_selection_names_the_s3_type_and_the_tag_the_workload_buckets_carry(specs):
    """A selection by tags alone picks only the types opted in to AWS Backup in the region, and
    S3 is not opted in by default: the buckets must be selected by resource type (then the
    opt-in does not apply) and narrowed by the tag the workload's data buckets carry."""
    from charter.workloads.stacks.data import BACKED_UP

    res = specs["backup-prod"].template.to_dict()["Resources"]
    selection = res["TaggedResourcesSelection"]["Properties"]["BackupSelection"]
    assert "ListOfTags" not in selection
    assert selection["Resources"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}]
    [(key, value)] = BACKED_UP.items()
    assert selection["Conditions"] == {"StringEquals": [{"ConditionKey": f"aws:ResourceTag/{key}",
                                                          "ConditionValue": value}]}
    tables = res["DynamoDbTablesSelection"]["Properties"]["BackupSelection"]["Resources"]
    assert tables[0]["Fn::Sub"].endswith(":table/*")


def test_rto_rpo_recorded_for_the_runbooks(cfg, specs):
    facts = specs["backup-prod"].facts
    assert facts["rpo_minutes"] == 5 and facts["rto_minutes"] == 60 and facts["continuous_backup"] is True
    assert facts["dr_region"] == cfg.dr_region


def _with_targets(cfg, **targets):
    from charter.config.model import RecoveryTarget

    backup_settings = cfg.baseline.backup.model_copy(update={"targets": {
        env: RecoveryTarget.model_validate(t) for env, t in targets.items()}})
    return cfg.model_copy(update={"baseline": cfg.baseline.model_copy(update={"backup": backup_settings})})


def test_plans_follow_the_targets_set_and_the_defaults(cfg):
    """An environment without targets gets the default pair (prod RPO 5 min / RTO 1 h, the
    others RPO 1 h / RTO 4 h); continuous backup only below an hour."""
    specs = {s.name: s for s in backup.build(_with_targets(cfg, dev={"rpo": "4h"}))}
    _, prod = _rule(specs["backup-prod"])
    assert prod["ScheduleExpression"] == "cron(0 * ? * * *)" and prod["EnableContinuousBackup"] is True
    _, staging = _rule(specs["backup-staging"])
    assert staging["ScheduleExpression"] == "cron(0 * ? * * *)" and "EnableContinuousBackup" not in staging
    assert specs["backup-staging"].facts["rto_minutes"] == 240
    _, dev = _rule(specs["backup-dev"])
    assert dev["ScheduleExpression"] == "cron(0 0/4 ? * * *)" and "EnableContinuousBackup" not in dev


def test_validate_refuses_targets_the_design_cannot_meet(cfg):
    from charter.config.checks import recovery_targets

    assert list(recovery_targets(cfg)) == []
    problems = {loc: (msg, fix) for loc, msg, fix in recovery_targets(_with_targets(cfg, prod={"rpo": "1m", "rto": "15m"}))}
    msg, fix = problems[("baseline", "backup", "targets", "prod", "rpo")]
    assert "point-in-time" in msg and fix == "set rpo to 5m or more"
    msg, fix = problems[("baseline", "backup", "targets", "prod", "rto")]
    assert "redeploys" in msg and fix == "set rto to 1h or more"
    unset = _with_targets(cfg)
    longer = unset.model_copy(update={"baseline": unset.baseline.model_copy(update={
        "backup": unset.baseline.backup.model_copy(update={"retention_days": 90})})})
    [(loc, msg, fix)] = recovery_targets(longer)  # prod's default 5-minute RPO needs continuous backup
    assert loc == ("baseline", "backup") and "35 days" in msg and "retention_days" in fix
