"""MON-08: encrypted security topic, EventBridge rules and CIS metric alarms."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.landing_zone.builders import alerting, cloudtrail
from charter.landing_zone.config import load_config
from charter.naming import security_topic_name

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def specs(cfg):
    return {s.name: s for s in alerting.build(cfg)}


def _of_type(data, type_):
    return {k: r for k, r in data["Resources"].items() if r["Type"] == type_}


def test_topic_is_encrypted_and_subscribes_the_security_contact(cfg, specs):
    for spec in specs.values():
        data = spec.template.to_dict()
        [topic] = _of_type(data, "AWS::SNS::Topic").values()
        assert topic["Properties"]["TopicName"] == security_topic_name(cfg)
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::ImportValue": "charter-kms-key-arn"}
        [sub] = _of_type(data, "AWS::SNS::Subscription").values()
        assert sub["Properties"]["Endpoint"] == cfg.security_contact and sub["Properties"]["Protocol"] == "email"


def test_topic_policy_lets_only_this_accounts_rules_and_alarms_publish(specs):
    data = specs["alerting-management"].template.to_dict()
    [policy] = _of_type(data, "AWS::SNS::TopicPolicy").values()
    stmts = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    events = stmts["EventBridgeRulesOfThisAccount"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "aws:SourceArn" in events["Condition"]["ArnLike"]
    assert stmts["DenyInsecureTransport"]["Effect"] == "Deny"


def test_rules_cover_root_changes_and_findings(specs):
    mgmt = specs["alerting-management"].template.to_dict()
    sec = specs["alerting-security"].template.to_dict()
    patterns = {k: r["Properties"]["EventPattern"] for d in (mgmt, sec) for k, r in _of_type(d, "AWS::Events::Rule").items()}
    assert patterns["RootActivityRule"]["detail"]["userIdentity"]["type"] == ["Root"]
    assert "StopLogging" in patterns["CloudTrailChangesRule"]["detail"]["eventName"]
    assert "StopConfigurationRecorder" in patterns["ConfigChangesRule"]["detail"]["eventName"]
    assert {"AttachPolicy", "DetachPolicy", "UpdatePolicy"} <= set(patterns["OrganizationsChangesRule"]["detail"]["eventName"])
    assert "AttachRolePolicy" in patterns["IamPolicyChangesRule"]["detail"]["eventName"]
    assert patterns["ConfigNonComplianceRule"]["detail"]["newEvaluationResult"]["complianceType"] == ["NON_COMPLIANT"]
    assert patterns["GuardDutyHighSeverityRule"]["detail"]["severity"] == [{"numeric": [">=", 7]}]
    assert patterns["SecurityHubCriticalRule"]["detail"]["findings"]["Severity"]["Label"] == ["CRITICAL"]
    for d in (mgmt, sec):
        for rule in _of_type(d, "AWS::Events::Rule").values():
            assert rule["Properties"]["Targets"][0]["Arn"] == {"Ref": "SecurityAlertsTopic"}


def test_cis_metric_filters_on_the_org_trail_log_group_alarm_to_the_topic(cfg, specs):
    data = specs["alerting-management"].template.to_dict()
    filters = _of_type(data, "AWS::Logs::MetricFilter")
    alarms = _of_type(data, "AWS::CloudWatch::Alarm")
    expected = {"UnauthorizedApiCalls", "ConsoleSignInWithoutMfa", "RootUsage", "IamPolicyChanges", "CloudTrailChanges",
                "ConsoleAuthFailures", "CmkDisableOrDeletion", "S3BucketPolicyChanges", "ConfigChanges",
                "SecurityGroupChanges", "NaclChanges", "NetworkGatewayChanges", "RouteTableChanges", "VpcChanges",
                "OrganizationsChanges"}
    assert {k.removesuffix("MetricFilter") for k in filters} == expected
    group = cloudtrail.trail_log_group_name(cfg)
    assert alerting.trail_log_group_name(cfg) == group  # one name, shared with the trail
    assert all(f["Properties"]["LogGroupName"] == group for f in filters.values())
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "SecurityAlertsTopic"}] for a in alarms.values())
    assert "ScheduleKeyDeletion" in filters["CmkDisableOrDeletionMetricFilter"]["Properties"]["FilterPattern"]
    assert all("MON-08" in r["Metadata"]["Charter"]["Controls"] for r in data["Resources"].values())


def test_metric_filters_only_in_home_region_when_global_events_need_us_east_1(cfg):
    org = cfg.organization.model_copy(update={"home_region": "us-west-2"})
    specs = {s.name: s for s in alerting.build(cfg.model_copy(update={"organization": org}))}
    mgmt = specs["alerting-management"]
    assert mgmt.deployment.regions == ["us-west-2", "us-east-1"]
    data = mgmt.template.to_dict()
    assert data["Conditions"]["IsHomeRegion"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-west-2"]}
    assert all(r.get("Condition") == "IsHomeRegion" for r in _of_type(data, "AWS::Logs::MetricFilter").values())


def test_config_non_compliance_in_member_accounts_alerts_in_the_security_account(specs):
    """Issue #26, 12: Config's compliance events stay in the account they happen in, and rules
    listened only in the management and security accounts; members' non-compliance reaches the
    security account as Security Hub's Config findings, which its rule now alerts on (the two
    accounts with their own Config rule are left out: one alert each)."""
    sec = specs["alerting-security"].template.to_dict()
    rule = sec["Resources"]["MemberConfigNonComplianceRule"]["Properties"]
    assert rule["Targets"][0]["Arn"] == {"Ref": "SecurityAlertsTopic"} and rule["State"] == "ENABLED"
    pattern = rule["EventPattern"]
    assert pattern["detail"]["findings"]["AwsAccountId"] == [
        {"anything-but": [{"Ref": "AWS::AccountId"}, {"Ref": "ManagementAccountId"}]}]
    findings = pattern["detail"]["findings"]
    assert pattern["source"] == ["aws.securityhub"] and pattern["detail-type"] == ["Security Hub Findings - Imported"]
    assert findings["ProductName"] == ["Config"] and findings["Compliance"] == {"Status": ["FAILED"]}
    assert sec["Parameters"]["ManagementAccountId"]["Type"] == "String"
