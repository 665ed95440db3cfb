"""Collectors of APIs moto lacks (Config compliance, Security Hub, GuardDuty findings,
Access Analyzer, Backup jobs, Identity Center) through botocore Stubbers, whose requests
and responses are validated against the real service models; Organizations and StackSets
against moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber
from collectors_testkit import ACCOUNT, results, run_collector, small_config, stub_client
from moto import mock_aws

from charter.config.model import Assignment, PermissionSet
from charter.evidence.artifact import utcnow
from charter.evidence.collectors.base import Context, Target
from charter.evidence.collectors.stacksets import check_drift

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _stubbed(service: str, calls: list[tuple[str, dict, dict | None]], region: str = "us-east-1"):
    client = stub_client(service, region)
    stub = Stubber(client)
    for method, response, params in calls:
        stub.add_response(method, response, params)
    stub.activate()
    return client, stub


def test_config_recorder_and_rule_compliance():
    client, stub = _stubbed("config", [
        ("describe_configuration_recorders", {"ConfigurationRecorders": [
            {"name": "default", "roleARN": "arn:aws:iam::123456789012:role/config",
             "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}}]}, {}),
        ("describe_configuration_recorder_status", {"ConfigurationRecordersStatus": [
            {"name": "default", "recording": True, "lastStatus": "SUCCESS"}]}, {}),
        ("describe_delivery_channels", {"DeliveryChannels": [{"name": "default", "s3BucketName": "acme-config"}]}, {}),
        ("describe_config_rules", {"ConfigRules": [
            {"ConfigRuleName": "mfa", "ConfigRuleArn": "arn:rule/mfa", "ConfigRuleState": "ACTIVE",
             "Source": {"Owner": "AWS", "SourceIdentifier": "MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS"}},
            {"ConfigRuleName": "pitr", "ConfigRuleArn": "arn:rule/pitr", "ConfigRuleState": "ACTIVE",
             "Source": {"Owner": "AWS", "SourceIdentifier": "DYNAMODB_PITR_ENABLED"}},
            {"ConfigRuleName": "new", "ConfigRuleArn": "arn:rule/new", "ConfigRuleState": "ACTIVE",
             "Source": {"Owner": "AWS", "SourceIdentifier": "VPC_FLOW_LOGS_ENABLED"}}]}, {}),
        ("describe_compliance_by_config_rule", {"ComplianceByConfigRules": [
            {"ConfigRuleName": "mfa", "Compliance": {"ComplianceType": "COMPLIANT"}},
            {"ConfigRuleName": "pitr", "Compliance": {"ComplianceType": "NON_COMPLIANT",
                                                      "ComplianceContributorCount": {"CappedCount": 3,
                                                                                     "CapExceeded": False}}}]}, {}),
    ])
    art = run_collector("config", clients={"config": client})
    stub.assert_no_pending_responses()
    assert results(art, "MON-01") == {f"{ACCOUNT}/us-east-1/config-recorder/default": "pass"}
    assert results(art, "MON-09") == {"arn:rule/mfa": "pass", "arn:rule/pitr": "fail", "arn:rule/new": "not_applicable"}
    assert "3 resources" in next(p.reason for p in art.population if p.id == "arn:rule/pitr")
    assert [c.operation for c in art.calls][-1] == "DescribeComplianceByConfigRule" and art.all_drained
    # Each rule's result is also credited to the controls that rule evidences (managed_rules).
    assert results(art, "IAM-03") == {"arn:rule/mfa": "pass"}
    assert results(art, "BCK-03") == {"arn:rule/pitr": "fail"}
    assert results(art, "LOG-06") == {"arn:rule/new": "not_applicable"}
    assert results(art, "IAM-01") == {}  # no password-policy rule in this account: nothing credited
    assert {"IAM-03", "BCK-03", "LOG-06", "MON-09"} <= set(art.controls)


def test_config_missing_recorder_fails_mon01():
    client, _ = _stubbed("config", [("describe_configuration_recorders", {"ConfigurationRecorders": []}, {}),
                                    ("describe_configuration_recorder_status", {"ConfigurationRecordersStatus": []}, {}),
                                    ("describe_delivery_channels", {"DeliveryChannels": []}, {}),
                                    ("describe_config_rules", {"ConfigRules": []}, {}),
                                    ("describe_compliance_by_config_rule", {"ComplianceByConfigRules": []}, {})])
    art = run_collector("config", clients={"config": client})
    assert set(results(art, "MON-01").values()) == {"fail"} and set(results(art, "MON-09").values()) == {"fail"}


def _finding(fid: str, label: str) -> dict:
    return {"SchemaVersion": "2018-10-08", "Id": fid, "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
            "GeneratorId": "gen", "AwsAccountId": ACCOUNT, "CreatedAt": "2026-01-01T00:00:00Z",
            "UpdatedAt": "2026-01-01T00:00:00Z", "Description": "d" * 2000, "Title": f"finding {fid}",
            "Severity": {"Label": label}, "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::x"}]}


def test_securityhub_standards_and_finding_counts():
    fsbp = "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0"
    client, stub = _stubbed("securityhub", [
        ("describe_hub", {"HubArn": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:hub/default",
                          "SubscribedAt": "2025-01-01T00:00:00Z"}, {}),
        ("get_enabled_standards", {"StandardsSubscriptions": [
            {"StandardsSubscriptionArn": "arn:sub/1", "StandardsArn": fsbp, "StandardsInput": {},
             "StandardsStatus": "READY"}]}, {}),
        ("get_findings", {"Findings": [_finding("a", "CRITICAL"), _finding("b", "HIGH")], "NextToken": "p2"}, None),
        ("get_findings", {"Findings": [_finding("c", "HIGH")]}, None),
    ])
    art = run_collector("securityhub", clients={"securityhub": client})
    stub.assert_no_pending_responses()
    got = results(art, "MON-04")
    hub = next(p for p in art.population if p.id.endswith(":hub/default"))
    assert hub.result == "pass" and hub.attributes == {"critical_findings": 1, "high_findings": 2}
    assert got[f"{ACCOUNT}/us-east-1/securityhub/standard/fsbp"] == "pass"
    assert got[f"{ACCOUNT}/us-east-1/securityhub/standard/cis-3.0"] == "fail"
    findings_call = next(c for c in art.calls if c.operation == "GetFindings")
    assert findings_call.pages == 2 and findings_call.drained
    assert findings_call.parameters["Filters"]["SeverityLabel"][0]["Value"] == "CRITICAL"
    # findings are trimmed in the raw record (the 2,000-character descriptions are not kept)
    assert "Description" not in art.canonical_json().decode()


def test_securityhub_not_enabled_is_a_failure_not_a_gap():
    client = stub_client("securityhub")
    stub = Stubber(client)
    stub.add_client_error("describe_hub", "InvalidAccessException", "Account is not subscribed", 401)
    stub.activate()
    art = run_collector("securityhub", clients={"securityhub": client})
    assert art.kind == "evidence" and set(results(art, "MON-04").values()) == {"fail"}
    assert art.raw["responses"]["securityhub:DescribeHub"]["Error"]["Code"] == "InvalidAccessException"


def test_guardduty_detector_features_and_findings():
    features = [{"Name": n, "Status": "ENABLED"} for n in ("S3_DATA_EVENTS", "EKS_AUDIT_LOGS", "RDS_LOGIN_EVENTS",
                                                          "LAMBDA_NETWORK_LOGS", "EBS_MALWARE_PROTECTION")]
    client, stub = _stubbed("guardduty", [
        ("list_detectors", {"DetectorIds": ["d1"]}, {}),
        ("get_detector", {"ServiceRole": "arn:role", "Status": "ENABLED", "Features": features}, {"DetectorId": "d1"}),
        ("list_findings", {"FindingIds": ["f1", "f2"]}, None),
    ])
    art = run_collector("guardduty", clients={"guardduty": client})
    item = art.population[0]
    assert item.result == "fail" and "runtime protection off" in item.reason
    assert item.attributes["high_findings"] == 2


def test_access_analyzer_org_analyzer_required_in_security_account():
    analyzer = {"arn": "arn:aws:access-analyzer:us-east-1:1:analyzer/org", "name": "org", "type": "ORGANIZATION",
                "createdAt": T0, "status": "ACTIVE"}
    finding = {"id": "f1", "resource": "arn:aws:s3:::shared", "resourceType": "AWS::S3::Bucket", "condition": {},
               "createdAt": T0, "analyzedAt": T0, "updatedAt": T0, "status": "ACTIVE", "resourceOwnerAccount": "1"}
    client, _ = _stubbed("accessanalyzer", [("list_analyzers", {"analyzers": [analyzer]}, {}),
                                            ("list_findings", {"findings": [finding]}, None)])
    art = run_collector("access_analyzer", environment="security", clients={"accessanalyzer": client})
    assert results(art, "IAM-10") == {analyzer["arn"]: "pass"}
    assert art.population[0].attributes["active_findings"] == 1
    empty, _ = _stubbed("accessanalyzer", [("list_analyzers", {"analyzers": []}, {})])
    missing = run_collector("access_analyzer", environment="security", clients={"accessanalyzer": empty})
    assert set(results(missing, "IAM-10").values()) == {"fail"}


def test_backup_plans_vault_lock_jobs_and_dr_copies():
    plan_arn = f"arn:aws:backup:us-east-1:{ACCOUNT}:backup-plan:p1"
    client, stub = _stubbed("backup", [
        ("list_backup_plans", {"BackupPlansList": [{"BackupPlanArn": plan_arn, "BackupPlanId": "p1",
                                                    "BackupPlanName": "prod"}]}, {}),
        ("get_backup_plan", {"BackupPlan": {"BackupPlanName": "prod", "Rules": [{
            "RuleName": "hourly", "TargetBackupVaultName": "acme-prod", "ScheduleExpression": "cron(0 * ? * * *)",
            "CopyActions": [{"DestinationBackupVaultArn": f"arn:aws:backup:us-west-2:{ACCOUNT}:backup-vault:dr"}]}]}},
         {"BackupPlanId": "p1"}),
        ("list_backup_vaults", {"BackupVaultList": [
            {"BackupVaultName": "acme-prod", "BackupVaultArn": "arn:vault/acme-prod", "Locked": True},
            {"BackupVaultName": "scratch", "BackupVaultArn": "arn:vault/scratch", "Locked": False}]}, {}),
        ("list_backup_jobs", {"BackupJobs": [{"BackupJobId": "j1", "State": "COMPLETED"},
                                             {"BackupJobId": "j2", "State": "FAILED", "StatusMessage": "denied"}]},
         {"ByCreatedAfter": ANY}),
    ])
    art = run_collector("backup", clients={"backup": client})
    stub.assert_no_pending_responses()
    got = results(art, "BCK-01")
    assert got[plan_arn] == "pass" and got["arn:vault/acme-prod"] == "pass" and got["arn:vault/scratch"] == "fail"
    jobs = next(p for p in art.population if "/jobs-since-" in p.id)
    assert jobs.result == "fail" and jobs.attributes["failed"][0]["id"] == "j2"
    assert results(art, "BCK-02") == {plan_arn: "pass"}
    # daily schedule vs a 1-hour RPO (prod) fails
    from charter.evidence.collectors.backup import schedule_hours

    assert schedule_hours("cron(0 5 ? * * *)") == 24 and schedule_hours("rate(12 hours)") == 12
    assert schedule_hours("cron(0 0/4 ? * * *)") == 4


def test_identity_center_assignments_vs_config():
    cfg = small_config()
    ident = cfg.baseline.identity.model_copy(update={
        "permission_sets": [PermissionSet(name="Administrator", session_hours=1)],
        "assignments": [Assignment(group="platform-admins", permission_set="Administrator", accounts=["prod"])]})
    cfg = cfg.model_copy(update={"baseline": cfg.baseline.model_copy(update={"identity": ident})})
    inst, ps = "arn:aws:sso:::instance/ssoins-1", "arn:aws:sso:::permissionSet/ssoins-1/ps-1"
    sso, _ = _stubbed("sso-admin", [
        ("list_instances", {"Instances": [{"InstanceArn": inst, "IdentityStoreId": "d-1"}]}, {}),
        ("list_permission_sets", {"PermissionSets": [ps]}, {"InstanceArn": inst}),
        ("describe_permission_set", {"PermissionSet": {"Name": "Administrator", "PermissionSetArn": ps,
                                                       "SessionDuration": "PT2H"}}, None),
        ("list_accounts_for_provisioned_permission_set", {"AccountIds": ["222222222222"]}, None),
        ("list_account_assignments", {"AccountAssignments": [
            {"AccountId": "222222222222", "PermissionSetArn": ps, "PrincipalType": "GROUP", "PrincipalId": "g-2"}]},
         None),
    ])
    store, _ = _stubbed("identitystore", [("list_groups", {"Groups": [
        # GroupArn and Revision: required in responses since the 2025 Identity Store model
        {"GroupId": "g-1", "DisplayName": "platform-admins", "IdentityStoreId": "d-1",
         "GroupArn": "arn:aws:identitystore::123456789012:identitystore/d-1/group/g-1", "Revision": "1"},
        {"GroupId": "g-2", "DisplayName": "contractors", "IdentityStoreId": "d-1",
         "GroupArn": "arn:aws:identitystore::123456789012:identitystore/d-1/group/g-2", "Revision": "1"}]}, {"IdentityStoreId": "d-1"})])
    art = run_collector("identity_center", cfg, management=True, clients={"sso-admin": sso, "identitystore": store},
                        account_ids={"prod": "222222222222"})
    got = results(art, "IAM-06")
    assert got[ps] == "fail"  # 2-hour sessions, config allows 1
    assert got["platform-admins/Administrator/222222222222"] == "fail"  # configured, not assigned
    assert got["contractors/Administrator/222222222222"] == "fail"  # assigned, not configured


@pytest.fixture()
def aws(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def test_organizations_structure_and_scp_attachment(aws):
    from charter.landing_zone.scp.packing import pack

    cfg = small_config()
    orgs = boto3.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    root = orgs.list_roots()["Roots"][0]["Id"]
    ids = {"Root": root}
    for ou in cfg.ous:
        ids[ou.name] = orgs.create_organizational_unit(ParentId=ids[ou.parent], Name=ou.name)[
            "OrganizationalUnit"]["Id"]
    for acct in cfg.accounts:
        aid = orgs.create_account(Email=str(acct.email), AccountName=acct.name)["CreateAccountStatus"]["AccountId"]
        # dev is left in the wrong OU
        orgs.move_account(AccountId=aid, SourceParentId=root, DestinationParentId=ids["Prod" if acct.name == "dev"
                                                                                       else acct.ou])
    policies = pack(cfg)
    for policy in policies:
        if policy.targets == ("Suspended",):
            continue  # the suspended OU's deny-all is missing
        pid = orgs.create_policy(Content=json.dumps(policy.document), Description="charter",
                                 Name=policy.name, Type="SERVICE_CONTROL_POLICY")["Policy"]["PolicySummary"]["Id"]
        for target in policy.targets:
            orgs.attach_policy(PolicyId=pid, TargetId=ids[target])
    from charter.landing_zone.scp.expected import evidence_sources

    # without the statements org.yaml expects, only the SCP checks cannot judge
    blind = run_collector("organizations", cfg, management=True, environment=None)
    assert blind.controls == ["ORG-01"] and {p.control for p in blind.population} == {"ORG-01"}
    art = run_collector("organizations", cfg, management=True, environment=None, sources=evidence_sources(cfg))
    structure = [p for p in art.population if p.control == "ORG-01"]
    by_name = {p.attributes.get("name"): p.result for p in structure}
    assert by_name["dev"] == "fail" and by_name["prod"] == "pass" and by_name["log-archive"] == "pass"
    assert {p.result for p in art.population if p.control == "ORG-02"} == {"pass"}
    assert {p.result for p in art.population if p.control == "ORG-05"} == {"fail"}
    assert art.all_drained


def test_the_scp_controls_the_collector_checks_are_the_guardrails_controls():
    """Stated once in each place, proved equal here: the organizations collector checks the
    statements of every control the landing zone's guardrails serve (and ORG-05, custom)."""
    from charter.evidence.collectors.organizations import SCP_CONTROLS
    from charter.landing_zone.scp.guardrails import GUARDRAILS

    assert set(SCP_CONTROLS) == {g.control for g in GUARDRAILS.values()} | {"ORG-05"}


def test_stacksets_drift_pure_check():
    ctx = Context(small_config(), Target(ACCOUNT, "management", "us-east-1", None, True), now=T0)
    snap = {"stack_sets": [
        {"name": "charter-baseline", "arn": "arn:ss/1", "drift": "IN_SYNC", "last_check": T0 - timedelta(days=1),
         "instances": [{"account": "1", "region": "us-east-1", "drift": "IN_SYNC"},
                       {"account": "2", "region": "us-east-1", "drift": "DRIFTED"}]},
        {"name": "old", "arn": "arn:ss/2", "drift": "IN_SYNC", "last_check": T0 - timedelta(days=30), "instances": []},
        {"name": "never", "arn": "arn:ss/3", "drift": "NOT_CHECKED", "last_check": None, "instances": []}]}
    got = {p.id: p.result for p in check_drift(snap, ctx)}
    assert got == {"arn:ss/1": "pass", "charter-baseline/1/us-east-1": "pass", "charter-baseline/2/us-east-1": "fail",
                   "arn:ss/2": "fail", "arn:ss/3": "fail"}


def test_stacksets_against_moto_reports_unchecked_drift(aws):
    cfn = boto3.client("cloudformation")
    cfn.create_stack_set(StackSetName="charter-baseline", TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}')
    art = run_collector("stacksets", management=True, now=utcnow())
    assert [p.result for p in art.population] == ["fail"]
    assert "never been detected" in art.population[0].reason
