"""The organization CloudTrail (LOG-01), in the management account's home region.

One trail records every account of the organization in every region (global service
events included), validates log files (SHA-256 digests, so tampering is detectable),
encrypts them with the log-archive key and writes them to the Object Lock bucket in the
log-archive account. A copy streams to a CloudWatch Logs group (KMS-encrypted, retention
`baseline.log_retention_days`, LOG-04) where the alerting builder's CIS metric filters
run. Insights and data events follow `baseline.cloudtrail`.

Nothing is emitted when `baseline.cloudtrail.enabled` is false, so the control matrix
shows LOG-01 as a gap.
"""

from __future__ import annotations

from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import sts
from awacs.aws import (
    Allow,
    ArnEquals,
    AWSPrincipal,
    Condition,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import Export, GetAtt, Output, Sub, Tags, Template
from troposphere.cloudtrail import (
    AdvancedEventSelector,
    AdvancedFieldSelector,
    InsightSelector,
    Trail,
)
from troposphere.iam import Policy, Role
from troposphere.kms import Key
from troposphere.logs import LogGroup

from charter.config.model import OrgConfig
from charter.landing_zone.builders.log_archive import KEY_ADMIN_ACTIONS, logs_key_arn, trail_name
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import control_tags, controls
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import log_bucket_name

#: CloudTrail data-event resource types per `baseline.cloudtrail.data_events` entry.
DATA_EVENT_TYPES: dict[str, str] = {
    "s3": "AWS::S3::Object",
    "lambda": "AWS::Lambda::Function",
    "dynamodb": "AWS::DynamoDB::Table",
}


def trail_log_group_name(cfg: OrgConfig) -> str:
    """The CloudWatch Logs group of the organization trail (management account, home region);
    the alerting builder's metric filters attach to it."""
    return f"/charter/{cfg.organization.name}/organization-trail"


def _tags(*control_ids: str) -> Tags:
    return Tags(**control_tags(*control_ids))


def _event_selectors(cfg: OrgConfig) -> list[AdvancedEventSelector]:
    selectors = [AdvancedEventSelector(
        Name="ManagementEvents",
        FieldSelectors=[AdvancedFieldSelector(Field="eventCategory", Equals=["Management"])],
    )]
    for kind in cfg.baseline.cloudtrail.data_events:
        fields = [
            AdvancedFieldSelector(Field="eventCategory", Equals=["Data"]),
            AdvancedFieldSelector(Field="resources.type", Equals=[DATA_EVENT_TYPES[kind]]),
        ]
        if kind == "s3":
            # CloudTrail's own deliveries to the archive bucket would be logged again and again.
            fields.append(AdvancedFieldSelector(
                Field="resources.ARN",
                NotStartsWith=[Sub("arn:${AWS::Partition}:s3:::" + log_bucket_name(cfg, "cloudtrail") + "/")],
            ))
        selectors.append(AdvancedEventSelector(Name=f"DataEvents{kind.capitalize()}", FieldSelectors=fields))
    return selectors


def build_template(cfg: OrgConfig) -> Template:
    b = cfg.baseline
    name = trail_name(cfg)
    group_name = trail_log_group_name(cfg)
    t = Template(Description=f"Charter: {cfg.organization.name} organization CloudTrail (all accounts, all regions)")
    context_parameter(t, "LogArchiveAccountId")
    this_trail = Sub(f"arn:${{AWS::Partition}}:cloudtrail:${{AWS::Region}}:${{AWS::AccountId}}:trail/{name}")
    group_arn = Sub(f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{group_name}")

    # CloudWatch Logs can only use a key in its own account, so the log group gets its own
    # key here rather than the log-archive key.
    key = Key(
        "TrailLogGroupKey",
        Description="Charter: encrypts the organization trail's CloudWatch Logs group",
        EnableKeyRotation=True, RotationPeriodInDays=b.kms_rotation_days, PendingWindowInDays=30,
        KeyPolicy=PolicyDocument(Version="2012-10-17", Statement=[
            Statement(Sid="KeyAdministration", Effect=Allow,
                      Principal=AWSPrincipal(Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                      Action=KEY_ADMIN_ACTIONS, Resource=["*"]),
            Statement(Sid="CloudWatchLogsUse", Effect=Allow,
                      Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
                      Action=[kms_actions.Encrypt, kms_actions.Decrypt, kms_actions.ReEncryptFrom,
                              kms_actions.ReEncryptTo, kms_actions.GenerateDataKey,
                              kms_actions.GenerateDataKeyWithoutPlaintext, kms_actions.DescribeKey],
                      Resource=["*"],
                      Condition=Condition(ArnEquals("kms:EncryptionContext:aws:logs:arn", group_arn))),
        ]),
        Tags=_tags("LOG-01", "LOG-04"),
    )
    key.DeletionPolicy = key.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(key, "LOG-01", "LOG-04"))

    group = LogGroup(
        "TrailLogGroup", LogGroupName=group_name, RetentionInDays=b.log_retention_days,
        KmsKeyId=GetAtt(key, "Arn"), Tags=_tags("LOG-01", "LOG-04"),
    )
    group.DeletionPolicy = group.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(group, "LOG-01", "LOG-04"))

    role = Role(
        "TrailLogsRole",
        Description="Lets the organization trail write to its CloudWatch Logs group",
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "cloudtrail.amazonaws.com"), Action=[sts.AssumeRole],
            Condition=Condition(StringEquals("aws:SourceArn", this_trail)),
        )]),
        Policies=[Policy(PolicyName="WriteTrailLogGroup", PolicyDocument=PolicyDocument(
            Version="2012-10-17",
            Statement=[Statement(
                Effect=Allow, Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                Resource=[Sub(f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:"
                              f"log-group:{group_name}:log-stream:*")],
            )],
        ))],
        Tags=_tags("LOG-01"),
    )
    t.add_resource(controls(role, "LOG-01"))

    trail = Trail(
        "OrganizationTrail",
        TrailName=name,
        IsLogging=True,
        IsOrganizationTrail=True,
        IsMultiRegionTrail=True,
        IncludeGlobalServiceEvents=True,
        EnableLogFileValidation=True,
        S3BucketName=Sub(log_bucket_name(cfg, "cloudtrail")),
        KMSKeyId=Sub(logs_key_arn(cfg)),
        CloudWatchLogsLogGroupArn=GetAtt(group, "Arn"),
        CloudWatchLogsRoleArn=GetAtt(role, "Arn"),
        AdvancedEventSelectors=_event_selectors(cfg),
        Tags=_tags("LOG-01"),
    )
    if b.cloudtrail.insights:
        trail.InsightSelectors = [InsightSelector(InsightType="ApiCallRateInsight"),
                                  InsightSelector(InsightType="ApiErrorRateInsight")]
    t.add_resource(controls(trail, "LOG-01"))

    t.add_output(Output("TrailArn", Value=GetAtt(trail, "Arn"),
                        Export=Export(Sub("${AWS::StackName}-TrailArn"))))
    t.add_output(Output("TrailLogGroupName", Value=group_name,
                        Export=Export(Sub("${AWS::StackName}-TrailLogGroupName"))))
    return t


@builder("cloudtrail", controls=["LOG-01", "LOG-04"],
         description="Organization CloudTrail with log-file validation, KMS, CloudWatch Logs and Insights.")
def build(cfg: OrgConfig) -> list[StackSpec]:
    if not cfg.baseline.cloudtrail.enabled:
        return []
    return [StackSpec(
        "cloudtrail", build_template(cfg),
        Deployment(kind="stack", account="management", regions=[cfg.organization.home_region], order=20,
                   depends_on=["log-archive"]),
        facts={"trail_name": trail_name(cfg), "log_group": trail_log_group_name(cfg)},
    )]
