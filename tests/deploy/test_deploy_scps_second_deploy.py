"""SCPs on a later deploy, against moto's Organizations: a Charter SCP whose statements changed
is updated in place (never recreated, so its id and attachments stay), one attached where
org.yaml no longer puts it is detached, and a Charter SCP org.yaml no longer has (named
charter-*, or tagged ManagedBy=charter) is detached and deleted; SCPs Charter does not own are
left alone."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from charter.landing_zone.config import load_config
from charter.landing_zone.deploy.context import DeployContext
from charter.landing_zone.deploy.journal import Journal
from charter.landing_zone.deploy.run import Run
from charter.landing_zone.deploy.scps import reconcile
from charter.landing_zone.scp.packing import pack
from charter.landing_zone.synth import Plan

REPO = Path(__file__).resolve().parents[2]
SCP = "SERVICE_CONTROL_POLICY"
DENY_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "Old", "Effect": "Deny", "Action": "s3:*",
                                                                 "Resource": "*"}]})


@pytest.fixture()
def org(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        root = client.list_roots()["Roots"][0]["Id"]
        client.enable_policy_type(RootId=root, PolicyType=SCP)
        yield client, root


def _policy(client, name: str, targets: list[str], tags: list[dict] | None = None) -> str:
    pid = client.create_policy(Content=DENY_ALL, Description="before", Name=name, Type=SCP,
                               Tags=tags or [])["Policy"]["PolicySummary"]["Id"]
    for t in targets:
        client.attach_policy(PolicyId=pid, TargetId=t)
    return pid


def _targets(client, pid: str) -> set[str]:
    return {t["TargetId"] for t in client.list_targets_for_policy(PolicyId=pid)["Targets"]}


def test_a_later_deploy_updates_detaches_and_deletes_only_what_charter_owns(org, tmp_path: Path) -> None:
    client, root = org
    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    ou_ids = {ou.name: client.create_organizational_unit(ParentId=root, Name=ou.name)["OrganizationalUnit"]["Id"]
              for ou in cfg.ous}
    desired = pack(cfg)
    first = desired[0]
    extra_ou = next(name for name in ou_ids if name not in first.targets)
    kept_id = _policy(client, first.name, [ou_ids[extra_ou]])  # old statements, attached where it must not be
    _policy(client, "charter-retired", [ou_ids[extra_ou]])
    _policy(client, "guardrails-v1", [], tags=[{"Key": "ManagedBy", "Value": "charter"}])
    theirs = _policy(client, "team-own-policy", [ou_ids[extra_ou]])

    plan = Plan(organization=cfg.organization.name, home_region="us-east-1", governed_regions=["us-east-1"],
                config_sha256="", stacks=[])
    ctx = DeployContext(root_id=root, management_account_id="123456789012", ou_ids=ou_ids)
    run = Run(cfg=cfg, sessions=None, plan=plan, out_dir=tmp_path, journal=Journal(), ctx=ctx)
    run._clients[("organizations", "us-east-1", "")] = client
    run.sessions = object()  # type: ignore[assignment]  # never used: the only client is moto's
    reconcile(run)
    assert run.failures == []

    policies = {p["Name"]: p["Id"] for p in client.list_policies(Filter=SCP)["Policies"]}
    assert policies[first.name] == kept_id  # updated in place
    content = json.loads(client.describe_policy(PolicyId=kept_id)["Policy"]["Content"])
    assert content == first.document
    assert _targets(client, kept_id) == {ctx.ou_id(t) for t in first.targets}  # the extra OU is detached
    assert "charter-retired" not in policies and "guardrails-v1" not in policies
    assert policies["team-own-policy"] == theirs and _targets(client, theirs) == {ou_ids[extra_ou]}
    for p in desired:
        assert _targets(client, policies[p.name]) == {ctx.ou_id(t) for t in p.targets}, p.name

    changes = {(c.target, c.action): c.details for c in run.changes}
    assert changes[(first.name, "update")]  # the statements that changed, by Sid
    assert changes[(first.name, "detach")] == [f"from {extra_ou}"]
    assert changes[("charter-retired", "detach")] == [f"from {extra_ou} (stale)"]
    assert ("charter-retired", "delete") in changes and ("guardrails-v1", "delete") in changes
    assert run.journal.scps[first.name].id == kept_id
