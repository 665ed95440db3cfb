"""The default SCP guardrails, built with awacs, each tagged with the control it implements.

A guardrail is a function of the config returning awacs statements; its id is what
`scps.guardrails` / `scps.exclude` in `org.yaml` refer to. Every statement's Sid starts
with its control id (without the dash, Sids are alphanumeric) so an SCP read back from
AWS still says which control it serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from awacs.aws import (
    Action,
    ArnLike,
    ArnNotLike,
    Bool,
    Condition,
    Deny,
    Statement,
    StringNotEquals,
)

from charter.config.model import OrgConfig

from .exemptions import exempt_arns, unless_charter


@dataclass(frozen=True)
class Guardrail:
    id: str
    control: str
    description: str
    build: Callable[[OrgConfig], list[Statement]]


GUARDRAILS: dict[str, Guardrail] = {}


def guardrail(gid: str, control: str, description: str):
    """Register a guardrail: `control` is the one place it is linked to its control (the
    organization builder, the matrix and `charter controls show` read it from here)."""
    def register(fn: Callable[[OrgConfig], list[Statement]]) -> Callable[[OrgConfig], list[Statement]]:
        GUARDRAILS[gid] = Guardrail(gid, control, description, fn)
        return fn

    return register


def sid(control: str, name: str) -> str:
    return control.replace("-", "") + name


def _actions(*names: str) -> list[Action]:
    return [Action(*name.split(":", 1)) for name in names]


def _protect(cfg: OrgConfig, control: str, name: str, actions: list[str]) -> list[Statement]:
    """A deny that Charter's principals pass through, so what Charter manages changes only
    through Charter's reviewed pipeline (change management); who passes is `exemptions`."""
    return [Statement(Sid=sid(control, name), Effect=Deny, Action=_actions(*actions), Resource=["*"],
                      Condition=unless_charter(cfg, sid(control, name)))]


@guardrail("deny-leave-organization", "ORG-02", "Member accounts cannot leave the organization.")
def deny_leave(cfg: OrgConfig) -> list[Statement]:
    return [Statement(Sid=sid("ORG-02", "DenyLeaveOrganization"), Effect=Deny,
                      Action=_actions("organizations:LeaveOrganization"), Resource=["*"])]


@guardrail("protect-cloudtrail", "LOG-02", "CloudTrail cannot be stopped, deleted or changed.")
def protect_cloudtrail(cfg: OrgConfig) -> list[Statement]:
    return _protect(cfg, "LOG-02", "ProtectCloudTrail", [
        "cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail",
        "cloudtrail:PutEventSelectors", "cloudtrail:PutInsightSelectors", "cloudtrail:DeleteEventDataStore",
    ])


@guardrail("protect-config", "MON-02", "AWS Config recorders, rules and aggregators cannot be removed.")
def protect_config(cfg: OrgConfig) -> list[Statement]:
    return _protect(cfg, "MON-02", "ProtectConfig", [
        "config:StopConfigurationRecorder", "config:DeleteConfigurationRecorder", "config:DeleteDeliveryChannel",
        "config:PutConfigurationRecorder", "config:PutDeliveryChannel", "config:DeleteConfigRule",
        "config:DeleteOrganizationConfigRule", "config:DeleteConfigurationAggregator",
        "config:DeleteConformancePack", "config:DeleteOrganizationConformancePack", "config:DeleteRetentionConfiguration",
    ])


@guardrail("protect-detection", "MON-03",
           "GuardDuty, Security Hub, Access Analyzer and Macie cannot be disabled.")
def protect_detection(cfg: OrgConfig) -> list[Statement]:
    return _protect(cfg, "MON-03", "ProtectDetection", [
        "guardduty:DeleteDetector", "guardduty:DisassociateFromMasterAccount", "guardduty:DisassociateFromAdministratorAccount",
        "guardduty:UpdateDetector", "guardduty:DeleteMembers", "guardduty:StopMonitoringMembers",
        "guardduty:CreateFilter", "guardduty:UpdateFilter", "guardduty:DeletePublishingDestination",
        "securityhub:DisableSecurityHub", "securityhub:DisassociateFromMasterAccount",
        "securityhub:DisassociateFromAdministratorAccount", "securityhub:DeleteMembers",
        "securityhub:BatchDisableStandards", "securityhub:DisableImportFindingsForProduct",
        "access-analyzer:DeleteAnalyzer", "access-analyzer:CreateArchiveRule", "access-analyzer:UpdateArchiveRule",
        "macie2:DisableMacie", "macie2:DisassociateFromAdministratorAccount", "macie2:DisassociateFromMasterAccount",
        "macie2:UpdateMacieSession",
    ])


@guardrail("deny-root-user", "IAM-02", "The root user of member accounts cannot act.")
def deny_root(cfg: OrgConfig) -> list[Statement]:
    return [Statement(Sid=sid("IAM-02", "DenyRootUser"), Effect=Deny, Action=[Action("*")], Resource=["*"],
                      Condition=Condition(ArnLike("aws:PrincipalArn", "arn:aws:iam::*:root")))]


@guardrail("protect-ebs-encryption", "ENC-03", "EBS encryption by default cannot be disabled.")
def protect_ebs(cfg: OrgConfig) -> list[Statement]:
    return [Statement(Sid=sid("ENC-03", "ProtectEbsDefaultEncryption"), Effect=Deny,
                      Action=_actions("ec2:DisableEbsEncryptionByDefault"), Resource=["*"])]


@guardrail("protect-s3-public-access-block", "DAT-01",
           "The S3 account-level public access block cannot be changed.")
def protect_s3_pab(cfg: OrgConfig) -> list[Statement]:
    return _protect(cfg, "DAT-01", "ProtectS3PublicAccessBlock", ["s3:PutAccountPublicAccessBlock",
                                                                  "s3:DeleteAccountPublicAccessBlock"])


@guardrail("deny-unencrypted-transport", "ENC-04", "S3 requests without TLS are denied everywhere.")
def deny_insecure_transport(cfg: OrgConfig) -> list[Statement]:
    return [Statement(Sid=sid("ENC-04", "DenyInsecureS3Transport"), Effect=Deny, Action=_actions("s3:*"),
                      Resource=["*"], Condition=Condition(Bool("aws:SecureTransport", "false")))]


#: Global services exempt from the region guardrail. From AWS's documented example SCP
#: "Deny access to AWS based on the requested AWS Region", plus the identity and account
#: services (sso, identitystore, account) that only run from the home region.
GLOBAL_SERVICE_ACTIONS = [
    "a4b:*", "access-analyzer:*", "account:*", "acm:*", "aws-marketplace-management:*", "aws-marketplace:*",
    "aws-portal:*", "budgets:*", "ce:*", "chime:*", "cloudfront:*", "config:*", "cur:*", "directconnect:*",
    "ec2:DescribeRegions", "ec2:DescribeTransitGateways", "ec2:DescribeVpnGateways", "fms:*",
    "globalaccelerator:*", "health:*", "iam:*", "identitystore:*", "importexport:*", "kms:*",
    "mobileanalytics:*", "networkmanager:*", "organizations:*", "pricing:*", "route53:*",
    "route53domains:*", "route53-recovery-cluster:*", "route53-recovery-control-config:*",
    "route53-recovery-readiness:*", "s3:GetAccountPublic*", "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints", "s3:PutAccountPublic*", "shield:*", "sso:*", "sts:*", "support:*",
    "trustedadvisor:*", "waf-regional:*", "waf:*", "wafv2:*", "wellarchitected:*",
]


@guardrail("deny-ungoverned-regions", "ORG-03", "Regional services are denied outside the governed regions.")
def deny_regions(cfg: OrgConfig) -> list[Statement]:
    return [Statement(
        Sid=sid("ORG-03", "DenyUngovernedRegions"), Effect=Deny,
        NotAction=_actions(*GLOBAL_SERVICE_ACTIONS), Resource=["*"],
        Condition=Condition([
            StringNotEquals("aws:RequestedRegion", list(cfg.organization.governed_regions)),
            ArnNotLike("aws:PrincipalARN", exempt_arns(cfg, sid("ORG-03", "DenyUngovernedRegions"))),
        ]),
    )]


@guardrail("protect-charter-roles", "ORG-04", "Charter's roles and stacks change only through Charter.")
def protect_charter(cfg: OrgConfig) -> list[Statement]:
    roles = [f"arn:aws:iam::*:role/{pattern}" for pattern in cfg.scps.protected_roles]
    return [
        Statement(Sid=sid("ORG-04", "ProtectCharterRoles"), Effect=Deny, Action=_actions(
            "iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePermissionsBoundary",
            "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
            "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
        ), Resource=roles, Condition=unless_charter(cfg, sid("ORG-04", "ProtectCharterRoles"))),
        Statement(Sid=sid("ORG-04", "ProtectCharterStacks"), Effect=Deny, Action=_actions(
            "cloudformation:DeleteStack", "cloudformation:UpdateStack", "cloudformation:CreateChangeSet",
            "cloudformation:ExecuteChangeSet", "cloudformation:UpdateTerminationProtection",
        ), Resource=["arn:aws:cloudformation:*:*:stack/StackSet-charter-*", "arn:aws:cloudformation:*:*:stack/charter-*"],
            Condition=unless_charter(cfg, sid("ORG-04", "ProtectCharterStacks"))),
    ]


#: The control of the Suspended OU's deny-all (not a selectable guardrail: `scps.suspended_ou` switches it).
SUSPENDED_CONTROL = "ORG-05"


def suspended_statements() -> list[Statement]:
    """Deny-all for the Suspended OU: a closed or quarantined account can do nothing."""
    return [Statement(Sid=sid(SUSPENDED_CONTROL, "DenyAllSuspended"), Effect=Deny, Action=[Action("*")],
                      Resource=["*"])]


def guardrail_controls() -> list[str]:
    """The controls the default guardrails implement, in registration order."""
    return list(dict.fromkeys(g.control for g in GUARDRAILS.values()))


def custom_controls(cfg: OrgConfig) -> list[str]:
    """The controls org.yaml's own SCP statements (`scps.custom`) say they implement."""
    return list(dict.fromkeys(s.control for s in cfg.scps.custom))


def selected(cfg: OrgConfig) -> list[Guardrail]:
    ids = list(GUARDRAILS) if cfg.scps.guardrails == "default" else list(cfg.scps.guardrails)
    return [GUARDRAILS[g] for g in ids if g in GUARDRAILS and g not in cfg.scps.exclude]


def custom_statements(cfg: OrgConfig) -> list[tuple[str, list[str], Statement]]:
    """The org's own statements from `scps.custom`: (control, targets, statement)."""
    from awacs.aws import Allow

    out = []
    for stmt in cfg.scps.custom:
        kwargs = {}
        if stmt.condition:
            kwargs["Condition"] = Condition([_condition(op, key, value)
                                             for op, pairs in stmt.condition.items() for key, value in pairs.items()])
        out.append((stmt.control, list(stmt.targets), Statement(
            Sid=sid(stmt.control, stmt.sid), Effect=Deny if stmt.effect == "Deny" else Allow,
            Action=[Action(*a.split(":", 1)) if ":" in a else Action(a) for a in stmt.actions],
            Resource=list(stmt.resources), **kwargs)))
    return out


def _condition(operator: str, key: str, value: str | list[str]):
    """awacs has one class per condition operator; the config check has verified the name."""
    import awacs.aws as aws

    return getattr(aws, operator)(key, value)


def is_condition_operator(name: str) -> bool:
    import awacs.aws as aws

    cls = getattr(aws, name, None)
    return isinstance(cls, type) and issubclass(cls, aws.ConditionElement) and cls is not aws.ConditionElement
