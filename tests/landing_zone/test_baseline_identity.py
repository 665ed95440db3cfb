"""IAM-06..08: permission sets and assignments, break-glass with MFA, evidence reader trust."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.landing_zone.builders import identity
from charter.landing_zone.config import load_config
from charter.naming import (
    EVIDENCE_COLLECTOR_ROLE,
    EVIDENCE_OPERATOR_ROLE,
    EVIDENCE_READER_ROLE,
    STACKSET_ADMIN_ROLE,
    STACKSET_EXECUTION_ROLE,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def specs(cfg):
    return {s.name: s for s in identity.build(cfg)}


def _of_type(data, type_):
    return {k: r for k, r in data["Resources"].items() if r["Type"] == type_}


def test_permission_sets_session_durations(specs):
    sets = _of_type(specs["identity"].template.to_dict(), "AWS::SSO::PermissionSet").values()
    durations = {p["Properties"]["Name"]: p["Properties"]["SessionDuration"] for p in sets}
    assert durations == {"Administrator": "PT1H", "ReadOnly": "PT4H", "Auditor": "PT8H", "Developer": "PT8H"}
    auditor = next(p for p in sets if p["Properties"]["Name"] == "Auditor")
    assert [m["Fn::Sub"].rsplit("/", 1)[1] for m in auditor["Properties"]["ManagedPolicies"]] == ["SecurityAudit", "ViewOnlyAccess"]
    assert "job-function/ViewOnlyAccess" in auditor["Properties"]["ManagedPolicies"][1]["Fn::Sub"]


def test_assignments_expand_environments_and_are_left_to_deploy(cfg, specs):
    spec = specs["identity"]
    data = spec.template.to_dict()
    # no resource or parameter per account: the template does not grow with the organization
    assert _of_type(data, "AWS::SSO::Assignment") == {}
    assert set(data["Parameters"]) == {"IdentityCenterInstanceArn"}
    assert spec.facts["resolve"] == {"IdentityCenterInstanceArn": {"sso_instance": True}}
    grants = {(g["group"], g["permission_set"]): g["accounts"] for g in spec.facts["assignments"]}
    # platform-admins x 3 envs, engineers Developer x 2, engineers ReadOnly x 1, auditors x 6 accounts
    assert grants == {
        ("platform-admins", "Administrator"): ["prod", "staging", "dev"],
        ("engineers", "Developer"): ["staging", "dev"],
        ("engineers", "ReadOnly"): ["prod"],
        ("auditors", "Auditor"): ["log-archive", "audit", "security", "prod", "staging", "dev"],
    }
    # deploy reads each permission set's ARN from the stack's outputs
    assert data["Outputs"]["PermissionSetAdministratorArn"]["Value"] == {
        "Fn::GetAtt": ["PermissionSetAdministrator", "PermissionSetArn"]}
    assert {k for k in data["Outputs"]} == {f"PermissionSet{n}Arn" for n in ("Administrator", "ReadOnly", "Auditor",
                                                                              "Developer")}


def test_the_identity_template_is_the_same_for_6_or_600_accounts(cfg):
    from charter.config.grow import grow

    small = {s.name: s for s in identity.build(cfg)}["identity"]
    big = {s.name: s for s in identity.build(grow(cfg, 600))}["identity"]
    assert big.template.to_dict() == small.template.to_dict()
    assert sum(len(g["accounts"]) for g in big.facts["assignments"]) > 600


def test_break_glass_requires_mfa_and_trusts_only_the_management_account(specs):
    role = specs["identity-roles"].template.to_dict()["Resources"]["BreakGlassRole"]["Properties"]
    [stmt] = role["AssumeRolePolicyDocument"]["Statement"]
    assert stmt["Condition"]["Bool"]["aws:MultiFactorAuthPresent"] in (True, "true")
    # the MFA sign-in is at most one hour old, as the role promises ("MFA required, one-hour sessions")
    assert stmt["Condition"]["NumericLessThan"]["aws:MultiFactorAuthAge"] in (3600, "3600")
    assert stmt["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ManagementAccountId}:root"}}
    assert role["MaxSessionDuration"] == 3600


def test_evidence_reader_trusted_only_by_the_collector_and_the_operator(specs):
    role = specs["identity-roles"].template.to_dict()["Resources"]["EvidenceReaderRole"]["Properties"]
    assert role["RoleName"] == EVIDENCE_READER_ROLE
    collector, operator = role["AssumeRolePolicyDocument"]["Statement"]
    assert collector["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AuditAccountId}:root"}}
    assert collector["Condition"]["ArnEquals"]["aws:PrincipalArn"] == {
        "Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AuditAccountId}}:role/{EVIDENCE_COLLECTOR_ROLE}"}
    assert operator["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ManagementAccountId}:root"}}
    assert operator["Condition"]["ArnEquals"]["aws:PrincipalArn"] == {
        "Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{ManagementAccountId}}:role/{EVIDENCE_OPERATOR_ROLE}"}
    policies = [p["Fn::Sub"].rsplit("/", 1)[1] for p in role["ManagedPolicyArns"]]
    assert policies == ["SecurityAudit", "ViewOnlyAccess"]
    [extra] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert extra["Action"] == list(identity.READER_EXTRA_READS) and extra["Effect"] == "Allow"


def test_evidence_operator_lives_in_the_management_account_and_reads_through_the_reader(specs):
    spec = specs["evidence-operator"]
    assert (spec.deployment.kind, spec.deployment.account) == ("stack", "management")
    role = spec.template.to_dict()["Resources"]["EvidenceOperatorRole"]["Properties"]
    assert role["RoleName"] == EVIDENCE_OPERATOR_ROLE
    [assume, _reads] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert assume["Action"] == ["sts:AssumeRole"]
    assert assume["Resource"] == [{"Fn::Sub": f"arn:${{AWS::Partition}}:iam::*:role/{EVIDENCE_READER_ROLE}"}]


def test_roles_reach_every_account_including_management(specs):
    members, mgmt = specs["identity-roles"].deployment, specs["identity-roles-management"].deployment
    assert (members.permission_model, members.target_ous) == ("SERVICE_MANAGED", ["Root"])
    assert (mgmt.permission_model, mgmt.target_accounts) == ("SELF_MANAGED", ["management"])
    assert identity.STACKSET_ROLES_STACK in mgmt.depends_on
    res = specs[identity.STACKSET_ROLES_STACK].template.to_dict()["Resources"]
    admin = res["StackSetAdministrationRole"]["Properties"]
    assert admin["RoleName"] == STACKSET_ADMIN_ROLE
    execution = next(r["Properties"] for r in res.values()
                     if r["Type"] == "AWS::IAM::Role" and r["Properties"]["RoleName"] == STACKSET_EXECUTION_ROLE)
    assert execution["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "AWS": {"Fn::GetAtt": ["StackSetAdministrationRole", "Arn"]}}


def test_unknown_permission_set_is_a_synth_error(cfg):
    from charter.config.model import Assignment
    from charter.errors import SynthError

    ident = cfg.baseline.identity.model_copy(update={"assignments": [Assignment(group="g", permission_set="Nope", accounts=["prod"])]})
    bad = cfg.model_copy(update={"baseline": cfg.baseline.model_copy(update={"identity": ident})})
    with pytest.raises(SynthError, match="unknown permission set 'Nope'"):
        identity.build(bad)
