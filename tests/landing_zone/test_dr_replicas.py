"""The log-archive and evidence buckets replicated to the DR region (#26, 13), and S3
Replication Time Control where the recovery target asks for it (#26, 14)."""

from __future__ import annotations

import pytest

from charter.config.model import RecoveryTarget
from charter.landing_zone.builders import account_baseline, evidence_store, log_archive


@pytest.fixture(scope="module")
def replicas(small_config):
    return _replicas(small_config)


def _replicas(cfg):
    """The replica stacks come with their sources' builders, so no plan has one without the other."""
    return {s.name: s for s in [*log_archive.build(cfg), *evidence_store.build(cfg)] if s.name.endswith("-replica")}


def _with(cfg, **updates):
    return cfg.model_copy(update={"baseline": cfg.baseline.model_copy(update={
        "backup": cfg.baseline.backup.model_copy(update=updates)})})


def _res(template):
    return template.to_dict()["Resources"]


def _sources(cfg):
    log = _res(log_archive.build_template(cfg))
    evidence = evidence_store.build(cfg)[0]
    ev = _res(evidence.template)
    return {"CloudTrailBucket": log["CloudTrailBucket"], "ConfigBucket": log["ConfigBucket"],
            "FlowLogsBucket": log["FlowLogsBucket"], "EvidenceBucket": ev["EvidenceBucket"]}, log, ev


def test_replicas_live_in_the_dr_region_and_deploy_before_their_sources(small_config, replicas):
    from charter.landing_zone.registry import builders

    waves = {s.name: s.deployment.order for b in builders().values() for s in b.build(small_config)}
    logs, evidence = replicas["log-archive-replica"].deployment, replicas["evidence-replica"].deployment
    assert logs.regions == [small_config.dr_region] and evidence.regions == [small_config.dr_region]
    assert logs.account == small_config.account("log-archive").name
    assert evidence.account == small_config.account("audit").name
    # S3 refuses a replication rule whose destination bucket does not exist yet
    assert logs.order < waves["log-archive"]
    assert waves["account-baseline"] < evidence.order < waves["evidence-store"]


def test_every_source_replicates_into_its_replica_with_the_dr_key(small_config, replicas):
    sources, _, _ = _sources(small_config)
    replica_res = {**_res(replicas["log-archive-replica"].template), **_res(replicas["evidence-replica"].template)}
    aliases = {r["Properties"]["AliasName"] for r in replica_res.values() if r["Type"] == "AWS::KMS::Alias"}
    for logical, source in sources.items():
        [rule] = source["Properties"]["ReplicationConfiguration"]["Rules"]
        replica = replica_res[logical.replace("Bucket", "Replica")]["Properties"]
        dest = rule["Destination"]
        assert dest["Bucket"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::" + replica["BucketName"]["Fn::Sub"]}
        assert replica["BucketName"]["Fn::Sub"].endswith("-" + small_config.dr_region)
        alias = dest["EncryptionConfiguration"]["ReplicaKmsKeyID"]["Fn::Sub"].rsplit(":", 1)[-1]
        assert alias in aliases and f":kms:{small_config.dr_region}:" in dest["EncryptionConfiguration"][
            "ReplicaKmsKeyID"]["Fn::Sub"]
        assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
        assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}  # nobody deletes audit data
        # versioning on both ends, as S3 replication requires
        assert source["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
        assert replica["VersioningConfiguration"] == {"Status": "Enabled"}
        sse = replica["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert sse["SSEAlgorithm"] == "aws:kms" and "Fn::GetAtt" in sse["KMSMasterKeyID"]
        # a locked source's replica is locked with the same retention; S3 replicates locked
        # objects only into a bucket with Object Lock enabled
        assert replica.get("ObjectLockConfiguration") == source["Properties"].get("ObjectLockConfiguration")
    assert sources["CloudTrailBucket"]["Properties"]["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {
        "Mode": "COMPLIANCE", "Days": small_config.baseline.object_lock_days}


def test_replication_role_is_least_privilege(small_config):
    _, log, ev = _sources(small_config)
    for res, role_id in ((log, "LogReplicationRole"), (ev, "EvidenceReplicationRole")):
        role = res[role_id]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
        statements = role["Policies"][0]["PolicyDocument"]["Statement"]
        actions = {a for s in statements for a in s["Action"]}
        assert actions == {"s3:GetReplicationConfiguration", "s3:ListBucket", "s3:GetObjectVersionForReplication",
                           "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging", "s3:GetObjectRetention",
                           "s3:GetObjectLegalHold", "s3:ReplicateObject", "s3:ReplicateTags", "kms:Decrypt",
                           "kms:Encrypt", "kms:GenerateDataKey"}
        assert all(r != "*" for s in statements for r in s["Resource"])
        by_sid = {s["Sid"]: s for s in statements}
        home, dr = small_config.organization.home_region, small_config.dr_region
        assert by_sid["DecryptSourcesThroughS3"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"s3.{home}.amazonaws.com"}}
        assert by_sid["EncryptReplicasThroughS3"]["Condition"]["StringEquals"] == {
            "kms:ViaService": f"s3.{dr}.amazonaws.com"}
        assert all(r["Fn::Sub"].endswith(f"-{dr}/*") for r in by_sid["WriteReplicas"]["Resource"])


def test_replication_time_control_follows_the_rpo(small_config):
    sources, _, _ = _sources(small_config)
    dest = sources["EvidenceBucket"]["Properties"]["ReplicationConfiguration"]["Rules"][0]["Destination"]
    assert small_config.baseline.backup.rpo_minutes("audit") == 60 and "ReplicationTime" not in dest
    strict = _with(small_config, targets={**small_config.baseline.backup.targets,
                                          "audit": RecoveryTarget(rpo=15), "log-archive": RecoveryTarget(rpo=10)})
    sources, _, _ = _sources(strict)
    for source in sources.values():
        dest = source["Properties"]["ReplicationConfiguration"]["Rules"][0]["Destination"]
        assert dest["ReplicationTime"] == {"Status": "Enabled", "Time": {"Minutes": 15}}
        assert dest["Metrics"] == {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}


def test_no_replicas_without_a_separate_dr_region(small_config):
    org = small_config.organization.model_copy(update={"dr_region": small_config.organization.home_region})
    same = small_config.model_copy(update={"organization": org})
    assert _replicas(same) == {}
    sources, log, _ = _sources(same)
    assert not any("ReplicationConfiguration" in s["Properties"] for s in sources.values())
    assert "LogReplicationRole" not in log


def test_account_baseline_leaves_the_log_archive_dr_access_log_bucket_to_the_replica_stack(small_config, replicas):
    condition = account_baseline.template(small_config).to_dict()["Conditions"]["OwnsAccessLogBucket"]
    regions = [e["Fn::Equals"][1] for e in condition["Fn::Not"][0]["Fn::And"][1]["Fn::Or"]]
    assert regions == [small_config.organization.home_region, small_config.dr_region]
    assert "AccessLogBucket" in _res(replicas["log-archive-replica"].template)
