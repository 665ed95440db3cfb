"""Threat detection: Security Hub (MON-04), GuardDuty (MON-05), Macie (MON-06), Inspector
(MON-07) and the organization IAM Access Analyzer (IAM-10).

Stacks:

- `detection-member` — SERVICE_MANAGED StackSet on `Root`, every governed region: turns the
  services on in each account (Security Hub hub + the configured standards, a GuardDuty
  detector with the configured protection plans as Features, a Macie session). The
  StackSet auto-deploys to accounts that join later, so the services' own "auto-enable for
  the organization" switches stay off: two mechanisms would race to create the same hub,
  detector or session and one of them would fail.
- `detection-member-management` — the same template as plain stacks in the management
  account (service-managed StackSets never reach it).
- `detection` — the security account (the delegated administrator), every governed
  region: the Security Hub cross-region finding aggregator (home region), the
  ORGANIZATION access analyzer (every region) and unused-access analyzer (home region), and
  the Inspector CIS scan configuration (home region) when Inspector is on.

A service switched off in `baseline` emits none of its resources, so its control shows as
a gap in the control matrix.

## `facts["api_steps"]`

Organization-level operations that CloudFormation cannot perform (delegating a service's
administration, adopting existing accounts as members) are recorded as data on the stack
that needs them, for `charter deploy` to execute before or after deploying that stack. Each step
is a plain dict:

```
{"service": "guardduty",                      # boto3 client name
 "operation": "EnableOrganizationAdminAccount",  # API operation name (PascalCase)
 "parameters": {"AdminAccountId": "${SecurityAccountId}"},
 "account": "management",                     # "management" or an account name from org.yaml
 "regions": ["us-east-1", "us-west-2"],       # regions to call it in ([] = global API)
 "phase": "before"}                           # "before" (default) or "after" the stack
```

`phase`: delegations (EnableOrganizationAdminAccount, RegisterDelegatedAdministrator,
EnableAWSServiceAccess) are "before": the stack's organization-wide resources (the
ORGANIZATION analyzer, Security Hub's organization configuration) need them. Calls the
delegated administrator makes on the organization's accounts (CreateMembers, Macie's
automated discovery, Inspector's Enable and organization configuration) are "after": they
act as the administrator whose settings the stack establishes, and they run only once the
stack is in place (a failed stack leaves them for the deploy that fixes it).

Parameter values may contain placeholders that deploy substitutes like `Fn::Sub`:
`${<context parameter>}` (any name in `landing_zone.context.CONTEXT_PARAMETERS`),
`${MemberAccountIds}` (list of every active member account id except the calling one),
`${MemberAccountDetails}` (the same as `[{"AccountId", "Email"}]`), `${OrganizationAccountDetails}`
(the same with the management account), `${EachMemberAccount}` (one call per member account,
`{"accountId", "email"}` as the value) and `${DetectorId}` (the
calling account's GuardDuty detector in that region, from `ListDetectors`). An "already
done" error (e.g. `AccountAlreadyRegisteredException`) counts as success: steps are
idempotent by intent.
"""

from __future__ import annotations

from typing import Any

from troposphere import Equals, Ref, Sub, Template
from troposphere.accessanalyzer import Analyzer, AnalyzerConfiguration, UnusedAccessConfiguration
from troposphere.cloudformation import WaitConditionHandle
from troposphere.guardduty import (
    CFNFeatureAdditionalConfiguration,
    CFNFeatureConfiguration,
    Detector,
    TagItem,
)
from troposphere.inspectorv2 import CisScanConfiguration, CisTargets, Schedule, Time, WeeklySchedule
from troposphere.macie import Session
from troposphere.securityhub import FindingAggregator, Hub, OrganizationConfiguration, Standard

from charter.config.model import OrgConfig
from charter.landing_zone.metadata import control_tags, controls
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec

HOME_REGION_CONDITION = "IsHomeRegion"

#: `baseline.security_hub.standards` entry -> standards ARN (for `Fn::Sub`).
SECURITY_HUB_STANDARDS: dict[str, str] = {
    "fsbp": "arn:${AWS::Partition}:securityhub:${AWS::Region}::standards/aws-foundational-security-best-practices/v/1.0.0",
    "cis-3.0": "arn:${AWS::Partition}:securityhub:${AWS::Region}::standards/cis-aws-foundations-benchmark/v/3.0.0",
}

#: `baseline.guardduty.protection` entry -> (detector feature, additional configurations).
GUARDDUTY_FEATURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "s3": ("S3_DATA_EVENTS", ()),
    "eks": ("EKS_AUDIT_LOGS", ()),
    "rds": ("RDS_LOGIN_EVENTS", ()),
    "lambda": ("LAMBDA_NETWORK_LOGS", ()),
    "malware": ("EBS_MALWARE_PROTECTION", ()),
    "runtime": ("RUNTIME_MONITORING", ("EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT",
                                       "EC2_AGENT_MANAGEMENT")),
}


def api_step(service: str, operation: str, account: str, regions: list[str] | None = None, *,
             phase: str = "before", **parameters: Any) -> dict[str, Any]:
    """One organization-level API call for `charter deploy` (shape in the module docstring)."""
    return {"service": service, "operation": operation, "parameters": parameters, "account": account,
            "regions": list(regions or []), "phase": phase}


# -- per-account template -----------------------------------------------------------------

def member_template(cfg: OrgConfig) -> Template | None:
    """Security Hub, GuardDuty and Macie in one account and region; None when all are off."""
    b = cfg.baseline
    t = Template(Description=f"Charter: detection services in every account and region ({cfg.organization.name})")
    if b.security_hub.enabled:
        hub = Hub("SecurityHub", EnableDefaultStandards=False, AutoEnableControls=True,
                  ControlFindingGenerator="SECURITY_CONTROL", Tags=control_tags("MON-04"))
        t.add_resource(controls(hub, "MON-04"))
        for std in b.security_hub.standards:
            res = Standard(f"Standard{std.replace('-', '').replace('.', '').upper()}",
                           StandardsArn=Sub(SECURITY_HUB_STANDARDS[std]), DependsOn=[hub.title])
            t.add_resource(controls(res, "MON-04"))
    if b.guardduty.enabled:
        features = []
        for key, (name, extra) in GUARDDUTY_FEATURES.items():
            status = "ENABLED" if key in b.guardduty.protection else "DISABLED"
            feature = CFNFeatureConfiguration(Name=name, Status=status)
            if extra:
                feature.AdditionalConfiguration = [CFNFeatureAdditionalConfiguration(Name=e, Status=status)
                                                   for e in extra]
            features.append(feature)
        detector = Detector("GuardDutyDetector", Enable=True, FindingPublishingFrequency="FIFTEEN_MINUTES",
                            Features=features,
                            Tags=[TagItem(Key=k, Value=v) for k, v in control_tags("MON-05").items()])
        t.add_resource(controls(detector, "MON-05"))
    if b.macie.enabled:
        session = Session("MacieSession", Status="ENABLED", FindingPublishingFrequency="FIFTEEN_MINUTES")
        t.add_resource(controls(session, "MON-06"))
    return t if t.resources else None


# -- security (delegated administrator) account template --------------------------------

def security_template(cfg: OrgConfig) -> Template | None:
    b = cfg.baseline
    org = cfg.organization
    t = Template(Description=f"Charter: organization-level detection in the security account ({org.name})")
    t.add_condition(HOME_REGION_CONDITION, Equals(Ref("AWS::Region"), org.home_region))
    others = [r for r in org.governed_regions if r != org.home_region]
    if b.security_hub.enabled:
        # Enablement in members is the member StackSet's job (see module docstring), so the
        # organization auto-enable stays off; LOCAL keeps standards per account as deployed.
        org_cfg = OrganizationConfiguration("SecurityHubOrganizationConfiguration", AutoEnable=False,
                                            AutoEnableStandards="NONE", ConfigurationType="LOCAL")
        t.add_resource(controls(org_cfg, "MON-04"))
    if b.security_hub.enabled and others:
        agg = FindingAggregator("SecurityHubFindingAggregator", RegionLinkingMode="SPECIFIED_REGIONS",
                                Regions=others, Condition=HOME_REGION_CONDITION)
        t.add_resource(controls(agg, "MON-04"))
    if b.access_analyzer.enabled:
        # External access is regional (analyzer in every region); unused access is about IAM,
        # which is global (home region only).
        external = Analyzer("OrganizationAccessAnalyzer", Type="ORGANIZATION",
                            AnalyzerName=f"{org.name}-organization")
        t.add_resource(controls(external, "IAM-10"))
        unused = Analyzer("OrganizationUnusedAccessAnalyzer", Type="ORGANIZATION_UNUSED_ACCESS",
                          AnalyzerName=f"{org.name}-organization-unused-access", Condition=HOME_REGION_CONDITION,
                          AnalyzerConfiguration=AnalyzerConfiguration(
                              UnusedAccessConfiguration=UnusedAccessConfiguration(UnusedAccessAge=90)))
        t.add_resource(controls(unused, "IAM-10"))
    if b.inspector.enabled:
        cis = CisScanConfiguration(
            "InspectorCisScan", ScanName=f"{org.name}-cis-weekly", SecurityLevel="LEVEL_1",
            Schedule=Schedule(Weekly=WeeklySchedule(Days=["SUN"], StartTime=Time(TimeOfDay="03:00", TimeZone="UTC"))),
            Targets=CisTargets(AccountIds=["ALL_ACCOUNTS"], TargetResourceTags={}),
            Tags=control_tags("MON-07"), Condition=HOME_REGION_CONDITION,
        )
        t.add_resource(controls(cis, "MON-07"))
    return t if t.resources else None


def security_api_steps(cfg: OrgConfig) -> list[dict[str, Any]]:
    """Delegate each enabled service to the security account and adopt existing accounts."""
    b = cfg.baseline
    regions = list(cfg.organization.governed_regions)
    sec = cfg.account("security").name
    admin = "${SecurityAccountId}"
    steps: list[dict[str, Any]] = []
    if b.security_hub.enabled:
        steps += [
            api_step("securityhub", "EnableOrganizationAdminAccount", "management", regions, AdminAccountId=admin),
            # the management account too: organization accounts join only when the administrator
            # adds them, and nothing else would add the management account (its findings stay out)
            api_step("securityhub", "CreateMembers", sec, regions, phase="after",
                     AccountDetails="${OrganizationAccountDetails}"),
        ]
    if b.guardduty.enabled:
        steps += [
            api_step("guardduty", "EnableOrganizationAdminAccount", "management", regions, AdminAccountId=admin),
            api_step("guardduty", "CreateMembers", sec, regions, phase="after", DetectorId="${DetectorId}",
                     AccountDetails="${OrganizationAccountDetails}"),
        ]
    if b.macie.enabled:
        steps += [
            api_step("macie2", "EnableOrganizationAdminAccount", "management", regions, adminAccountId=admin),
            api_step("macie2", "UpdateAutomatedDiscoveryConfiguration", sec, regions, phase="after", status="ENABLED"),
            # delegation alone leaves every account outside the administrator's view: Macie adds
            # organization accounts one CreateMember each (the StackSet's sessions enable Macie
            # there; auto-enable stays off, it would race them). A new account is added on the
            # next deploy (a new member is a new call).
            {**api_step("macie2", "CreateMember", sec, regions, phase="after"),
             "parameters": {"account": "${EachMemberAccount}"}},
        ]
    if b.inspector.enabled:
        steps += [
            api_step("inspector2", "EnableDelegatedAdminAccount", "management", regions,
                     delegatedAdminAccountId=admin),
            api_step("inspector2", "Enable", sec, regions, phase="after", accountIds="${MemberAccountIds}",
                     resourceTypes=["EC2", "ECR", "LAMBDA"]),
            api_step("inspector2", "UpdateOrganizationConfiguration", sec, regions, phase="after",
                     autoEnable={"ec2": True, "ecr": True, "lambda": True}),
        ]
    if b.access_analyzer.enabled:
        steps += [
            api_step("organizations", "EnableAWSServiceAccess", "management",
                     ServicePrincipal="access-analyzer.amazonaws.com"),
            api_step("organizations", "RegisterDelegatedAdministrator", "management",
                     AccountId=admin, ServicePrincipal="access-analyzer.amazonaws.com"),
        ]
    return steps


@builder("detection", controls=["MON-04", "MON-05", "MON-06", "MON-07", "IAM-10"],
         description="Security Hub, GuardDuty, Macie, Inspector and the organization Access Analyzer.")
def build(cfg: OrgConfig) -> list[StackSpec]:
    b = cfg.baseline
    regions = list(cfg.organization.governed_regions)
    specs: list[StackSpec] = []
    member = member_template(cfg)
    if member is not None:
        specs += [
            StackSpec("detection-member", member,
                      Deployment(kind="stackset", permission_model="SERVICE_MANAGED", regions=regions,
                                 target_ous=["Root"], order=30)),
            StackSpec("detection-member-management", member_template(cfg),
                      Deployment(kind="stack", account="management", regions=regions, order=30)),
        ]
    security = security_template(cfg)
    steps = security_api_steps(cfg)
    if security is None and steps:
        # Only organization steps (e.g. GuardDuty alone): CloudFormation needs one resource,
        # and the steps need a stack in wave 40 to run before.
        security = Template(Description="Charter: organization-level detection in the security account")
        anchor = WaitConditionHandle("OrganizationStepsAnchor")
        anchor.Metadata = {"Charter": {"Note": "carries the delegated-administrator api_steps of this stack"}}
        t_controls = [c for c, on in (("MON-05", b.guardduty.enabled), ("MON-06", b.macie.enabled)) if on]
        security.add_resource(controls(anchor, *t_controls))
    if security is not None:
        specs.append(StackSpec(
            "detection", security,
            Deployment(kind="stack", account=cfg.account("security").name, regions=regions, order=40,
                       depends_on=[s.name for s in specs]),
            facts={"api_steps": steps},
        ))
    return specs
