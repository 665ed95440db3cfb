"""Policy invariants over EVERY template synthesized for examples/small (all builders),
plus cfn-lint and checkov over the security-baseline stacks (part B of issue 3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from charter.landing_zone.config import load_config
from charter.landing_zone.synth import synthesize

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
BASELINE_BUILDERS = {"kms", "account_baseline", "alerting", "backup", "network", "identity"}
#: The only places full administrator access may be granted (IAM-05): the MFA-gated break-glass role
#: and the one-hour Administrator permission set.
ADMIN_ALLOWED_ROLES = {"CharterBreakGlass"}

KMS_MANAGE = ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:DisableKey",
              "kms:EnableKey", "kms:DisableKeyRotation", "kms:EnableKeyRotation", "kms:UpdateKeyDescription",
              "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:TagResource", "kms:UntagResource")
KMS_USE = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
           "kms:GenerateDataKeyWithoutPlaintext")


@pytest.fixture(scope="module")
def stacks():
    return synthesize(load_config(EXAMPLE))


def _list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _resources(stacks, *types):
    for s in stacks:
        for lid, res in (s.data.get("Resources") or {}).items():
            if res.get("Type") in types:
                yield s.name, lid, res


def _identity_policies(stacks):
    """(where, policy document) for every identity-based policy."""
    for name, lid, res in _resources(stacks, "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group",
                                     "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SSO::PermissionSet"):
        props = res.get("Properties", {})
        for p in props.get("Policies", []) or []:
            yield f"{name}:{lid}:{p.get('PolicyName')}", p["PolicyDocument"]
        if "PolicyDocument" in props:
            yield f"{name}:{lid}", props["PolicyDocument"]
        if isinstance(props.get("InlinePolicy"), dict):
            yield f"{name}:{lid}:inline", props["InlinePolicy"]


def _is_wildcard_principal(principal) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in _list(principal.get("AWS"))


def test_synth_covers_every_baseline_builder(stacks):
    assert BASELINE_BUILDERS <= {s.spec.builder for s in stacks}


def star_on_star(stacks) -> list[str]:
    offenders = []
    for where, doc in _identity_policies(stacks):
        for st in _list(doc.get("Statement")):
            if st.get("Effect") == "Allow" and "*" in _list(st.get("Action")) and "*" in _list(st.get("Resource")):
                offenders.append(where)
    return offenders


def admin_attached(stacks) -> list[str]:
    offenders = []
    for name, lid, res in _resources(stacks, "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
        props = res.get("Properties", {})
        arns = [str(a) for a in _list(props.get("ManagedPolicyArns"))]
        if any("policy/AdministratorAccess" in a for a in arns) and props.get("RoleName") not in ADMIN_ALLOWED_ROLES:
            offenders.append(f"{name}:{lid}")
    return offenders


def public_resource_policies(stacks) -> list[str]:
    offenders = []
    for name, lid, res in _resources(stacks, "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"):
        for st in _list(res["Properties"]["PolicyDocument"].get("Statement")):
            if st.get("Effect") == "Allow" and _is_wildcard_principal(st.get("Principal")) and not st.get("Condition"):
                offenders.append(f"{name}:{lid}:{st.get('Sid')}")
    return offenders


def _covers(actions, names) -> set[str]:
    return {n for n in names for a in actions if isinstance(a, str) and fnmatchcase(n.lower(), a.lower())}


def mixed_key_statements(stacks) -> list[str]:
    offenders = []
    for name, lid, res in _resources(stacks, "AWS::KMS::Key"):
        for st in _list(res["Properties"]["KeyPolicy"].get("Statement")):
            if st.get("Effect") != "Allow":
                continue
            actions = _list(st.get("Action"))
            principal = st.get("Principal") or {}
            aws = _list(principal.get("AWS")) if isinstance(principal, dict) else []
            # the standard statement that lets IAM policies apply to the key: kms:* to the account root
            if actions == ["kms:*"] and not st.get("Condition") and aws and all(":root" in json.dumps(a) for a in aws):
                continue
            if _covers(actions, KMS_MANAGE) and _covers(actions, KMS_USE):
                offenders.append(f"{name}:{lid}:{st.get('Sid')}")
    return offenders


def unnamed_trust(stacks) -> list[str]:
    offenders = []
    for name, lid, res in _resources(stacks, "AWS::IAM::Role"):
        for st in _list(res["Properties"]["AssumeRolePolicyDocument"].get("Statement")):
            if st.get("Effect") != "Allow":
                continue
            principal = st.get("Principal")
            if not principal or _is_wildcard_principal(principal) or "NotPrincipal" in st:
                offenders.append(f"{name}:{lid}")
    return offenders


CHECKS = [star_on_star, admin_attached, public_resource_policies, mixed_key_statements, unnamed_trust]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_every_synthesized_template_keeps_the_invariant(stacks, check):
    if check is mixed_key_statements:
        assert list(_resources(stacks, "AWS::KMS::Key"))
    assert check(stacks) == []


@dataclass
class _Fake:
    name: str
    data: dict


def _doc(**statement):
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}


BAD = {
    star_on_star: {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": _doc(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole"),
        "Policies": [{"PolicyName": "p", "PolicyDocument": _doc(Action="*", Resource="*")}]}},
    admin_attached: {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": _doc(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole"),
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}},
    public_resource_policies: {"Type": "AWS::SNS::TopicPolicy", "Properties": {
        "Topics": ["t"], "PolicyDocument": _doc(Principal={"AWS": "*"}, Action="sns:Publish", Resource="t")}},
    mixed_key_statements: {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": _doc(
        Principal={"AWS": "arn:aws:iam::111111111111:role/Ops"}, Action=["kms:Put*", "kms:Decrypt"], Resource="*")}},
    unnamed_trust: {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": _doc(Principal={"AWS": "*"}, Action="sts:AssumeRole")}},
}


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_each_invariant_catches_a_violation(check):
    assert check([_Fake("bad", {"Resources": {"Bad": BAD[check]}})]) != []


# -- lint: the security-baseline stacks pass cfn-lint and checkov with zero findings ---------

@pytest.fixture(scope="session")
def linter():
    from charter.landing_zone.lint import Linter

    return Linter(load_config(EXAMPLE).organization.governed_regions)


@pytest.mark.slow
def test_baseline_stacks_pass_cfn_lint_and_checkov(stacks, linter, tmp_path):
    mine = [s for s in stacks if s.spec.builder in BASELINE_BUILDERS]
    assert len(mine) >= 15
    findings = []
    files = []
    for s in mine:
        findings += [f.render() for f in linter.cfn_lint(s.name, s.data)]
        path = tmp_path / f"{s.name}.yaml"
        path.write_text(s.body)
        files.append(path)
    checkov_findings, passed = linter.checkov(files)
    findings += [f.render() for f in checkov_findings]
    assert findings == []
    assert passed > 0


def test_baseline_dependencies_exist_and_deploy_first(stacks):
    by_name = {s.name: s.spec.deployment for s in stacks}
    for s in stacks:
        if s.spec.builder not in BASELINE_BUILDERS:
            continue
        for dep in s.spec.deployment.depends_on:
            assert dep in by_name, f"{s.name} depends on unknown stack {dep}"
            assert by_name[dep].order <= s.spec.deployment.order, f"{s.name} deploys before {dep}"
