"""Identity Center assignments through the API on the embedded AWS: deploy makes exactly what
org.yaml grants, removes what it stops granting (a whole group too), and an unchanged
re-deploy makes no mutating call."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.config.model import Assignment, OrgConfig
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy import deploy
from charter.landing_zone.deploy.assignments import wanted
from charter.landing_zone.registry import builders
from charter.landing_zone.synth import Plan, build_plan, synthesize, write_output
from charter.local import LocalAws

REPO = Path(__file__).resolve().parents[2]
READS = ("Describe", "List", "Get")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        urllib.request.urlopen(urllib.request.Request(f"{aws.endpoint_url}/moto-api/reset", method="POST")).read()
        yield aws


def _synth(cfg: OrgConfig, out: Path) -> Plan:
    every = builders()
    stacks = synthesize(cfg, {n: every[n] for n in ("organization", "identity")})
    write_output(stacks, build_plan(cfg, stacks), out)
    return Plan.read(out)


def _assignments(server: LocalAws, groups: list[str]) -> set[tuple[str, str, str]]:
    """(group, permission set name, account name) as Identity Center holds them."""
    s = server.sessions()
    sso, ids, org = s.client("sso-admin"), s.client("identitystore"), s.client("organizations")
    inst = sso.list_instances()["Instances"][0]
    names = {a["Id"]: a["Name"] for a in org.list_accounts()["Accounts"]}
    ps_names = {arn: sso.describe_permission_set(InstanceArn=inst["InstanceArn"], PermissionSetArn=arn)[
        "PermissionSet"]["Name"] for arn in sso.list_permission_sets(InstanceArn=inst["InstanceArn"])["PermissionSets"]}
    out = set()
    for group in groups:
        try:
            gid = ids.get_group_id(IdentityStoreId=inst["IdentityStoreId"], AlternateIdentifier={
                "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": group}})["GroupId"]
        except sso.exceptions.ClientError:
            continue
        pages = sso.get_paginator("list_account_assignments_for_principal").paginate(
            InstanceArn=inst["InstanceArn"], PrincipalId=gid, PrincipalType="GROUP")
        for page in pages:
            out |= {(group, ps_names[a["PermissionSetArn"]], names[a["AccountId"]]) for a in page["AccountAssignments"]}
    return out


def _with_assignments(cfg: OrgConfig, assignments: list[Assignment]) -> OrgConfig:
    identity = cfg.baseline.identity.model_copy(update={"assignments": assignments})
    return cfg.model_copy(update={"baseline": cfg.baseline.model_copy(update={"identity": identity})})


def test_assignments_follow_org_yaml_and_an_unchanged_deploy_changes_nothing(server: LocalAws, tmp_path: Path) -> None:
    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    groups = ["platform-admins", "engineers", "auditors", "sre"]
    plan = _synth(cfg, tmp_path)
    first = deploy(cfg, tmp_path, server.sessions())
    assert first.failures == []
    identity = next(p for p in plan.stacks if p.name == "identity")
    assert _assignments(server, groups) == wanted(identity) and len(wanted(identity)) == 12
    assert any(c.area == "assignment" and c.action == "create" for c in first.changes)

    # drop a grant, narrow another, add a group
    current = cfg.baseline.identity.assignments
    changed = _with_assignments(cfg, [
        current[0], current[1],  # platform-admins/Administrator, engineers/Developer unchanged
        Assignment(group="auditors", permission_set="Auditor", accounts=["audit", "prod"]),
        Assignment(group="sre", permission_set="Developer", environments=["prod"]),
    ])
    plan = _synth(changed, tmp_path)
    second = deploy(changed, tmp_path, server.sessions())
    assert second.failures == []
    identity = next(p for p in plan.stacks if p.name == "identity")
    assert _assignments(server, groups) == wanted(identity)
    actions = {(c.target, c.action) for c in second.changes if c.area == "assignment"}
    assert actions == {("engineers / ReadOnly", "delete"), ("auditors / Auditor", "delete"),
                       ("sre / Developer", "create")}

    # a group org.yaml no longer names loses what Charter gave it
    gone = _with_assignments(changed, changed.baseline.identity.assignments[:3])
    _synth(gone, tmp_path)
    third = deploy(gone, tmp_path, server.sessions())
    assert third.failures == []
    assert {a for a in _assignments(server, groups) if a[0] == "sre"} == set()

    # offline, `charter plan` names the assignments a config change would make
    from charter.landing_zone.deploy.planner import offline_plan

    narrowed = _with_assignments(gone, [*gone.baseline.identity.assignments[:2],
                                        Assignment(group="auditors", permission_set="Auditor", accounts=["audit"])])
    _synth(narrowed, tmp_path)
    planned, _ = offline_plan(narrowed, tmp_path)
    assert [(c.target, c.action, c.details) for c in planned if c.area == "assignment"] == [
        ("auditors / Auditor", "delete", ["1 account: prod"])]
    _synth(gone, tmp_path)

    calls: list[str] = []
    sessions = server.sessions()
    sessions.on_client.append(lambda c: c.meta.events.register("before-call", lambda model, **_: calls.append(model.name)))
    again = deploy(gone, tmp_path, sessions)
    assert again.failures == [] and again.changes == []
    assert [c for c in calls if not c.startswith(READS) and c != "AssumeRole"] == []
    assert "ListAccountAssignmentsForPrincipal" in calls, "AWS, not the journal, is read for what exists"


def test_a_permission_set_org_yaml_drops_loses_its_assignments_before_it_goes(server: LocalAws, tmp_path: Path) -> None:
    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    _synth(cfg, tmp_path)
    assert deploy(cfg, tmp_path, server.sessions()).failures == []
    identity = cfg.baseline.identity
    without = cfg.model_copy(update={"baseline": cfg.baseline.model_copy(update={"identity": identity.model_copy(update={
        "permission_sets": [p for p in identity.permission_sets if p.name != "Auditor"],
        "assignments": [a for a in identity.assignments if a.permission_set != "Auditor"]})})})
    _synth(without, tmp_path)
    result = deploy(without, tmp_path, server.sessions())
    assert result.failures == []
    deletes = [c for c in result.changes if c.area == "assignment"]
    assert [(c.target, c.action) for c in deletes] == [("auditors / Auditor", "delete")]
    assert {a for a in _assignments(server, ["auditors"])} == set()
    sso = server.sessions().client("sso-admin")
    inst = sso.list_instances()["Instances"][0]["InstanceArn"]
    names = {sso.describe_permission_set(InstanceArn=inst, PermissionSetArn=arn)["PermissionSet"]["Name"]
             for arn in sso.list_permission_sets(InstanceArn=inst)["PermissionSets"]}
    assert "Auditor" not in names
