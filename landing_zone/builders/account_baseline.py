"""Account baseline: password policy, S3 account public access block, EBS default encryption,
AWS Backup's advanced DynamoDB features (where backups are copied across regions).

CloudFormation has no resource for these, so a small Lambda of our own
(`landing_zone.custom_resources.account_baseline`) sets them through a custom resource.
Its code is inlined as `ZipFile`, read from the handler module at synth time and minified
(docstrings/comments dropped, one-space indentation) to stay under CloudFormation's
4,096-character ZipFile limit; synth fails loudly if it ever grows past it (then the code
would ship as an S3 asset in `deployment.template_bucket`, which needs a bucket per region).

Deployment:
- `account-baseline`: service-managed StackSet to Root in every governed region plus the
  DR region (EBS default encryption is regional). The password policy and the S3 account
  public access block are account-wide, so the custom resource applies them only in the
  home region (`ApplyGlobal`).
- `account-baseline-management`: the same template through a self-managed StackSet to the
  management account, which service-managed StackSets never reach.

Both need the environment key (`kms-*` StackSets) first: the EBS default key is the
imported `charter-kms-key-arn`. The Lambda's ARN is exported for the network stacks'
default-security-group custom resource.
"""

from __future__ import annotations

import hashlib

from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import And, Equals, Export, GetAtt, If, Not, Or, Output, Ref, Sub, Template
from troposphere.awslambda import Code, Function, LoggingConfig
from troposphere.cloudformation import CustomResource
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup

from charter.config.model import OrgConfig
from charter.errors import SynthError
from charter.landing_zone.builders.kms import all_regions, environments, key_arn_import
from charter.landing_zone.components.s3 import access_log_bucket
from charter.landing_zone.context import context_parameter
from charter.landing_zone.custom_resources import account_baseline as handler_module
from charter.landing_zone.custom_resources import inline_source
from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import ACCOUNT_BASELINE_ROLE_PREFIX

FUNCTION_NAME = "charter-account-baseline"
ROLE_NAME_PREFIX = ACCOUNT_BASELINE_ROLE_PREFIX
#: Export of the custom-resource Lambda's ARN (per account and region).
FUNCTION_ARN_EXPORT = "charter-account-baseline-function-arn"
ZIPFILE_LIMIT = 4096
#: CloudFormation gives up on an unanswered custom resource after this (default: one hour).
SERVICE_TIMEOUT_SECONDS = 300


class AccountBaselineResource(CustomResource):
    resource_type = "Custom::AccountBaseline"


class DefaultSecurityGroupClosedResource(CustomResource):
    resource_type = "Custom::DefaultSecurityGroupClosed"


#: Every AWS call the handler (`custom_resources/account_baseline.py`) makes, as the IAM
#: action and the resource it acts on (`{account}`/`{region}` filled per account). The role's
#: policy grants exactly these; `charter preflight` checks them against the SCPs in every
#: account and region; a test records the handler's calls and checks them against this.
HANDLER_CALLS: dict[str, str] = {
    "iam:UpdateAccountPasswordPolicy": "*",
    "s3:PutAccountPublicAccessBlock": "*",
    "ec2:EnableEbsEncryptionByDefault": "*",
    "ec2:ModifyEbsDefaultKmsKeyId": "*",
    "backup:UpdateRegionSettings": "*",
    "ec2:DescribeSecurityGroups": "*",
    "ec2:RevokeSecurityGroupIngress": "arn:aws:ec2:{region}:{account}:security-group/*",
    "ec2:RevokeSecurityGroupEgress": "arn:aws:ec2:{region}:{account}:security-group/*",
}


def copies_dynamodb_across_regions(cfg: OrgConfig) -> bool:
    """Whether backup plans copy recovery points (DynamoDB tables among them) to the DR region:
    then AWS Backup's advanced DynamoDB features must be on, in the home region and the DR
    region (they are a regional setting; without them AWS Backup cannot copy a table's
    backup across regions)."""
    b = cfg.baseline.backup
    return b.enabled and b.copy_to_dr and cfg.dr_region != cfg.organization.home_region


def handler_code() -> str:
    code = inline_source(handler_module)
    if len(code) > ZIPFILE_LIMIT:
        raise SynthError(f"account baseline handler is {len(code)} characters; CloudFormation ZipFile allows {ZIPFILE_LIMIT}",
                         hint="shorten landing_zone/custom_resources/account_baseline.py or ship it as an S3 asset")
    return code


def _actions(*names: str) -> list[Action]:
    return [Action(*n.split(":", 1)) for n in names]


def template(cfg: OrgConfig) -> Template:
    code = handler_code()
    t = Template(Description="Charter: account baseline (password policy, S3 account public access block, "
                             "EBS default encryption) via a custom resource (IAM-01, DAT-01, ENC-03)")
    t.add_condition("IsHomeRegion", Equals(Ref("AWS::Region"), cfg.organization.home_region))
    key = key_arn_import()

    log_group = t.add_resource(controls(LogGroup(
        "BaselineFunctionLogs", LogGroupName=f"/aws/lambda/{FUNCTION_NAME}",
        RetentionInDays=cfg.baseline.log_retention_days, KmsKeyId=key), "LOG-04"))
    log_group.DeletionPolicy = "Retain"
    log_group.UpdateReplacePolicy = "Retain"

    sg_arn = Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/*")
    policy = PolicyDocument(Version="2012-10-17", Statement=[
        # these account-level calls have no resource-level permissions (Resource must be *)
        Statement(Sid="AccountSettings", Effect=Allow, Resource=["*"], Action=_actions(
            "iam:UpdateAccountPasswordPolicy", "s3:PutAccountPublicAccessBlock",
            "ec2:EnableEbsEncryptionByDefault", "ec2:ModifyEbsDefaultKmsKeyId", "backup:UpdateRegionSettings")),
        Statement(Sid="ReadSecurityGroups", Effect=Allow, Resource=["*"], Action=_actions("ec2:DescribeSecurityGroups")),
        Statement(Sid="CloseDefaultSecurityGroups", Effect=Allow, Resource=[sg_arn],
                  Action=_actions("ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress")),
        Statement(Sid="DescribeEnvironmentKey", Effect=Allow, Resource=[key], Action=_actions("kms:DescribeKey")),
        Statement(Sid="WriteOwnLogs", Effect=Allow, Resource=[GetAtt(log_group, "Arn")],
                  Action=_actions("logs:CreateLogStream", "logs:PutLogEvents")),
    ])
    trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Service", "lambda.amazonaws.com"), Action=_actions("sts:AssumeRole"),
        Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))))])
    # a fixed name (one per region: IAM is global, the stack runs in every region) so the
    # ORG-04 guardrail protects it (Charter*) and the management execution role can scope to it
    role = t.add_resource(controls(Role(
        "BaselineFunctionRole", RoleName=Sub(f"{ROLE_NAME_PREFIX}-${{AWS::Region}}"), AssumeRolePolicyDocument=trust, MaxSessionDuration=3600,
        Description="Lets the account-baseline custom resource set account-level security settings",
        Policies=[Policy(PolicyName="account-baseline", PolicyDocument=policy)]), "IAM-01", "DAT-01", "ENC-03"))

    fn = Function(
        "BaselineFunction", FunctionName=FUNCTION_NAME, Runtime="python3.12", Handler="index.handler",
        Timeout=120, MemorySize=128, Role=GetAtt(role, "Arn"), Code=Code(ZipFile=code),
        LoggingConfig=LoggingConfig(LogGroup=Ref(log_group)),
        Description="Charter account baseline custom resource (password policy, S3 PAB, EBS encryption)")
    suppress(fn, "CKV_AWS_117", "Custom-resource Lambda calls only AWS control-plane APIs and runs before any VPC exists in the account")
    suppress(fn, "CKV_AWS_116", "CloudFormation invokes custom resources and is always answered (FAILED on error or timeout); a DLQ would answer nobody")
    suppress(fn, "CKV_AWS_115", "New accounts have a concurrency quota of 10; reserving concurrency can fail the account baseline itself")
    t.add_resource(controls(fn, "IAM-01", "DAT-01", "ENC-03"))

    pp = cfg.baseline.password_policy
    baseline = AccountBaselineResource(
        "AccountBaseline", ServiceToken=GetAtt(fn, "Arn"), ServiceTimeout=SERVICE_TIMEOUT_SECONDS,
        ApplyGlobal=If("IsHomeRegion", "true", "false"),
        PasswordPolicy={"MinimumPasswordLength": pp.min_length, "MaxPasswordAge": pp.max_age_days,
                        "PasswordReusePrevention": pp.reuse_prevention},
        EbsKmsKeyId=key,
        BackupRegionSettings="true" if copies_dynamodb_across_regions(cfg) else "false",
        # a new handler version re-applies the baseline (Update)
        CodeSha256=hashlib.sha256(code.encode()).hexdigest()[:16])
    t.add_resource(controls(baseline, "IAM-01", "DAT-01", "ENC-03"))

    # S3 delivers server access logs only to a bucket in the same account and region, so every
    # account and region gets one here; the log-archive account's home and DR regions already
    # have theirs from the log-archive stacks, which deploy first (waves 5 and 10).
    log_archive = Ref(context_parameter(t, "LogArchiveAccountId"))
    own_stack_regions = [Equals(Ref("AWS::Region"), r)
                         for r in dict.fromkeys([cfg.organization.home_region, cfg.dr_region])]
    t.add_condition("OwnsAccessLogBucket", Not(And(
        Equals(Ref("AWS::AccountId"), log_archive),
        Or(*own_stack_regions) if len(own_stack_regions) > 1 else own_stack_regions[0])))
    for resource in access_log_bucket(t, cfg, controls=["LOG-05"]):
        resource.Condition = "OwnsAccessLogBucket"

    t.add_output(Output("FunctionArn", Value=GetAtt(fn, "Arn"), Export=Export(FUNCTION_ARN_EXPORT),
                        Description="Charter custom-resource Lambda (also closes default security groups)"))
    return t


@builder("account_baseline", controls=["IAM-01", "DAT-01", "ENC-02", "ENC-03", "ENC-04", "LOG-04", "LOG-05"],
         description="Password policy, S3 account public access block and EBS default encryption (custom resource).")
def build(cfg: OrgConfig) -> list[StackSpec]:
    t = template(cfg)
    regions = all_regions(cfg)
    kms = [f"kms-{env}" for env in environments(cfg)]
    return [
        StackSpec("account-baseline", t, Deployment(
            kind="stackset", permission_model="SERVICE_MANAGED", regions=regions, target_ous=["Root"],
            order=30, depends_on=kms)),
        StackSpec("account-baseline-management", t, Deployment(
            kind="stackset", permission_model="SELF_MANAGED", regions=regions, target_accounts=["management"],
            order=30, depends_on=["stackset-roles", "kms-management"])),
    ]
