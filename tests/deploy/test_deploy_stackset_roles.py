"""The roles self-managed StackSets need (moto IAM): created once with AWS's documented trust,
journalled so the next deploy does not ask again; when a builder's stack owns the
administration role, deploy only checks it and says which stack to deploy first."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from charter.landing_zone.config import load_config
from charter.landing_zone.deploy.context import DeployContext
from charter.landing_zone.deploy.journal import Journal
from charter.landing_zone.deploy.roles import ensure_stackset_roles
from charter.landing_zone.deploy.run import Run
from charter.landing_zone.stacks import Deployment
from charter.landing_zone.synth import Plan, PlannedStack
from charter.naming import STACKSET_ADMIN_ROLE, STACKSET_EXECUTION_ROLE

REPO = Path(__file__).resolve().parents[2]
MGMT, MEMBER = "123456789012", "111111111111"


@pytest.fixture()
def iam(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # AdministratorAccess exists, as on AWS
    with mock_aws():
        yield boto3.client("iam", region_name="us-east-1")


def _run(tmp_path: Path, iam, stacks: list[PlannedStack] | None = None, journal: Journal | None = None) -> Run:
    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    plan = Plan(organization=cfg.organization.name, home_region="us-east-1", governed_regions=["us-east-1"],
                config_sha256="", stacks=stacks or [])
    run = Run(cfg=cfg, sessions=None, plan=plan, out_dir=tmp_path, journal=journal or Journal(),
              ctx=DeployContext(management_account_id=MGMT, account_ids={"prod": MEMBER}))
    run._clients[("iam", "us-east-1", "")] = iam
    # the member account's client: moto's same IAM (one account), reached as the member would be
    run._clients[("iam", "us-east-1", MEMBER)] = iam
    run.sessions = object()  # type: ignore[assignment]  # never used: every client is moto's
    return run


def test_missing_roles_are_created_with_aws_trust_once(iam, tmp_path: Path) -> None:
    run = _run(tmp_path, iam)
    ensure_stackset_roles(run, [MEMBER])
    assert run.failures == []
    admin = iam.get_role(RoleName=STACKSET_ADMIN_ROLE)["Role"]
    assert admin["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    inline = iam.get_role_policy(RoleName=STACKSET_ADMIN_ROLE, PolicyName="AssumeExecutionRole")["PolicyDocument"]
    assert inline["Statement"][0]["Resource"] == f"arn:aws:iam::*:role/{STACKSET_EXECUTION_ROLE}"
    execution = iam.get_role(RoleName=STACKSET_EXECUTION_ROLE)["Role"]
    assert execution["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{MGMT}:role/{STACKSET_ADMIN_ROLE}"}
    attached = iam.list_attached_role_policies(RoleName=STACKSET_EXECUTION_ROLE)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    assert [c.action for c in run.changes] == ["create", "update", "create", "update"]
    assert run.journal.roles_ready == sorted(["admin", MEMBER])

    again = _run(tmp_path, iam, journal=run.journal)
    ensure_stackset_roles(again, [MEMBER])
    assert again.changes == [] and again.failures == []


def test_roles_a_builder_owns_are_only_checked_and_a_missing_one_names_its_stack(iam, tmp_path: Path) -> None:
    body = {"Resources": {"Admin": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": STACKSET_ADMIN_ROLE}}}}
    (tmp_path / "roles.yaml").write_text(yaml.safe_dump(body))
    owner = PlannedStack(name="stackset-roles", stack_name="charter-stackset-roles", file="roles.yaml",
                         builder="test", deployment=Deployment(kind="stack", regions=["us-east-1"]), sha256="0",
                         bytes=1, resources=1, upload="inline", controls=[])
    run = _run(tmp_path, iam, [owner])
    ensure_stackset_roles(run, [MEMBER])
    assert run.changes == []  # never created by deploy: the stack would then fail with EntityAlreadyExists
    assert run.failures == [f"iam/management/{STACKSET_ADMIN_ROLE}: missing; stack charter-stackset-roles "
                            "creates it, deploy it first (depends_on)"]
    iam.create_role(RoleName=STACKSET_ADMIN_ROLE, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    run = _run(tmp_path, iam, [owner])
    ensure_stackset_roles(run, [MEMBER])
    assert run.failures == [] and run.journal.roles_ready == ["admin"]
