"""What every optimizer stack shares: names, parameters, tags, log groups and Lambda roles.

Stacks of one environment refer to each other by deterministic physical names (table,
function, bucket and topic names built here), not by exports: an export locks the
producing stack until every importer is gone, which turns routine updates into ordered
deletions. Names that need the account id are `Fn::Sub` strings.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from awacs import kms
from awacs.aws import Allow, Policy, PolicyDocument, Principal, Statement
from awacs.sts import AssumeRole
from troposphere import AWSProperty, ImportValue, Split, Sub, Tags, Template
from troposphere.iam import Policy as InlinePolicy
from troposphere.iam import Role
from troposphere.logs import LogGroup

from charter.config.model import OrgConfig
from charter.config.workloads import (
    EnvironmentWorkload,
    OptimizerWorkload,
    workload_account,
)
from charter.landing_zone.metadata import controls
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import (
    KEY_ARN_EXPORT,
    kms_alias,
    resource_name,
    workload_boundary_name,
)

WORKLOAD = "optimizer"
#: Handler package the handlers engineer implements; names are a contract with the stacks.
HANDLERS = "charter.workloads.handlers"
LAMBDA_RUNTIME = "python3.12"
#: Exports of the landing zone in every workload account and region.
VPC_EXPORT = "charter-vpc-id"
PRIVATE_SUBNETS_EXPORT = "charter-private-subnet-ids"


@dataclass(frozen=True)
class Ctx:
    """One environment of the optimizer: the config plus everything derived from it."""

    cfg: OrgConfig
    env: str
    #: The account's estimated monthly cost times the headroom (`charter.cost.budget`), set by synth.
    budget_usd: float | None = None

    @property
    def workload(self) -> OptimizerWorkload:
        assert self.cfg.workloads and self.cfg.workloads.optimizer
        return self.cfg.workloads.optimizer

    @property
    def settings(self) -> EnvironmentWorkload:
        return self.workload.environments[self.env]  # type: ignore[index]

    @property
    def account(self) -> str:
        return workload_account(self.cfg, self.env)

    @property
    def region(self) -> str:
        return self.cfg.organization.home_region

    @property
    def dr_region(self) -> str:
        return self.cfg.dr_region

    @property
    def prefix(self) -> str:
        """`acme-prod-optimizer`: prefix of every physical name in this environment."""
        return resource_name(self.cfg, self.env, WORKLOAD)

    def name(self, *parts: str) -> str:
        return "-".join([self.prefix, *parts])

    def bucket(self, kind: str, region: str | None = None) -> str:
        """Bucket name for `Fn::Sub` (globally unique through account id and region)."""
        return f"{self.prefix}-{kind}-${{AWS::AccountId}}-{region or '${AWS::Region}'}"

    def bucket_arn(self, kind: str, region: str | None = None) -> Sub:
        return Sub("arn:${AWS::Partition}:s3:::" + self.bucket(kind, region))

    def table_arn(self, table: str) -> Sub:
        return Sub("arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/" + self.name(table))

    def function_name(self, short: str) -> str:
        return self.name(short)

    def function_arn(self, short: str, alias: str | None = None) -> Sub:
        suffix = f":{alias}" if alias else ""
        return Sub("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                   + self.function_name(short) + suffix)

    @property
    def alias(self) -> str:
        """Lambda alias the API and event sources invoke (one per environment)."""
        return self.env

    @property
    def kms_alias(self) -> str:
        return kms_alias(self.cfg, self.env)

    @property
    def topic_arn(self) -> Sub:
        """The environment's alerts topic (the monitoring stack makes it in the workload's own
        account and region; the landing zone's security topic lives elsewhere)."""
        return Sub("arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:" + self.name("alerts"))

    @property
    def retention(self) -> int:
        return self.settings.log_retention_days or self.cfg.baseline.log_retention_days

    def tags(self, component: str) -> dict[str, str]:
        """Cost allocation tags (activate them once in the management account's Billing console)."""
        return {
            "ManagedBy": "charter",
            "charter:workload": WORKLOAD,
            "charter:environment": self.env,
            "charter:component": component,
            "CostCenter": f"{WORKLOAD}-{self.env}",
        }

    @property
    def boundary_arn(self) -> Sub:
        """The permissions boundary of every role the pipeline creates or changes (cicd-target makes it)."""
        return Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/" + workload_boundary_name(self.cfg, self.env))

    def spec(self, part: str, t: Template, *, order: int, region: str | None = None,
             depends_on: list[str] | None = None, facts: dict[str, object] | None = None) -> StackSpec:
        finalize(t, self.tags(part))
        if self.workload.cicd is not None and part not in PIPELINE_OWN_PARTS:
            # the pipeline deploys this stack: its roles carry the boundary its deploy role must set
            for res in t.resources.values():
                if res.resource_type == "AWS::IAM::Role" and "PermissionsBoundary" not in res.properties:
                    res.properties["PermissionsBoundary"] = self.boundary_arn
        return StackSpec(
            name=stack_short_name(self.env, part), template=t,
            deployment=Deployment(kind="stack", account=self.account, regions=[region or self.region], order=order,
                                  depends_on=[stack_short_name(self.env, d) for d in (depends_on or [])]),
            facts=facts or {},
        )


#: Stacks an operator deploys, never the pipeline: its deploy role and the pipeline itself.
PIPELINE_OWN_PARTS = ("cicd-target", "cicd")


def stack_short_name(env: str, part: str) -> str:
    return f"{WORKLOAD}-{env}-{part}"


def new_template(ctx: Ctx, what: str) -> Template:
    t = Template(Description=f"Charter: {WORKLOAD} workload ({ctx.env}) - {what}")
    return t


def key_parameter(t: Template, ctx: Ctx) -> ImportValue:
    """ARN of the environment key (alias `naming.kms_alias(cfg, env)`) in the stack's account
    and region, exported by the landing zone's kms StackSet. Several services (Logs,
    Lambda, IAM) take only a key ARN, never an alias, so the ARN is imported."""
    return ImportValue(KEY_ARN_EXPORT)


def network_parameters(t: Template) -> tuple[ImportValue, Split]:
    """The landing-zone VPC and its private subnets (exports of the network builder)."""
    return ImportValue(VPC_EXPORT), Split(",", ImportValue(PRIVATE_SUBNETS_EXPORT))


def log_group(t: Template, ctx: Ctx, logical: str, name: str | Sub, key: ImportValue, *ids: str) -> LogGroup:
    """A KMS-encrypted log group with the configured retention (LOG-04)."""
    group = LogGroup(logical, LogGroupName=name, RetentionInDays=ctx.retention, KmsKeyId=key)
    group.DeletionPolicy = "Retain"
    group.UpdateReplacePolicy = "Retain"
    return t.add_resource(controls(group, "LOG-04", "WKL-05", *ids))


def service_role(t: Template, logical: str, service: str | list[str], statements: list[Statement], *ids: str,
                 managed: list[str] | None = None, name: str | Sub | None = None) -> Role:
    """An IAM role a service assumes, with one inline least-privilege policy (awacs)."""
    services = [service] if isinstance(service, str) else service
    trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Service", services), Action=[AssumeRole])])
    props: dict[str, Any] = dict(AssumeRolePolicyDocument=trust)
    if statements:
        props["Policies"] = [InlinePolicy(PolicyName=logical, PolicyDocument=Policy(
            Version="2012-10-17", Statement=statements))]
    if managed:
        props["ManagedPolicyArns"] = [Sub("arn:${AWS::Partition}:iam::aws:policy/" + m) for m in managed]
    if name is not None:
        props["RoleName"] = name
    return t.add_resource(controls(Role(logical, **props), *ids))


def allow(actions: list[Any], resources: list[Any], sid: str | None = None, condition: Any = None) -> Statement:
    kwargs: dict[str, Any] = dict(Effect=Allow, Action=actions, Resource=resources)
    if sid:
        kwargs["Sid"] = sid
    if condition is not None:
        kwargs["Condition"] = condition
    return Statement(**kwargs)


def key_use(key: ImportValue) -> Statement:
    return allow([kms.Decrypt, kms.Encrypt, kms.GenerateDataKey, kms.DescribeKey], [key], sid="UseEnvironmentKey")


# -- tags and the controls invariant -------------------------------------------------------

def _tag_value(spec: Any, tags: dict[str, str], existing: Any) -> Any:
    if spec is dict:
        return {**tags, **(existing or {})}
    if isinstance(spec, list) and inspect.isclass(spec[0]) and issubclass(spec[0], AWSProperty):
        have = {getattr(e, "Key", None) for e in (existing or [])}
        return list(existing or []) + [spec[0](Key=k, Value=v) for k, v in tags.items() if k not in have]
    # troposphere.Tags or validate_tags_or_list
    have_list = existing.tags if isinstance(existing, Tags) else list(existing or [])
    have = {tag.get("Key") for tag in have_list if isinstance(tag, dict)}
    merged = Tags(**{k: v for k, v in tags.items() if k not in have})
    merged.tags = list(have_list) + merged.tags
    return merged


#: Types troposphere gives a `Tags` property that CloudFormation does not accept.
UNTAGGABLE = frozenset({"AWS::ApplicationAutoScaling::ScalableTarget", "AWS::CloudWatch::Dashboard"})


def finalize(t: Template, tags: dict[str, str]) -> None:
    """Cost-allocation tags on every taggable resource (synth checks each one's control ids)."""
    for res in t.resources.values():
        spec = res.props.get("Tags")
        if spec is None or res.resource_type in UNTAGGABLE:
            continue
        res.properties["Tags"] = _tag_value(spec[0], tags, res.properties.get("Tags"))

