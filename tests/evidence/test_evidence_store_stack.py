"""The evidence_store builder: Object Lock bucket, signing key, collector Lambda on a schedule; lint-clean."""

from __future__ import annotations

import json

import pytest

from charter.landing_zone.config import load_config, load_config_text
from charter.landing_zone.lint import Linter
from charter.landing_zone.registry import builders

EXAMPLE = "examples/small/org.yaml"


@pytest.fixture(scope="session")
def evstore_linter() -> Linter:
    return Linter(["us-east-1", "us-west-2"])


def _build(cfg):
    from charter.landing_zone.builders.evidence_store import build

    specs = {s.name: s for s in build(cfg)}
    assert set(specs) == {"evidence-store", "evidence-replica"}  # the DR replica comes with its source
    spec = specs["evidence-store"]
    return spec, json.loads(spec.template.to_json())


def _of_type(data, kind):
    return {k: r for k, r in data["Resources"].items() if r["Type"] == kind}


def test_registered_with_its_control():
    """EVD-01 first; the bucket, key and log group also implement the controls they carry."""
    b = builders()["evidence_store"]
    assert b.controls[0] == "EVD-01"
    tagged = {cid for res in _build(load_config(EXAMPLE))[1]["Resources"].values()
              for cid in res["Metadata"]["Charter"]["Controls"]}
    assert tagged == set(b.controls)


def test_deploys_to_the_audit_account_home_region_after_the_baselines():
    cfg = load_config(EXAMPLE)
    spec, _ = _build(cfg)
    d = spec.deployment
    assert (d.kind, d.account, d.regions, d.order) == ("stack", "audit", ["us-east-1"], 40)
    assert spec.facts["assets"][0]["parameter"] == "CodeKey"
    assert spec.facts["signing_key_alias"] == "alias/acme-evidence-signing"


def test_bucket_is_object_locked_encrypted_tls_only_and_private():
    text = open(EXAMPLE).read()
    assert "\nbaseline:\n" in text
    text = text.replace("\nbaseline:\n", "\nbaseline:\n  object_lock_days: 3650\n", 1)
    cfg = load_config_text(text, "org.yaml")
    _, data = _build(cfg)
    [bucket] = _of_type(data, "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    assert props["BucketName"] == {"Fn::Sub": "acme-evidence-${AuditAccountId}-us-east-1"}
    assert props["ObjectLockEnabled"] is True
    retention = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention == {"Mode": "COMPLIANCE", "Days": 3650}
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "aws:kms"
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert bucket["DeletionPolicy"] == "Retain"
    [policy] = _of_type(data, "AWS::S3::BucketPolicy").values()
    tls = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
           if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert tls


def test_signing_key_is_asymmetric_and_only_the_collector_role_signs():
    _, data = _build(load_config(EXAMPLE))
    keys = _of_type(data, "AWS::KMS::Key")
    signing = keys["EvidenceSigningKey"]["Properties"]
    assert (signing["KeySpec"], signing["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    stmts = signing["KeyPolicy"]["Statement"]
    assert all(s["Principal"] != "*" and s["Principal"].get("AWS") != "*" for s in stmts)
    assert keys["EvidenceDataKey"]["Properties"]["EnableKeyRotation"] is True


def test_collector_role_and_lambda():
    cfg = load_config(EXAMPLE)
    _, data = _build(cfg)
    roles = _of_type(data, "AWS::IAM::Role")
    # S3 replicates the store to the DR region; the scheduled run's state machine and its schedule
    assert set(roles) == {"CollectorRole", "EvidenceReplicationRole", "RunStateMachineRole", "RunScheduleRole"}
    role = roles["CollectorRole"]
    assert role["Properties"]["RoleName"] == "CharterEvidenceCollector"
    doc = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in doc}
    assert by_sid["AssumeEvidenceReaderInOrganization"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/CharterEvidenceReader"}]
    assert by_sid["AssumeEvidenceReaderInOrganization"]["Condition"] == {
        "StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
    # write-once evidence: the role can put and read, never delete
    actions = {a for s in doc for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert "s3:PutObject" in actions and not any("Delete" in a for a in actions)
    assert "kms:Sign" in actions
    fn = _of_type(data, "AWS::Lambda::Function")["CollectorFunction"]
    p = fn["Properties"]
    assert p["Handler"] == "charter.evidence.continuous.handler"
    assert p["Code"]["S3Key"] == {"Ref": "CodeKey"}
    assert p["ReservedConcurrentExecutions"] == 1
    assert set(p["Environment"]["Variables"]) == {"EVIDENCE_BUCKET", "EVIDENCE_PREFIX", "SIGNING_KEY_ID",
                                                  "CHARTER_CONFIG"}
    assert "DeadLetterConfig" in p
    [rule] = _of_type(data, "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == cfg.baseline.evidence_schedule == "rate(1 day)"
    assert "DeadLetterConfig" in rule["Properties"]["Targets"][0]
    # the schedule starts the evidence run's state machine (test_evidence_statemachine_stack.py)
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Ref": "RunStateMachine"}
    logs = _of_type(data, "AWS::Logs::LogGroup")["CollectorLogGroup"]
    assert logs["Properties"]["RetentionInDays"] == cfg.baseline.log_retention_days
    assert "KmsKeyId" in logs["Properties"]


def test_every_resource_carries_evd01():
    _, data = _build(load_config(EXAMPLE))
    for name, res in data["Resources"].items():
        assert "EVD-01" in res["Metadata"]["Charter"]["Controls"], name


@pytest.mark.slow
def test_lint_clean_with_reasoned_suppressions_only(evstore_linter, tmp_path):
    spec, data = _build(load_config(EXAMPLE))
    findings = evstore_linter.cfn_lint("evidence-store", data)
    assert findings == [], [f.render() for f in findings]
    path = tmp_path / "evidence-store.yaml"
    path.write_text(spec.template.to_yaml())
    failed, passed = evstore_linter.checkov([path])
    assert failed == [], [f.render() for f in failed]
    assert passed > 20
    suppressed = [s for r in data["Resources"].values()
                  for s in r.get("Metadata", {}).get("Charter", {}).get("Suppressions", [])]
    assert {s["Id"] for s in suppressed} == {"CKV_AWS_117", "CKV_AWS_272"}
    assert all(len(s["Reason"]) > 40 for s in suppressed)
