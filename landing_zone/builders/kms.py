"""One customer-managed KMS key per environment, in every account of that environment (ENC-01).

Deployment: one service-managed StackSet per environment (`kms-<env>`), aimed at the OUs
holding that environment's accounts and filtered to exactly those accounts
(`target_ous` + `target_accounts` = AccountFilterType INTERSECTION at deploy), in every
governed region plus the DR region (EBS default encryption and backup vaults are regional
and need a key in each region). A StackSet per environment rather than per-account stacks:
the template is identical for every account of an environment, StackSets give drift
detection (CHG-02) and one operation per change. The management account is not reachable
by service-managed StackSets, so it gets its own key (`kms-management`, environment
`management`) through a self-managed StackSet.

The key ARN is exported as `KEY_ARN_EXPORT` in each account and region; workload stacks,
the account baseline (EBS default key), backup vaults and the alert topics import it.

Key policy (separation of duties):
- the account root statement only enables IAM policies (the standard AWS statement; without
  it a key can become unmanageable);
- key administrators (Charter's deploy role and the StackSet execution roles that change
  the key through CloudFormation) may manage the key but are explicitly denied using it
  directly (Encrypt/Decrypt/ReEncrypt/GenerateDataKey without `kms:ViaService`);
- key users are principals of the account using the key through AWS services
  (`kms:ViaService` + `kms:CallerAccount`), grants only for AWS resources, and the service
  principals of CloudWatch Logs, EventBridge and CloudWatch alarms (for encrypted log groups
  and the SNS alert topic), each scoped to this account;
- nobody but the administrators and the MFA-gated break-glass role may disable, delete or
  re-policy the key (explicit deny), so an IAM admin cannot quietly destroy the key.
"""

from __future__ import annotations

from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    ArnNotLike,
    Bool,
    Condition,
    Deny,
    Null,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import Export, GetAtt, ImportValue, Output, Ref, Sub, Tags, Template
from troposphere.kms import Alias, Key

from charter.config.model import OrgConfig
from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import (
    KEY_ARN_EXPORT,
    STACKSET_EXECUTION_ROLE,
    kms_alias,
    logical_id,
)

#: Environment name of the management account's key (it has no environment in org.yaml).
MANAGEMENT_ENVIRONMENT = "management"
#: MFA-gated emergency role in every account (identity builder); may manage, never silently.
BREAK_GLASS_ROLE = "CharterBreakGlass"

ADMIN_ACTIONS = (
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
)
USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*")
#: Actions that would destroy or take over the key.
DESTRUCTIVE_ACTIONS = (
    "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DisableKeyRotation", "kms:PutKeyPolicy",
    "kms:DeleteAlias", "kms:UpdateAlias", "kms:DeleteImportedKeyMaterial",
)
#: AWS services account principals may use the key through (kms:ViaService).
VIA_SERVICES = ("ec2", "s3", "dynamodb", "backup", "logs", "sns", "sqs", "lambda", "rds",
                "secretsmanager", "sagemaker", "elasticfilesystem", "bedrock", "aoss", "ecr", "codebuild")


def _actions(names: tuple[str, ...] | list[str]) -> list[Action]:
    return [Action(*n.split(":", 1)) for n in names]


def account_root() -> Sub:
    return Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")


def key_admin_arns(cfg: OrgConfig) -> list[Sub]:
    """Roles that administer keys: they change keys only through CloudFormation."""
    names = [cfg.scps.admin_role, "stacksets-exec-*", STACKSET_EXECUTION_ROLE]
    return [Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{n}") for n in names]


def key_policy(cfg: OrgConfig) -> PolicyDocument:
    """The ENC-01 key policy (see module docstring)."""
    root = Principal("AWS", account_root())
    admins = key_admin_arns(cfg)
    break_glass = Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{BREAK_GLASS_ROLE}")
    this_account = {"aws:SourceAccount": Ref("AWS::AccountId")}
    via = [Sub(f"{svc}.${{AWS::Region}}.amazonaws.com") for svc in VIA_SERVICES]
    return PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="EnableIamPolicies", Effect=Allow, Principal=root, Action=[Action("kms", "*")], Resource=["*"]),
        Statement(Sid="KeyAdministrators", Effect=Allow, Principal=root, Action=_actions(ADMIN_ACTIONS),
                  Resource=["*"], Condition=Condition(ArnLike("aws:PrincipalArn", admins))),
        Statement(Sid="KeyUsersThroughAwsServices", Effect=Allow, Principal=root,
                  Action=_actions([*USE_ACTIONS, "kms:DescribeKey"]), Resource=["*"],
                  # one StringEquals holding both keys (two StringEquals blocks would collapse into one)
                  Condition=Condition(StringEquals({"kms:CallerAccount": Ref("AWS::AccountId"), "kms:ViaService": via}))),
        Statement(Sid="KeyUsersGrantsForAwsResources", Effect=Allow, Principal=root,
                  Action=_actions(["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]), Resource=["*"],
                  Condition=Condition([Bool("kms:GrantIsForAWSResource", True),
                                       StringEquals("kms:CallerAccount", Ref("AWS::AccountId"))])),
        Statement(Sid="CloudWatchLogsUse", Effect=Allow,
                  Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
                  Action=_actions([*USE_ACTIONS, "kms:DescribeKey"]), Resource=["*"],
                  Condition=Condition(ArnLike("kms:EncryptionContext:aws:logs:arn",
                                              Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*")))),
        Statement(Sid="AlertPublishersUse", Effect=Allow,
                  Principal=Principal("Service", ["events.amazonaws.com", "cloudwatch.amazonaws.com"]),
                  Action=_actions(["kms:Decrypt", "kms:GenerateDataKey*"]), Resource=["*"],
                  Condition=Condition(StringEquals(this_account))),
        # CloudFront (origin access control) reads the KMS-encrypted results bucket it serves
        Statement(Sid="CloudFrontDistributionsRead", Effect=Allow, Principal=Principal("Service", "cloudfront.amazonaws.com"),
                  Action=_actions(["kms:Decrypt"]), Resource=["*"],
                  Condition=Condition(ArnLike("AWS:SourceArn",
                                              Sub("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/*")))),
        Statement(Sid="DenyDirectUseByKeyAdministrators", Effect=Deny, Principal=Principal("AWS", "*"),
                  Action=_actions(USE_ACTIONS), Resource=["*"],
                  Condition=Condition([ArnLike("aws:PrincipalArn", admins), Null("kms:ViaService", True)])),
        Statement(Sid="DenyKeyDestructionByOthers", Effect=Deny, Principal=Principal("AWS", "*"),
                  Action=_actions(DESTRUCTIVE_ACTIONS), Resource=["*"],
                  Condition=Condition(ArnNotLike("aws:PrincipalArn", [*admins, break_glass]))),
    ])


def add_key(t: Template, cfg: OrgConfig, environment: str) -> Key:
    key = Key(
        logical_id(environment, "Key"),
        Description=f"Charter {cfg.organization.name} {environment} environment key (ENC-01)",
        EnableKeyRotation=True,
        RotationPeriodInDays=cfg.baseline.kms_rotation_days,
        KeySpec="SYMMETRIC_DEFAULT",
        KeyUsage="ENCRYPT_DECRYPT",
        PendingWindowInDays=30,
        KeyPolicy=key_policy(cfg),
        Tags=Tags(ManagedBy="charter", Environment=environment),
    )
    # Deleting the stack must never destroy the key that encrypts the environment's data.
    key.DeletionPolicy = "Retain"
    key.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(key, "ENC-01"))
    alias = Alias(logical_id(environment, "Alias"), AliasName=kms_alias(cfg, environment), TargetKeyId=Ref(key))
    t.add_resource(controls(alias, "ENC-01"))
    t.add_output(Output("KeyArn", Value=GetAtt(key, "Arn"), Description="Environment CMK ARN for workload stacks",
                        Export=Export(KEY_ARN_EXPORT)))
    t.add_output(Output("KeyAlias", Value=kms_alias(cfg, environment)))
    return key


def key_arn_import() -> ImportValue:
    """The environment key of the account and region a stack runs in."""
    return ImportValue(KEY_ARN_EXPORT)


# -- where things go ---------------------------------------------------------------------

def all_regions(cfg: OrgConfig) -> list[str]:
    """Governed regions plus the DR region (which needs keys and vaults for copies)."""
    regions = list(cfg.organization.governed_regions)
    return regions if cfg.dr_region in regions else [*regions, cfg.dr_region]


def member_targets(cfg: OrgConfig, account_names: list[str]) -> dict[str, list[str]]:
    """Service-managed targets for exactly `account_names`: their OUs, filtered to them
    (AccountFilterType INTERSECTION at deploy)."""
    ous = sorted({a.ou for a in cfg.accounts if a.name in account_names})
    return {"target_ous": ous, "target_accounts": list(account_names)}


def environments(cfg: OrgConfig) -> list[str]:
    seen: list[str] = []
    for a in cfg.accounts:
        if a.environment not in seen:
            seen.append(a.environment)
    return seen


def _template(cfg: OrgConfig, environment: str) -> Template:
    t = Template(Description=f"Charter: {environment} environment KMS key (ENC-01)")
    add_key(t, cfg, environment)
    return t


@builder("kms", controls=["ENC-01"], description="Customer-managed KMS key per environment with rotation.")
def build(cfg: OrgConfig) -> list[StackSpec]:
    regions = all_regions(cfg)
    specs = []
    for env in environments(cfg):
        names = [a.name for a in cfg.accounts_in(env)]
        specs.append(StackSpec(f"kms-{env}", _template(cfg, env), Deployment(
            kind="stackset", permission_model="SERVICE_MANAGED", regions=regions, order=30,
            **member_targets(cfg, names)),
            facts={"account_filter": "INTERSECTION", "environment": env, "alias": kms_alias(cfg, env)}))
    specs.append(StackSpec("kms-management", _template(cfg, MANAGEMENT_ENVIRONMENT), Deployment(
        kind="stackset", permission_model="SELF_MANAGED", regions=regions, target_accounts=["management"],
        order=30, depends_on=["stackset-roles"]),
        facts={"environment": MANAGEMENT_ENVIRONMENT, "alias": kms_alias(cfg, MANAGEMENT_ENVIRONMENT)}))
    return specs
