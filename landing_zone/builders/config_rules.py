"""AWS Config everywhere (MON-01), the organization aggregator and the SOC2 conformance pack (MON-09).

Stacks:

- `config-recorder` — SERVICE_MANAGED StackSet on `Root`, every governed region: a
  configuration recorder (all supported resource types; global ones such as IAM only in
  the home region so they are recorded once), a delivery channel to the log-archive Config
  bucket encrypted with the logs key, and the managed rules of `MANAGED_RULES`.
- `config-recorder-management` — the same template as plain stacks in the management
  account, one per governed region. Service-managed StackSets never reach the management
  account (AWS documents this), and a SELF_MANAGED StackSet would first need the
  administration/execution roles in that account; `charter deploy` already holds
  management-account credentials, so plain stacks are the simplest way to cover it.
- `config-aggregator` — organization-wide aggregator in the audit account, which is made
  Config's delegated administrator by the `api_steps` in its facts (see `detection` for
  the shape).
- `config-conformance-pack` — `AWS::Config::OrganizationConformancePack` `charter-soc2`
  in the management account, every governed region (org conformance packs are regional).
  AWS publishes no SOC2 pack, so its TemplateBody is built here (with troposphere) from
  the same `MANAGED_RULES` table.

`MANAGED_RULES` (in `charter.managed_rules`) is the single list of rules: the control
matrix and the `config` evidence collector read it, so a rule cannot be deployed without its
controls or collected without being credited to them. This builder implements MON-01 and
MON-09 and *evaluates* the controls its rules check (`evaluates=`): a rule's resource does
not make IAM-01 implemented, it checks it.
"""

from __future__ import annotations

import operator

from awacs import sts
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import AWSHelperFn, Equals, GetAtt, If, Ref, Sub, Tags, Template
from troposphere.config import (
    ConfigRule,
    ConfigSnapshotDeliveryProperties,
    ConfigurationAggregator,
    ConfigurationRecorder,
    ConformancePackInputParameter,
    DeliveryChannel,
    OrganizationAggregationSource,
    OrganizationConformancePack,
    RecordingGroup,
    Scope,
    Source,
)
from troposphere.iam import Role

from charter.config.model import OrgConfig
from charter.landing_zone.builders.detection import api_step
from charter.landing_zone.builders.log_archive import logs_key_arn
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import control_tags, controls
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.managed_rules import (
    MANAGED_RULES,
    RuleSpec,
    enabled_rules,
    implemented_controls,
    rule_controls,
    rule_name,
)
from charter.naming import log_bucket_name, logical_id

#: The rule table lives in `managed_rules` (the evidence collector reads it without troposphere).
__all__ = ["MANAGED_RULES", "RuleSpec", "build", "enabled_rules", "rule_name"]

CONFORMANCE_PACK_NAME = "charter-soc2"
HOME_REGION_CONDITION = "IsHomeRegion"


def _parameter_value(cfg: OrgConfig, t: Template, value: str) -> str | AWSHelperFn:
    if value.startswith("cfg:"):
        return str(operator.attrgetter(value[4:])(cfg))
    if value.startswith("ctx:"):
        return Ref(context_parameter(t, value[4:]))
    return value


def add_rules(cfg: OrgConfig, t: Template, *, prefix: str = "", depends_on: list[str] | None = None,
              home_condition: bool = True) -> list[ConfigRule]:
    """Add the enabled managed rules to `t`, each tagged with its control ids."""
    out = []
    for identifier, spec in enabled_rules(cfg).items():
        params = {k: _parameter_value(cfg, t, v) for k, v in spec.parameters.items()}
        rule = ConfigRule(
            logical_id("Rule", identifier.lower()),
            ConfigRuleName=prefix + rule_name(identifier),
            Description=f"Charter {', '.join(spec.controls)}: AWS managed rule {identifier}",
            Source=Source(Owner="AWS", SourceIdentifier=identifier),
        )
        if params:
            rule.InputParameters = params
        if spec.resource_types or spec.tag:
            scope = Scope()
            if spec.resource_types:
                scope.ComplianceResourceTypes = list(spec.resource_types)
            if spec.tag:
                scope.TagKey, scope.TagValue = spec.tag
            rule.Scope = scope
        if spec.global_only and home_condition:
            rule.Condition = HOME_REGION_CONDITION
        if depends_on:
            rule.DependsOn = depends_on
        out.append(t.add_resource(controls(rule, *spec.controls)))
    return out


def _tags(*control_ids: str) -> Tags:
    return Tags(**control_tags(*control_ids))


def recorder_template(cfg: OrgConfig) -> Template:
    """Recorder + delivery channel + managed rules for one account and region."""
    home = cfg.organization.home_region
    t = Template(Description=f"Charter: AWS Config recorder, delivery channel and managed rules ({cfg.organization.name})")
    context_parameter(t, "LogArchiveAccountId")
    t.add_condition(HOME_REGION_CONDITION, Equals(Ref("AWS::Region"), home))

    # A role per region (IAM is global): StackSet instances of different regions run in
    # parallel and must not race for one name.
    role = Role(
        "ConfigRecorderRole",
        RoleName=Sub("CharterConfigRecorder-${AWS::Region}"),
        Description="AWS Config recorder role (reads resource configuration)",
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "config.amazonaws.com"), Action=[sts.AssumeRole],
            Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
        )]),
        ManagedPolicyArns=[Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWS_ConfigRole")],
        Tags=_tags("MON-01"),
    )
    t.add_resource(controls(role, "MON-01"))
    recorder = ConfigurationRecorder(
        "ConfigRecorder",
        Name="charter",
        RoleARN=GetAtt(role, "Arn"),
        RecordingGroup=RecordingGroup(AllSupported=True,
                                      IncludeGlobalResourceTypes=If(HOME_REGION_CONDITION, True, False)),
    )
    t.add_resource(controls(recorder, "MON-01"))
    channel = DeliveryChannel(
        "ConfigDeliveryChannel",
        Name="charter",
        S3BucketName=Sub(log_bucket_name(cfg, "config")),
        S3KmsKeyArn=Sub(logs_key_arn(cfg)),
        ConfigSnapshotDeliveryProperties=ConfigSnapshotDeliveryProperties(DeliveryFrequency="TwentyFour_Hours"),
    )
    t.add_resource(controls(channel, "MON-01", "LOG-03"))
    # Rules need a recorder in the region, and the recorder starts only with a channel.
    add_rules(cfg, t, depends_on=[recorder.title, channel.title])
    return t


def aggregator_template(cfg: OrgConfig) -> Template:
    t = Template(Description=f"Charter: organization-wide AWS Config aggregator ({cfg.organization.name})")
    role = Role(
        "AggregatorRole",
        Description="Lets AWS Config read the organization's account list for the aggregator",
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "config.amazonaws.com"), Action=[sts.AssumeRole],
            Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
        )]),
        ManagedPolicyArns=[Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSConfigRoleForOrganizations")],
        Tags=_tags("MON-01"),
    )
    t.add_resource(controls(role, "MON-01"))
    agg = ConfigurationAggregator(
        "OrganizationAggregator",
        ConfigurationAggregatorName=f"{cfg.organization.name}-organization",
        OrganizationAggregationSource=OrganizationAggregationSource(
            RoleArn=GetAtt(role, "Arn"), AwsRegions=list(cfg.organization.governed_regions), AllAwsRegions=False,
        ),
        Tags=_tags("MON-01"),
    )
    t.add_resource(controls(agg, "MON-01"))
    return t


def conformance_pack_body(cfg: OrgConfig) -> Template:
    """The conformance pack's own template: the same rules, named `soc2-…` so they never clash
    with the per-account `charter-…` rules."""
    body = Template(Description="Charter SOC2 conformance pack: AWS managed Config rules mapped to SOC2 controls")
    add_rules(cfg, body, prefix="soc2-", home_condition=False)
    # Conformance-pack templates take parameters but not the AllowedPattern context checks.
    for param in body.parameters.values():
        param.properties.pop("AllowedPattern", None)
    return body


def conformance_pack_template(cfg: OrgConfig) -> Template:
    t = Template(Description=f"Charter: {CONFORMANCE_PACK_NAME} organization conformance pack ({cfg.organization.name})")
    body = conformance_pack_body(cfg)
    inputs = [ConformancePackInputParameter(ParameterName=name, ParameterValue=Ref(context_parameter(t, name)))
              for name in body.parameters]
    pack = OrganizationConformancePack(
        "Soc2ConformancePack",
        OrganizationConformancePackName=CONFORMANCE_PACK_NAME,
        TemplateBody=body.to_json(indent=None),
    )
    if inputs:
        pack.ConformancePackInputParameters = inputs
    t.add_resource(controls(pack, "MON-09"))
    return t


@builder("config_rules", controls=["MON-01", "MON-09", *implemented_controls()], evaluates=rule_controls(),
         description="AWS Config recorder in every account and region, aggregator, managed rules, SOC2 pack.")
def build(cfg: OrgConfig) -> list[StackSpec]:
    if not cfg.baseline.config.enabled:
        return []
    org = cfg.organization
    regions = list(org.governed_regions)
    audit = cfg.account("audit").name
    recorder = recorder_template(cfg)
    specs = [
        StackSpec("config-recorder", recorder,
                  Deployment(kind="stackset", permission_model="SERVICE_MANAGED", regions=regions,
                             target_ous=["Root"], order=30, depends_on=["log-archive"]),
                  facts={"rules": list(enabled_rules(cfg))}),
        StackSpec("config-recorder-management", recorder_template(cfg),
                  Deployment(kind="stack", account="management", regions=regions, order=30,
                             depends_on=["log-archive"]),
                  facts={"rules": list(enabled_rules(cfg))}),
        StackSpec("config-aggregator", aggregator_template(cfg),
                  Deployment(kind="stack", account=audit, regions=[org.home_region], order=40,
                             depends_on=["config-recorder"]),
                  facts={"api_steps": [
                      api_step("organizations", "EnableAWSServiceAccess", "management",
                               ServicePrincipal="config.amazonaws.com"),
                      api_step("organizations", "RegisterDelegatedAdministrator", "management",
                               AccountId="${AuditAccountId}", ServicePrincipal="config.amazonaws.com"),
                  ]}),
    ]
    if cfg.baseline.config.conformance_pack:
        specs.append(StackSpec(
            "config-conformance-pack", conformance_pack_template(cfg),
            Deployment(kind="stack", account="management", regions=regions, order=40,
                       depends_on=["config-recorder", "config-recorder-management"]),
            facts={"conformance_pack": CONFORMANCE_PACK_NAME, "api_steps": [
                api_step("organizations", "EnableAWSServiceAccess", "management",
                         ServicePrincipal="config-multiaccountsetup.amazonaws.com"),
            ]},
        ))
    return specs
