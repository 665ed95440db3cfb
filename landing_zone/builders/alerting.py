"""Security alerting (MON-08): an encrypted SNS topic, EventBridge rules and CIS metric alarms.

Two stacks:
- `alerting-management` (management account): EventBridge rules for root activity and
  CloudTrail, Config, Organizations and IAM policy changes, plus CIS-style metric filters
  and alarms on the organization trail's CloudWatch Logs group. The org trail carries
  every account's events, so the metric alarms cover the whole organization (root usage in
  any member account included). IAM, Organizations and console sign-in events are
  delivered to EventBridge in us-east-1, so the stack also runs there when the home
  region differs; the metric filters exist only in the home region (where the trail's log
  group lives).
- `alerting-security` (security account = delegated administrator, every governed
  region): rules for GuardDuty findings of severity >= 7 (regional), Security Hub CRITICAL
  findings (aggregated into the home region), Config non-compliance (its own, and every
  other member account's through the Config findings Security Hub receives) and the same
  root activity and change rules for that account.

The topics are encrypted with the account's environment key (`charter-kms-key-arn`,
whose policy lets EventBridge and CloudWatch use it from this account only); the topic
policy lets `events.amazonaws.com` and `cloudwatch.amazonaws.com` publish only from this
account's rules and alarms, and denies publishing without TLS.
"""

from __future__ import annotations

from collections.abc import Iterable

from awacs.aws import (
    Action,
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
from troposphere import Equals, Output, Ref, Sub, Template
from troposphere.cloudwatch import Alarm
from troposphere.events import Rule, Target
from troposphere.logs import MetricFilter, MetricTransformation
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy

from charter.config.model import OrgConfig
from charter.landing_zone.builders.cloudtrail import trail_log_group_name
from charter.landing_zone.builders.kms import key_arn_import
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import security_topic_name

__all__ = ["trail_log_group_name", "EVENT_RULES", "METRIC_ALARMS", "build"]

METRIC_NAMESPACE = "Charter/CISBenchmark"
GLOBAL_EVENTS_REGION = "us-east-1"


def _api_calls(source: str, names: Iterable[str]) -> dict:
    return {"source": [f"aws.{source}"], "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {"eventSource": [f"{source}.amazonaws.com"], "eventName": sorted(names)}}


IAM_POLICY_EVENTS = (
    "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy",
    "PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion",
    "SetDefaultPolicyVersion", "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy",
    "DetachUserPolicy", "AttachGroupPolicy", "DetachGroupPolicy",
)
CLOUDTRAIL_EVENTS = ("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging",
                     "PutEventSelectors", "PutInsightSelectors")
CONFIG_EVENTS = ("StopConfigurationRecorder", "DeleteConfigurationRecorder", "PutConfigurationRecorder",
                 "DeleteDeliveryChannel", "PutDeliveryChannel", "DeleteConfigRule", "DeleteConformancePack",
                 "DeleteOrganizationConfigRule", "DeleteConfigurationAggregator")
ORGANIZATIONS_EVENTS = (
    "AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit", "CreatePolicy",
    "DeclineHandshake", "DeleteOrganization", "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy",
    "DisablePolicyType", "EnablePolicyType", "InviteAccountToOrganization", "LeaveOrganization",
    "MoveAccount", "RemoveAccountFromOrganization", "UpdatePolicy", "UpdateOrganizationalUnit",
    "DisableAWSServiceAccess", "DeregisterDelegatedAdministrator",
)

#: EventBridge rules: name -> (description, event pattern).
EVENT_RULES: dict[str, tuple[str, dict]] = {
    "RootActivity": ("Root user console sign-in or API call",
                     {"detail-type": ["AWS Console Sign In via CloudTrail", "AWS API Call via CloudTrail"],
                      "detail": {"userIdentity": {"type": ["Root"]}}}),
    "CloudTrailChanges": ("CloudTrail trail changed or stopped", _api_calls("cloudtrail", CLOUDTRAIL_EVENTS)),
    "ConfigChanges": ("AWS Config recorder, channel or rules changed", _api_calls("config", CONFIG_EVENTS)),
    "OrganizationsChanges": ("Organizations or SCP changes", _api_calls("organizations", ORGANIZATIONS_EVENTS)),
    "IamPolicyChanges": ("IAM policy changes", _api_calls("iam", IAM_POLICY_EVENTS)),
    "ConfigNonCompliance": ("AWS Config rule became NON_COMPLIANT",
                            {"source": ["aws.config"], "detail-type": ["Config Rules Compliance Change"],
                             "detail": {"newEvaluationResult": {"complianceType": ["NON_COMPLIANT"]}}}),
    "GuardDutyHighSeverity": ("GuardDuty finding with severity 7 or higher",
                              {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"],
                               "detail": {"severity": [{"numeric": [">=", 7]}]}}),
    "SecurityHubCritical": ("Security Hub CRITICAL finding (new, active)",
                            {"source": ["aws.securityhub"], "detail-type": ["Security Hub Findings - Imported"],
                             "detail": {"findings": {"Severity": {"Label": ["CRITICAL"]},
                                                     "RecordState": ["ACTIVE"],
                                                     "Workflow": {"Status": ["NEW"]}}}}),
}
MANAGEMENT_RULES = ("RootActivity", "CloudTrailChanges", "ConfigChanges", "OrganizationsChanges",
                    "IamPolicyChanges", "ConfigNonCompliance")
SECURITY_RULES = ("GuardDutyHighSeverity", "SecurityHubCritical", "ConfigNonCompliance", "RootActivity",
                  "CloudTrailChanges", "ConfigChanges", "IamPolicyChanges")


def _any_event(names: Iterable[str], source: str | None = None) -> str:
    alternatives = " || ".join(f"($.eventName = {n})" for n in names)
    if source:
        return f"{{ ($.eventSource = {source}.amazonaws.com) && ({alternatives}) }}"
    return f"{{ {alternatives} }}"


#: CIS AWS Foundations (CloudWatch section) metric filters: name -> (description, pattern).
METRIC_ALARMS: dict[str, tuple[str, str]] = {
    "UnauthorizedApiCalls": ("Unauthorized API calls",
                             '{ (($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*")) && '
                             '($.sourceIPAddress != "delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket") }'),
    "ConsoleSignInWithoutMfa": ("Console sign-in without MFA",
                                '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && '
                                '($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }'),
    "RootUsage": ("Root user activity",
                  '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && '
                  '$.eventType != "AwsServiceEvent" }'),
    "IamPolicyChanges": ("IAM policy changes", _any_event(IAM_POLICY_EVENTS, "iam")),
    "CloudTrailChanges": ("CloudTrail configuration changes", _any_event(CLOUDTRAIL_EVENTS[:5])),
    "ConsoleAuthFailures": ("Console authentication failures",
                            '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }'),
    "CmkDisableOrDeletion": ("Customer-managed key disabled or scheduled for deletion",
                             _any_event(("DisableKey", "ScheduleKeyDeletion"), "kms")),
    "S3BucketPolicyChanges": ("S3 bucket policy changes", _any_event((
        "PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle", "PutBucketReplication",
        "DeleteBucketPolicy", "DeleteBucketCors", "DeleteBucketLifecycle", "DeleteBucketReplication"), "s3")),
    "ConfigChanges": ("AWS Config configuration changes", _any_event(CONFIG_EVENTS[:5], "config")),
    "SecurityGroupChanges": ("Security group changes", _any_event((
        "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup"))),
    "NaclChanges": ("Network ACL changes", _any_event((
        "CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
        "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"))),
    "NetworkGatewayChanges": ("Network gateway changes", _any_event((
        "CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway",
        "DeleteInternetGateway", "DetachInternetGateway"))),
    "RouteTableChanges": ("Route table changes", _any_event((
        "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable",
        "DeleteRoute", "DisassociateRouteTable"), "ec2")),
    "VpcChanges": ("VPC changes", _any_event((
        "CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection", "CreateVpcPeeringConnection",
        "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection"))),
    "OrganizationsChanges": ("AWS Organizations changes", _any_event(ORGANIZATIONS_EVENTS, "organizations")),
}


def _topic(t: Template, cfg: OrgConfig) -> Topic:
    topic = t.add_resource(controls(Topic(
        "SecurityAlertsTopic", TopicName=security_topic_name(cfg), KmsMasterKeyId=key_arn_import(),
        DisplayName=f"{cfg.organization.name} security alerts"), "MON-08"))
    t.add_resource(controls(SubscriptionResource(
        "SecurityContactSubscription", TopicArn=Ref(topic), Protocol="email", Endpoint=cfg.security_contact), "MON-08"))
    publish = [Action("sns", "Publish")]
    account = Ref("AWS::AccountId")
    policy = PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="EventBridgeRulesOfThisAccount", Effect=Allow, Principal=Principal("Service", "events.amazonaws.com"),
                  Action=publish, Resource=[Ref(topic)],
                  Condition=Condition([StringEquals("aws:SourceAccount", account),
                                       ArnLike("aws:SourceArn", Sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*"))])),
        Statement(Sid="CloudWatchAlarmsOfThisAccount", Effect=Allow, Principal=Principal("Service", "cloudwatch.amazonaws.com"),
                  Action=publish, Resource=[Ref(topic)],
                  Condition=Condition([StringEquals("aws:SourceAccount", account),
                                       ArnLike("aws:SourceArn", Sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"))])),
        Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("AWS", "*"), Action=publish,
                  Resource=[Ref(topic)], Condition=Condition(Bool("aws:SecureTransport", False))),
    ])
    t.add_resource(controls(TopicPolicy("SecurityAlertsTopicPolicy", Topics=[Ref(topic)], PolicyDocument=policy), "MON-08"))
    t.add_output(Output("SecurityTopicArn", Value=Ref(topic)))
    return topic


def _rules(t: Template, topic: Topic, names: Iterable[str]) -> None:
    for name in names:
        description, pattern = EVENT_RULES[name]
        t.add_resource(controls(Rule(
            f"{name}Rule", Description=f"Charter MON-08: {description}", EventPattern=pattern, State="ENABLED",
            Targets=[Target(Id="SecurityAlertsTopic", Arn=Ref(topic))]), "MON-08"))


def _metric_alarms(t: Template, cfg: OrgConfig, topic: Topic, condition: str | None) -> None:
    group = trail_log_group_name(cfg)
    for name, (description, pattern) in METRIC_ALARMS.items():
        mf = MetricFilter(f"{name}MetricFilter", LogGroupName=group, FilterPattern=pattern, MetricTransformations=[
            MetricTransformation(MetricNamespace=METRIC_NAMESPACE, MetricName=name, MetricValue="1")])
        alarm = Alarm(
            f"{name}Alarm", AlarmName=f"charter-cis-{name}", AlarmDescription=f"Charter MON-08 (CIS): {description}",
            Namespace=METRIC_NAMESPACE, MetricName=name, Statistic="Sum", Period=300, EvaluationPeriods=1,
            Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
            AlarmActions=[Ref(topic)])
        alarm.DependsOn = [mf.title]
        for res in (mf, alarm):
            if condition:
                res.Condition = condition
            t.add_resource(controls(res, "MON-08"))


def management_template(cfg: OrgConfig) -> Template:
    t = Template(Description="Charter: security alerting in the management account (MON-08)")
    topic = _topic(t, cfg)
    _rules(t, topic, MANAGEMENT_RULES)
    if cfg.baseline.cloudtrail.enabled:
        condition = None
        if cfg.organization.home_region != GLOBAL_EVENTS_REGION:
            t.add_condition("IsHomeRegion", Equals(Ref("AWS::Region"), cfg.organization.home_region))
            condition = "IsHomeRegion"
        _metric_alarms(t, cfg, topic, condition)
    return t


def member_config_pattern(security_account: object, management_account: object) -> dict:
    """Config non-compliance of every other account, as Security Hub (delegated administrator)
    receives it: AWS Config sends each rule evaluation to Security Hub as a finding of product
    "Config", and the administrator's EventBridge gets its members' findings. Config's own
    compliance events stay in the account they happen in, where no rule of ours listens except
    in the management and security accounts (their own ConfigNonCompliance rules)."""
    return {"source": ["aws.securityhub"], "detail-type": ["Security Hub Findings - Imported"],
            "detail": {"findings": {"ProductName": ["Config"], "Compliance": {"Status": ["FAILED"]},
                                    "RecordState": ["ACTIVE"], "Workflow": {"Status": ["NEW"]},
                                    "AwsAccountId": [{"anything-but": [security_account, management_account]}]}}}


def security_template(cfg: OrgConfig) -> Template:
    t = Template(Description="Charter: security findings alerting in the security account (MON-08)")
    topic = _topic(t, cfg)
    _rules(t, topic, SECURITY_RULES)
    if cfg.baseline.security_hub.enabled and cfg.baseline.config.enabled:
        management = context_parameter(t, "ManagementAccountId")
        t.add_resource(controls(Rule(
            "MemberConfigNonComplianceRule",
            Description="Charter MON-08: AWS Config rule NON_COMPLIANT in a member account (through Security Hub)",
            EventPattern=member_config_pattern(Ref("AWS::AccountId"), Ref(management)), State="ENABLED",
            Targets=[Target(Id="SecurityAlertsTopic", Arn=Ref(topic))]), "MON-08"))
    return t


@builder("alerting", controls=["MON-08"],
         description="Encrypted SNS security topic, EventBridge security rules and CIS metric filter alarms.")
def build(cfg: OrgConfig) -> list[StackSpec]:
    org = cfg.organization
    mgmt_regions = list(dict.fromkeys([org.home_region, GLOBAL_EVENTS_REGION]))
    mgmt_deps = ["kms-management"] + (["cloudtrail"] if cfg.baseline.cloudtrail.enabled else [])
    specs = [StackSpec("alerting-management", management_template(cfg), Deployment(
        kind="stack", account="management", regions=mgmt_regions, order=30, depends_on=mgmt_deps),
        facts={"topic": security_topic_name(cfg), "subscriber": cfg.security_contact,
               "trail_log_group": trail_log_group_name(cfg)})]
    if cfg.accounts_in("security"):
        specs.append(StackSpec("alerting-security", security_template(cfg), Deployment(
            kind="stack", account=cfg.account("security").name, regions=list(org.governed_regions), order=40,
            depends_on=["kms-security"]),
            facts={"topic": security_topic_name(cfg), "subscriber": cfg.security_contact}))
    return specs

