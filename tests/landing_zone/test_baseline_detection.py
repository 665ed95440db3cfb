"""Detection services: present with their settings, absent (and a control gap) when switched off."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from charter.config.model import OrgConfig
from charter.landing_zone.builders import detection
from charter.landing_zone.config import load_config_text
from charter.landing_zone.context import CONTEXT_PARAMETERS
from charter.landing_zone.lint import Linter
from charter.landing_zone.registry import builders
from charter.landing_zone.synth import dump_yaml, synthesize

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
MY_BUILDERS = ("log_archive", "cloudtrail", "config_rules", "detection")
PLACEHOLDERS = set(CONTEXT_PARAMETERS) | {"MemberAccountIds", "MemberAccountDetails", "OrganizationAccountDetails",
                                         "EachMemberAccount",
                                         "DetectorId"}


def variant(**baseline: Any) -> OrgConfig:
    data = yaml.safe_load(EXAMPLE.read_text())
    for key, value in baseline.items():
        if isinstance(value, dict) and isinstance(data["baseline"].get(key), dict):
            data["baseline"][key].update(value)
        else:
            data["baseline"][key] = value
    return load_config_text(yaml.safe_dump(data), "org.yaml")


def by_name(cfg: OrgConfig) -> dict[str, Any]:
    return {s.name: s for s in detection.build(cfg)}


def types(spec) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for res in spec.template.to_dict()["Resources"].values():
        out.setdefault(res["Type"], []).append(res)
    return out


def all_controls(cfg: OrgConfig) -> set[str]:
    selected = {n: b for n, b in builders().items() if n in MY_BUILDERS}
    return {c for s in synthesize(cfg, selected) for c in s.controls}


@pytest.fixture(scope="session")
def detection_linter() -> Linter:
    return Linter(["us-east-1", "us-west-2"])


@pytest.fixture(scope="module")
def small(small_config) -> dict[str, Any]:
    return by_name(small_config)


def test_member_stackset_enables_services_everywhere(small_config, small) -> None:
    member = small["detection-member"]
    assert member.deployment.kind == "stackset" and member.deployment.permission_model == "SERVICE_MANAGED"
    assert member.deployment.target_ous == ["Root"] and member.deployment.order == 30
    assert member.deployment.regions == list(small_config.organization.governed_regions)
    management = small["detection-member-management"].deployment
    assert management.account == "management" and management.kind == "stack"
    t = types(member)
    (hub,) = t["AWS::SecurityHub::Hub"]
    assert hub["Properties"]["EnableDefaultStandards"] is False
    arns = sorted(s["Properties"]["StandardsArn"]["Fn::Sub"] for s in t["AWS::SecurityHub::Standard"])
    assert [a.split("::standards/")[1] for a in arns] == [
        "aws-foundational-security-best-practices/v/1.0.0", "cis-aws-foundations-benchmark/v/3.0.0"]
    assert t["AWS::Macie::Session"][0]["Properties"]["Status"] == "ENABLED"


def test_security_hub_standards_follow_config() -> None:
    member = by_name(variant(security_hub={"standards": ["fsbp"]}))["detection-member"]
    arns = [s["Properties"]["StandardsArn"]["Fn::Sub"] for s in types(member)["AWS::SecurityHub::Standard"]]
    assert len(arns) == 1 and "aws-foundational-security-best-practices" in arns[0]


def test_guardduty_features_follow_protection_plans() -> None:
    cfg = variant(guardduty={"protection": ["s3", "runtime"]})
    (detector,) = types(by_name(cfg)["detection-member"])["AWS::GuardDuty::Detector"]
    status = {f["Name"]: f["Status"] for f in detector["Properties"]["Features"]}
    assert status["S3_DATA_EVENTS"] == "ENABLED" and status["RUNTIME_MONITORING"] == "ENABLED"
    assert status["EKS_AUDIT_LOGS"] == status["RDS_LOGIN_EVENTS"] == "DISABLED"
    assert status["EBS_MALWARE_PROTECTION"] == status["LAMBDA_NETWORK_LOGS"] == "DISABLED"
    runtime = [f for f in detector["Properties"]["Features"] if f["Name"] == "RUNTIME_MONITORING"][0]
    assert {a["Status"] for a in runtime["AdditionalConfiguration"]} == {"ENABLED"}
    assert detector["Metadata"]["Charter"]["Controls"] == ["MON-05"]


def test_security_account_stack(small_config, small) -> None:
    spec = small["detection"]
    assert spec.deployment.account == small_config.account("security").name
    assert spec.deployment.order == 40 and set(spec.deployment.depends_on) == {
        "detection-member", "detection-member-management"}
    t = types(spec)
    (agg,) = t["AWS::SecurityHub::FindingAggregator"]
    assert agg["Condition"] == "IsHomeRegion" and agg["Properties"]["Regions"] == ["us-west-2"]
    analyzers = {a["Properties"]["Type"]: a for a in t["AWS::AccessAnalyzer::Analyzer"]}
    assert set(analyzers) == {"ORGANIZATION", "ORGANIZATION_UNUSED_ACCESS"}
    assert analyzers["ORGANIZATION"]["Metadata"]["Charter"]["Controls"] == ["IAM-10"]
    assert "AWS::InspectorV2::CisScanConfiguration" not in t  # Inspector is off by default


def test_api_steps_shape_and_delegation(small_config, small) -> None:
    steps = small["detection"].facts["api_steps"]
    names = {a.name for a in small_config.accounts} | {"management"}
    for step in steps:
        assert set(step) == {"service", "operation", "parameters", "account", "regions", "phase"}
        assert step["account"] in names
        # delegations come before the stack; the delegated admin acts on members after it
        assert step["phase"] == ("before" if step["account"] == "management" else "after"), step
        assert re.match(r"^[A-Z][A-Za-z]+$", step["operation"])
        for value in step["parameters"].values():
            for placeholder in re.findall(r"\$\{(\w+)\}", str(value)):
                assert placeholder in PLACEHOLDERS, placeholder
    delegations = {(s["service"], s["operation"]) for s in steps if s["account"] == "management"}
    assert {("securityhub", "EnableOrganizationAdminAccount"), ("guardduty", "EnableOrganizationAdminAccount"),
            ("macie2", "EnableOrganizationAdminAccount"),
            ("organizations", "RegisterDelegatedAdministrator")} <= delegations
    regional = [s for s in steps if s["service"] == "guardduty"]
    assert all(s["regions"] == ["us-east-1", "us-west-2"] for s in regional)


def test_inspector_when_enabled(small) -> None:
    spec = by_name(variant(inspector={"enabled": True}))["detection"]
    (cis,) = types(spec)["AWS::InspectorV2::CisScanConfiguration"]
    assert cis["Metadata"]["Charter"]["Controls"] == ["MON-07"]
    assert {s["service"] for s in spec.facts["api_steps"]} >= {"inspector2"}
    assert "inspector2" not in {s["service"] for s in small["detection"].facts["api_steps"]}


SERVICES = {
    # config key: (control, resource types, api step service)
    "security_hub": ("MON-04", {"AWS::SecurityHub::Hub", "AWS::SecurityHub::Standard",
                                "AWS::SecurityHub::FindingAggregator"}, "securityhub"),
    "guardduty": ("MON-05", {"AWS::GuardDuty::Detector"}, "guardduty"),
    "macie": ("MON-06", {"AWS::Macie::Session"}, "macie2"),
    "access_analyzer": ("IAM-10", {"AWS::AccessAnalyzer::Analyzer"}, "organizations"),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_switched_off_service_disappears_and_is_a_gap(small_config, service: str) -> None:
    control, resource_types, api_service = SERVICES[service]
    assert control in all_controls(small_config)
    cfg = variant(**{service: {"enabled": False}})
    specs = detection.build(cfg)
    emitted = {t for s in specs for t in types(s)}
    assert not emitted & resource_types
    steps = [st for s in specs for st in s.facts.get("api_steps", [])]
    assert api_service not in {st["service"] for st in steps}
    assert control not in all_controls(cfg)


def test_everything_off_emits_nothing() -> None:
    off = {k: {"enabled": False} for k in ("security_hub", "guardduty", "macie", "access_analyzer", "inspector")}
    assert detection.build(variant(**off)) == []


def test_org_steps_alone_still_get_a_stack() -> None:
    # GuardDuty alone: no organization-level CloudFormation resource, but the delegation must run
    off = {k: {"enabled": False} for k in ("security_hub", "macie", "access_analyzer", "inspector")}
    spec = by_name(variant(**off))["detection"]
    assert [s["service"] for s in spec.facts["api_steps"]] == ["guardduty", "guardduty"]
    assert len(spec.template.resources) == 1


@pytest.mark.parametrize("overrides", [{}, {"inspector": {"enabled": True}}], ids=["small", "inspector"])
def test_detection_stacks_lint_clean(overrides, detection_linter: Linter, tmp_path: Path) -> None:
    files, findings = [], []
    for spec in detection.build(variant(**overrides)):
        data = spec.template.to_dict()
        findings += [f.render() for f in detection_linter.cfn_lint(spec.name, data)]
        path = tmp_path / f"{spec.name}.yaml"
        path.write_text(dump_yaml(data))
        files.append(path)
    checkov_findings, _ = detection_linter.checkov(files)
    assert findings + [f.render() for f in checkov_findings] == []


def test_api_steps_match_the_real_service_models() -> None:
    """Every recorded step names a real operation and real parameters (botocore's models)."""
    import botocore.session

    from charter.landing_zone.builders import config_rules

    session = botocore.session.get_session()
    cfg = variant(inspector={"enabled": True})
    steps = [st for s in [*detection.build(cfg), *config_rules.build(cfg)] for st in s.facts.get("api_steps", [])]
    assert len(steps) >= 10
    for step in steps:
        op = session.get_service_model(step["service"]).operation_model(step["operation"])
        members = op.input_shape.members if op.input_shape else {}
        assert set(step["parameters"]) <= set(members), (step["operation"], set(step["parameters"]) - set(members))
        required = set(op.input_shape.required_members) if op.input_shape else set()
        assert required <= set(step["parameters"]), (step["operation"], required - set(step["parameters"]))
