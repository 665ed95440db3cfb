"""End to end on the embedded AWS: deploy, re-deploy with no change, faults and resume."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from sample_plan import write_sample_plan

from charter.aws import SessionFactory
from charter.config.model import OrgConfig
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy import deploy
from charter.landing_zone.deploy.journal import Journal
from charter.landing_zone.deploy.planner import offline_plan
from charter.local import LOCAL_MANAGEMENT_ACCOUNT, LocalAws
from charter.naming import (
    MEMBER_ACCESS_ROLE,
    STACKSET_ADMIN_ROLE,
    STACKSET_EXECUTION_ROLE,
)

REPO = Path(__file__).resolve().parents[2]
READS = ("Describe", "List", "Get")
#: STS calls fetch credentials; they change nothing in the organization.
CREDENTIALS = ("AssumeRole",)
MEMBER_STACKSET = "charter-sample-member-keys"


def reset(server: LocalAws) -> None:
    """moto's backends live in the process, not in the server: reset them between tests."""
    urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    # moto builds ~1,300 AWS-managed IAM policies for every account it touches (seconds per
    # account); deploy needs none of them here, so they stay off for this module only.
    saved = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "false"
    try:
        with LocalAws() as server:
            yield server
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES")
            if saved is not None:
                os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = saved
            reset(server)  # later tests in this process get backends built with their setting
    finally:
        if saved is not None:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = saved


@pytest.fixture
def sessions(aws: LocalAws) -> SessionFactory:
    reset(aws)
    sessions = aws.sessions()
    # The self-managed StackSet roles, as the AWS-provided template creates them (deploy
    # creates them when missing; moto without AWS-managed policies cannot attach
    # AdministratorAccess, so they are made here).
    iam = sessions.client("iam")
    for name, trust in ((STACKSET_ADMIN_ROLE, {"Service": "cloudformation.amazonaws.com"}),
                        (STACKSET_EXECUTION_ROLE, {"AWS": f"arn:aws:iam::{LOCAL_MANAGEMENT_ACCOUNT}:root"})):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": trust, "Action": "sts:AssumeRole"}]}))
        # AdministratorAccess, inline (the embedded AWS enforces permissions: a role without a
        # policy could do nothing)
        iam.put_role_policy(RoleName=name, PolicyName="AdministratorAccess", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    return sessions


@pytest.fixture(scope="module")
def small() -> OrgConfig:
    return load_config(REPO / "examples" / "small" / "org.yaml")


def record_calls(sessions: SessionFactory) -> list[str]:
    calls: list[str] = []

    def hook(client: Any) -> None:
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))

    sessions.on_client.append(hook)
    return calls


def mutating(calls: list[str]) -> list[str]:
    return [c for c in calls if not c.startswith(READS) and c not in CREDENTIALS]


def member(sessions: SessionFactory, service: str, account_id: str, region: str) -> Any:
    return sessions.client(service, region=region, account_id=account_id, role_name=MEMBER_ACCESS_ROLE)


def test_deploy_small_builds_the_organization_and_stacksets_then_redeploy_changes_nothing(
        sessions: SessionFactory, small: OrgConfig, tmp_path: Path) -> None:
    write_sample_plan(small, tmp_path)
    result = deploy(small, tmp_path, sessions)
    assert result.failures == []

    org = sessions.client("organizations")
    root = org.list_roots()["Roots"][0]["Id"]
    ous = {}
    queue = [root]
    while queue:
        parent = queue.pop()
        for ou in org.list_organizational_units_for_parent(ParentId=parent)["OrganizationalUnits"]:
            ous[ou["Name"]] = (ou["Id"], parent)
            queue.append(ou["Id"])
    assert set(ous) == {"Security", "Workloads", "Prod", "NonProd", "Suspended"}
    assert ous["Prod"][1] == ous["Workloads"][0]  # nested under its parent

    accounts = {a["Name"]: a["Id"] for a in org.list_accounts()["Accounts"]}
    for acct in small.accounts:
        assert acct.name in accounts
        parent = org.list_parents(ChildId=accounts[acct.name])["Parents"][0]["Id"]
        assert parent == ous[acct.ou][0], f"{acct.name} is not in {acct.ou}"

    charter_policies = [p for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
                        if p["Name"].startswith("charter-")]
    attached = {t["Name"] for p in charter_policies
                for t in org.list_targets_for_policy(PolicyId=p["Id"])["Targets"]}
    assert {"Security", "Workloads", "Suspended"} <= attached

    cfn = sessions.client("cloudformation")
    instances = {(i["Account"], i["Region"]) for i in cfn.list_stack_instances(StackSetName=MEMBER_STACKSET)["Summaries"]}
    expected = {(accounts[a.name], r) for a in small.accounts for r in small.organization.governed_regions}
    assert instances == expected  # every target account x region, no more

    # The StackSet's KMS key exists inside a member account, with the context parameter filled.
    assert member(sessions, "kms", accounts["prod"], "us-west-2").list_keys()["Keys"], "no KMS key in prod"
    value = member(sessions, "ssm", accounts["prod"], "us-west-2").get_parameter(
        Name="/charter/sample/organization-id")["Parameter"]["Value"]
    assert value == result.journal.organization_id
    # The self-managed StackSet reached the management account.
    assert sessions.client("kms").list_keys()["Keys"]

    journal = Journal.load(tmp_path)
    assert journal is not None and journal.accounts == {a.name: accounts[a.name] for a in small.accounts}
    mirror = sessions.client("ssm").get_parameter(Name="/charter/acme/deploy-journal")["Parameter"]["Value"]
    assert Journal.unpack(mirror).accounts == journal.accounts

    calls = record_calls(sessions)
    again = deploy(small, tmp_path, sessions)
    assert again.failures == []
    assert calls, "the re-deploy made no calls at all (the hook is not attached)"
    assert mutating(calls) == []
    assert again.changes == []


def test_existing_account_is_adopted_by_email_not_duplicated(sessions: SessionFactory, small: OrgConfig,
                                                             tmp_path: Path) -> None:
    org = sessions.client("organizations")
    org.create_organization(FeatureSet="ALL")
    prod = next(a for a in small.accounts if a.name == "prod")
    existing = org.create_account(Email=str(prod.email), AccountName="legacy-prod")["CreateAccountStatus"]["AccountId"]
    write_sample_plan(small, tmp_path, builders=["organization"])
    result = deploy(small, tmp_path, sessions)
    assert result.failures == []
    assert result.journal.accounts["prod"] == existing
    emails = [a["Email"] for a in org.list_accounts()["Accounts"]]
    assert emails.count(str(prod.email)) == 1


def test_faults_one_failed_instance_and_a_throttle_then_the_next_deploy_finishes(
        sessions: SessionFactory, small: OrgConfig, tmp_path: Path) -> None:
    write_sample_plan(small, tmp_path)
    state: dict[str, Any] = {"throttled": 0, "prod": None}

    def throttle_once(request: Any, **_: Any) -> AWSResponse | None:
        if state["throttled"]:
            return None
        state["throttled"] += 1
        body = (b'<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>'
                b'<Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>')
        return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, _Raw(body))

    def fail_prod(parsed: dict[str, Any], **_: Any) -> None:
        for inst in parsed.get("Summaries", []):
            if inst["Account"] == state["prod"] and inst["Region"] == "us-west-2":
                inst["Status"] = "OUTDATED"
                inst["StatusReason"] = ("ResourceLogicalId:SampleKey, ResourceType:AWS::KMS::Key, "
                                        "ResourceStatusReason:KMS key quota exceeded (injected)")
                inst["StackInstanceStatus"] = {"DetailedStatus": "FAILED"}

    def faults(client: Any) -> None:
        if client.meta.service_model.service_name == "cloudformation":
            client.meta.events.register("before-send.cloudformation.CreateStackInstances", throttle_once)
            client.meta.events.register("after-call.cloudformation.ListStackInstances", fail_prod)

    org = sessions.client("organizations")
    sessions.on_client.append(faults)
    # The prod account's id is known only once deploy has created it: look it up lazily.
    original = org.list_accounts

    def prod_id() -> str | None:
        try:
            return next(a["Id"] for a in original()["Accounts"] if a["Name"] == "prod")
        except Exception:  # noqa: BLE001 - no organization yet
            return None

    class _Lazy(dict):
        def get(self, key: str, default: Any = None) -> Any:
            if key == "prod" and dict.get(self, "prod") is None:
                self["prod"] = prod_id()
            return dict.get(self, key, default)

        def __getitem__(self, key: str) -> Any:
            return self.get(key)

    state = _Lazy(state)
    first = deploy(small, tmp_path, sessions)
    sessions.on_client.remove(faults)

    assert state["throttled"] == 1, "the throttle was not injected"
    assert first.failures == [f"{MEMBER_STACKSET}/prod/us-west-2/SampleKey: FAILED: ResourceLogicalId:SampleKey, "
                              "ResourceType:AWS::KMS::Key, ResourceStatusReason:KMS key quota exceeded (injected)"]
    cfn = sessions.client("cloudformation")
    done = {(i["Account"], i["Region"]) for i in cfn.list_stack_instances(StackSetName=MEMBER_STACKSET)["Summaries"]}
    assert len(done) == len(small.accounts) * 2  # the others finished (the throttle was absorbed)
    assert Journal.load(tmp_path).stacks["sample-member-keys"].failed

    calls = record_calls(sessions)
    second = deploy(small, tmp_path, sessions)
    assert second.failures == []
    # only the failed instance is redone, and the journal's mirror records it
    assert mutating(calls) == ["UpdateStackInstances", "PutParameter"]
    assert not Journal.load(tmp_path).stacks["sample-member-keys"].failed


class _Raw:
    """The urllib3-like body botocore reads from an injected response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


def test_plan_offline_shows_one_move_and_one_statement(sessions: SessionFactory, small: OrgConfig,
                                                      tmp_path: Path) -> None:
    write_sample_plan(small, tmp_path)
    assert deploy(small, tmp_path, sessions).failures == []
    changes, _ = offline_plan(small, tmp_path)
    assert changes == []

    data = small.model_dump(mode="json")
    next(a for a in data["accounts"] if a["name"] == "dev")["ou"] = "Prod"
    data["scps"]["custom"] = [{"sid": "DenyPublicShares", "control": "DAT-01", "actions": ["ram:CreateResourceShare"],
                               "targets": ["Workloads"]}]
    changed = OrgConfig.model_validate(data)
    write_sample_plan(changed, tmp_path)
    rendered = [c.render() for c in offline_plan(changed, tmp_path)[0]]
    text = "\n".join(rendered)
    assert "move     account dev\n           NonProd -> Prod" in text
    assert "+ DAT01DenyPublicShares (DAT-01)" in text
    assert len(text.splitlines()) < 25  # fits on a screen

    # Against AWS (a dry run of deploy) the same two changes show, and nothing is changed.
    calls = record_calls(sessions)
    online = deploy(changed, tmp_path, sessions, dry_run=True)
    areas = {(c.area, c.action, c.target) for c in online.changes}
    assert ("account", "move", "dev") in areas
    assert any(c.area == "scp" and "+ DAT01DenyPublicShares (DAT-01)" in c.details for c in online.changes)
    assert mutating(calls) == []
    assert json.loads(json.dumps([c.render() for c in online.changes]))


@pytest.mark.slow
def test_large_org_nested_four_deep_gets_every_instance_and_redeploys_read_only(
        sessions: SessionFactory, tmp_path: Path) -> None:
    large = load_config(REPO / "examples" / "large" / "org.yaml")
    # Retail -> RetailProd -> RetailPCI: accounts two OU levels below the StackSet's target.
    write_sample_plan(large, tmp_path, target_ous=["Retail"], management=False)
    result = deploy(large, tmp_path, sessions)
    assert result.failures == []
    assert len(result.journal.accounts) == len(large.accounts) >= 60

    retail = {"Retail", "RetailProd", "RetailNonProd", "RetailPCI"}
    expected = {(result.journal.accounts[a.name], r) for a in large.accounts if a.ou in retail
                for r in large.organization.governed_regions}
    assert any(a.ou == "RetailPCI" for a in large.accounts)
    cfn = sessions.client("cloudformation")
    from charter.aws import paginate

    got = [(i["Account"], i["Region"]) for i in
           paginate(cfn, "list_stack_instances", "Summaries", StackSetName=MEMBER_STACKSET).items]
    assert sorted(got) == sorted(expected)  # every account, no duplicates

    calls = record_calls(sessions)
    assert deploy(large, tmp_path, sessions).failures == []
    assert mutating(calls) == []
