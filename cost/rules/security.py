"""The security baseline: AWS Config, Security Hub, GuardDuty, Macie, Access Analyzer, CloudTrail."""

from __future__ import annotations

import json
from collections.abc import Iterator

from ..engine import Res, rule
from ..lines import Line
from ..targets import MANAGEMENT

GUARDDUTY_UNBILLED = ("EKS, RDS, runtime and EBS malware protection bill only for EKS clusters, Aurora databases, "
                      "EC2/ECS/EKS workloads and scanned EBS volumes, which the templates do not create")


@rule("AWS::Config::ConfigurationRecorder")
def recorder(r: Res) -> Iterator[Line]:
    items = r.usage("config_items_per_region")
    yield r.line("Config", "configuration items recorded", "config.item", items.value, items.text, items.setting)


@rule("AWS::Config::ConfigRule")
def config_rule(r: Res) -> Iterator[Line]:
    ev = r.usage("config_evaluations_per_rule")
    yield r.line("Config", "rule evaluations", "config.rule_evaluation", ev.value, ev.text, ev.setting)


@rule("AWS::Config::OrganizationConformancePack")
def conformance_pack(r: Res) -> Iterator[Line]:
    """An organization conformance pack runs its rules in every member account of the region."""
    try:
        body = json.loads(r.props.get("TemplateBody") or "{}")
    except (TypeError, ValueError):
        body = {}
    rules_n = sum(1 for res in (body.get("Resources") or {}).values() if res.get("Type") == "AWS::Config::ConfigRule")
    excluded = set(r.props.get("ExcludedAccounts") or [])
    for account in r.cfg.accounts:
        if account.name in excluded:
            continue
        per = r.est.assume.usage(account.environment, "config_evaluations_per_rule")
        yield r.line("Config", "conformance pack evaluations", "config.conformance_pack_evaluation",
                     rules_n * per.value, f"{rules_n} rules x {per.text} (in {account.name})", "baseline.config.conformance_pack",
                     account=account.name, environment=account.environment)


@rule("AWS::SecurityHub::Hub")
def hub(r: Res) -> Iterator[Line]:
    findings = r.usage("security_hub_findings_per_region")
    billed = max(0.0, findings.value - 10_000)
    yield r.line("Security Hub", "findings ingested", "securityhub.finding_ingestion", billed,
                 f"{findings.text} minus 10,000 included per account and region", findings.setting)


@rule("AWS::SecurityHub::Standard")
def standard(r: Res) -> Iterator[Line]:
    checks = r.usage("security_hub_checks_per_region")
    arn = r.props.get("StandardsArn")
    text = json.dumps(arn)
    name = "CIS" if "cis-aws" in text else "FSBP" if "foundational" in text else "standard"
    yield r.line("Security Hub", f"security checks ({name})", "securityhub.check", checks.value, checks.text,
                 "baseline.security_hub.standards")


@rule("AWS::GuardDuty::Detector")
def detector(r: Res) -> Iterator[Line]:
    features = {f.get("Name"): f.get("Status") for f in r.props.get("Features") or []}
    events = r.usage("management_events_millions")
    yield r.line("GuardDuty", "CloudTrail management events analyzed", "guardduty.management_events",
                 events.value * 1_000_000, f"{events.text} million; {GUARDDUTY_UNBILLED}", events.setting)
    vpcs = r.facts.count(r.account, "AWS::EC2::VPC", r.region)
    flow, dns = r.usage("flow_log_gb_per_vpc"), r.usage("dns_log_gb_per_account")
    gb = vpcs * flow.value + dns.value
    yield r.line("GuardDuty", "VPC flow and DNS logs analyzed", "guardduty.logs.gb", gb,
                 f"{vpcs} VPC(s) x {flow.text} GB (Lambda network activity included) + {dns.text} GB DNS",
                 flow.setting if vpcs else dns.setting)
    if features.get("S3_DATA_EVENTS") == "ENABLED":
        s3 = r.usage("s3_data_events_millions")
        yield r.line("GuardDuty", "S3 data events analyzed", "guardduty.s3_data_events", s3.value * 1_000_000,
                     f"{s3.text} million", "baseline.guardduty.protection")


@rule("AWS::Macie::Session")
def macie(r: Res) -> Iterator[Line]:
    buckets = r.facts.count(r.account, "AWS::S3::Bucket", r.region)
    if buckets:
        yield r.line("Macie", "buckets monitored", "macie.bucket.month", buckets,
                     f"{buckets} bucket(s) the templates create in this account and region", "baseline.macie.enabled")
    gb = r.usage("macie_inspected_gb_per_account")
    yield r.line("Macie", "automated sensitive data discovery", "macie.discovery.gb", gb.value, gb.text, gb.setting)


@rule("AWS::AccessAnalyzer::Analyzer")
def analyzer(r: Res) -> Iterator[Line]:
    kind = str(r.props.get("Type", "ACCOUNT"))
    if "UNUSED_ACCESS" not in kind:
        return  # external access analyzers are free
    other = r.usage("other_roles_per_account")
    accounts = len(r.cfg.accounts) + 1 if kind.startswith("ORGANIZATION") else 1
    roles = r.facts.iam_roles_total + r.facts.sso_roles + other.value * accounts
    yield r.line("IAM Access Analyzer", "roles analyzed for unused access", "accessanalyzer.unused.role_month", roles,
                 f"{r.facts.iam_roles_total} role instances in the templates + {r.facts.sso_roles} Identity Center "
                 f"assignment roles + {other.text} x {accounts} account(s)", other.setting)


@rule("AWS::CloudTrail::Trail")
def trail(r: Res) -> Iterator[Line]:
    org = bool(r.props.get("IsOrganizationTrail"))
    accounts = len(r.cfg.accounts) + 1 if org else 1
    regions = len(r.cfg.organization.governed_regions) if r.props.get("IsMultiRegionTrail") else 1
    events = r.usage("management_events_millions", environment=MANAGEMENT)
    total = events.value * 1_000_000 * accounts * regions
    share = r.usage("write_events_share", environment=MANAGEMENT)
    for insight in r.props.get("InsightSelectors") or []:
        yield r.line("CloudTrail", f"Insights ({insight.get('InsightType')})", "cloudtrail.insights.events",
                     total * share.value,
                     f"{events.text} million x {accounts} accounts x {regions} regions x {share.text} writes",
                     "baseline.cloudtrail.insights")
    data = r.cfg.baseline.cloudtrail.data_events
    if data:
        s3 = r.usage("s3_data_events_millions", environment=MANAGEMENT)
        yield r.line("CloudTrail", f"data events ({', '.join(data)})", "cloudtrail.data_events",
                     s3.value * 1_000_000 * accounts * regions * len(data),
                     f"{s3.text} million x {accounts} accounts x {regions} regions x {len(data)} kind(s)",
                     "baseline.cloudtrail.data_events")
