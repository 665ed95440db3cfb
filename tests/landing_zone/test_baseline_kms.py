"""ENC-01: a rotating CMK per environment whose policy keeps administrators and users apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.landing_zone.builders import kms
from charter.landing_zone.config import load_config
from charter.naming import kms_alias

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def specs(cfg):
    return {s.name: s for s in kms.build(cfg)}


def _key(data):
    return next(r for r in data["Resources"].values() if r["Type"] == "AWS::KMS::Key")


def _statements(data):
    return {s["Sid"]: s for s in _key(data)["Properties"]["KeyPolicy"]["Statement"]}


def _actions(stmt):
    acts = stmt["Action"]
    return {acts} if isinstance(acts, str) else set(acts)


def test_one_key_per_environment_in_exactly_its_accounts(cfg, specs):
    envs = {a.environment for a in cfg.accounts}
    assert {f"kms-{e}" for e in envs} | {"kms-management"} == set(specs)
    prod = specs["kms-prod"].deployment
    assert prod.permission_model == "SERVICE_MANAGED"
    assert prod.target_accounts == [a.name for a in cfg.accounts_in("prod")]
    assert prod.target_ous == ["Prod"]
    # every region that needs an EBS/backup key: governed + DR
    assert set(prod.regions) >= set(cfg.organization.governed_regions) | {cfg.dr_region}
    mgmt = specs["kms-management"].deployment
    assert (mgmt.permission_model, mgmt.target_accounts) == ("SELF_MANAGED", ["management"])


def test_rotation_alias_and_export_follow_config(cfg):
    cfg2 = cfg.model_copy(update={"baseline": cfg.baseline.model_copy(update={"kms_rotation_days": 180})})
    data = {s.name: s for s in kms.build(cfg2)}["kms-staging"].template.to_dict()
    key = _key(data)
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"]["RotationPeriodInDays"] == 180
    assert key["DeletionPolicy"] == "Retain"
    assert "ENC-01" in key["Metadata"]["Charter"]["Controls"]
    alias = next(r for r in data["Resources"].values() if r["Type"] == "AWS::KMS::Alias")
    assert alias["Properties"]["AliasName"] == kms_alias(cfg, "staging")
    assert data["Outputs"]["KeyArn"]["Export"]["Name"] == kms.KEY_ARN_EXPORT


def test_key_policy_separates_administrators_from_users(specs):
    stmts = _statements(specs["kms-prod"].template.to_dict())
    # the cryptographic use of a key, as AWS's default key policy grants it to key users
    use = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"}
    # root: only the standard enabling statement, unconditioned kms:* for IAM delegation
    root = stmts["EnableIamPolicies"]
    assert _actions(root) == {"kms:*"} and "Condition" not in root
    # administrators: manage, never use
    admin = stmts["KeyAdministrators"]
    assert not _actions(admin) & use and not any(a.startswith(("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"))
                                                  for a in _actions(admin))
    assert "kms:ScheduleKeyDeletion" in _actions(admin)
    # ... and are explicitly denied direct use, which IAM cannot override
    deny = stmts["DenyDirectUseByKeyAdministrators"]
    assert deny["Effect"] == "Deny" and _actions(deny) == use
    assert deny["Condition"]["ArnLike"]["aws:PrincipalArn"] == admin["Condition"]["ArnLike"]["aws:PrincipalArn"]
    # users: use through AWS services of this account, never manage
    users = stmts["KeyUsersThroughAwsServices"]
    assert _actions(users) <= use | {"kms:DescribeKey"}
    assert "kms:CallerAccount" in users["Condition"]["StringEquals"]
    # no one outside the admins (and break-glass) may destroy the key
    destroy = stmts["DenyKeyDestructionByOthers"]
    assert {"kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"} <= _actions(destroy)
    # no Allow statement with a wildcard principal (CKV_AWS_33)
    for s in stmts.values():
        if s["Effect"] == "Allow":
            assert s["Principal"] != "*" and s["Principal"].get("AWS") != "*"
