"""The cross-account fan-out against in-process moto: every planned unit yields one
artifact, an unreadable account becomes explicit gaps, global collectors run once per
account, management-only collectors only in the management account, and a concurrent
run yields the same evidence as a sequential one."""

from __future__ import annotations

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from collectors_testkit import small_config
from moto import mock_aws

from charter.aws import SessionFactory
from charter.evidence.fanout import AccountRef, FanOut, collect_all
from charter.landing_zone.scp.expected import evidence_sources

COLLECTORS = ["iam", "kms", "logs", "s3", "organizations"]
MGMT = "123456789012"


@pytest.fixture(scope="module")
def org():
    """One moto organization for the module (the tests only read it)."""
    with pytest.MonkeyPatch.context() as mp:
        yield from _org(mp)


def _org(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    cfg = small_config()
    cfg = cfg.model_copy(update={"organization": cfg.organization.model_copy(update={"management_account_id": None}),
                                 "accounts": cfg.accounts[3:]})  # prod, staging, dev
    with mock_aws():
        orgs = boto3.client("organizations")
        orgs.create_organization(FeatureSet="ALL")
        ids = {}
        for acct in cfg.accounts:
            ids[acct.name] = orgs.create_account(Email=str(acct.email), AccountName=acct.name)[
                "CreateAccountStatus"]["AccountId"]
        sessions = SessionFactory(region="us-east-1")
        for name, aid in ids.items():  # a little data in each member account
            kms = sessions.client("kms", region="us-west-2", account_id=aid, role_name="CharterEvidenceReader")
            kms.create_key(Description=f"{name} key")
            logs = sessions.client("logs", account_id=aid, role_name="CharterEvidenceReader")
            logs.create_log_group(logGroupName=f"/{name}/app")
        yield cfg, ids


def _deny_assume(account_id: str):
    """A hook (SessionFactory.on_client) making STS refuse AssumeRole into one account."""
    def on_client(client):
        if client.meta.service_model.service_name != "sts":
            return

        def refuse(params, **_):
            if f":{account_id}:" in params["body"].get("RoleArn", ""):
                return (AWSResponse("https://sts.amazonaws.com", 403, {}, None),
                        {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"},
                         "ResponseMetadata": {"HTTPStatusCode": 403}})
            return None
        client.meta.events.register("before-call.sts.AssumeRole", refuse)
    return on_client


def test_unreadable_account_becomes_gaps_and_others_complete(org):
    cfg, ids = org
    sessions = SessionFactory(region="us-east-1")
    sessions.on_client.append(_deny_assume(ids["staging"]))
    seen = []
    artifacts = list(collect_all(sessions, cfg, collectors=COLLECTORS, max_workers=8, sources=evidence_sources(cfg),
                                 progress=lambda done, total, art: seen.append((done, total))))
    planned = FanOut(sessions, cfg, [AccountRef(MGMT, "management")] +
                     [AccountRef(aid, name) for name, aid in ids.items()],
                     collectors=COLLECTORS, management_account_id=MGMT).plan()
    assert len(artifacts) == len(planned) == seen[-1][0] == seen[-1][1]

    gaps = [a for a in artifacts if a.kind == "gap"]
    assert gaps and {a.account_id for a in gaps} == {ids["staging"]}
    # every unit of the unreadable account is an explicit gap naming the fix
    staging_units = [u for u in planned if u.target.account_id == ids["staging"]]
    assert len(gaps) == len(staging_units)
    assert all("cannot assume" in g.error and "CharterEvidenceReader" in g.error and "fix:" in g.error for g in gaps)
    assert all(g.controls for g in gaps)  # a gap still says which controls it leaves unevidenced

    evidence = [a for a in artifacts if a.kind == "evidence"]
    assert all(a.all_drained and a.calls for a in evidence)
    by = {(a.collector, a.account_id, a.region) for a in evidence}
    for name in ("prod", "dev"):
        aid = ids[name]
        # regional collectors once per governed region, global ones once (home region)
        assert {(c, r) for c, acct, r in by if acct == aid} == {
            (c, r) for c in ("kms", "logs") for r in ("us-east-1", "us-west-2")} | {("iam", "us-east-1"),
                                                                                          ("s3", "us-east-1")}
        names = {a.account_name for a in evidence if a.account_id == aid}
        assert names == {name}
    # organizations only in the management account (the caller's own, read without a role)
    orgs = [a for a in evidence if a.collector == "organizations"]
    assert [(a.account_id, a.region) for a in orgs] == [(MGMT, "us-east-1")]
    assert orgs[0].caller_arn.endswith(":root") or "user" in orgs[0].caller_arn or MGMT in orgs[0].caller_arn
    member = next(a for a in evidence if a.account_id == ids["prod"])
    assert "assumed-role/CharterEvidenceReader" in member.caller_arn
    # the seeded key is in the prod account's us-west-2 evidence, not in us-east-1
    kms = {a.region: a for a in evidence if a.collector == "kms" and a.account_id == ids["prod"]}
    assert len(kms["us-west-2"].population) == 1 and kms["us-east-1"].population == []


def test_access_denied_on_one_call_is_a_gap_with_the_failed_call(org):
    cfg, ids = org
    sessions = SessionFactory(region="us-east-1")

    def deny_logs(client):
        if client.meta.service_model.service_name == "logs":
            client.meta.events.register("before-call.cloudwatch-logs.DescribeLogGroups", lambda **_: (
                AWSResponse("https://logs", 400, {}, None),
                {"Error": {"Code": "AccessDeniedException", "Message": "no logs:DescribeLogGroups"}}))
    sessions.on_client.append(deny_logs)
    artifacts = list(collect_all(sessions, cfg, [(ids["prod"], "prod")], collectors=["logs", "kms"], max_workers=4))
    gaps = [a for a in artifacts if a.kind == "gap"]
    assert {(g.collector, g.region) for g in gaps} == {("logs", "us-east-1"), ("logs", "us-west-2")}
    assert "logs:DescribeLogGroups" in gaps[0].error and "SecurityAudit" in gaps[0].error
    assert gaps[0].calls[-1].operation == "DescribeLogGroups"
    assert {a.collector for a in artifacts if a.kind == "evidence"} == {"kms"}


def test_sequential_and_concurrent_runs_yield_the_same_evidence(org):
    cfg, ids = org
    accounts = [(aid, name) for name, aid in ids.items()]

    def run(workers: int):
        arts = collect_all(SessionFactory(region="us-east-1"), cfg, accounts, collectors=["kms", "logs", "iam"],
                           max_workers=workers)
        return sorted((a.collector, a.account_id, a.region, a.kind,
                       tuple((p.id, p.control, p.result) for p in a.population),
                       # GenerateCredentialReport is polled until AWS says COMPLETE: state-dependent
                       tuple((c.operation, str(c.parameters)) for c in a.calls
                             if c.operation != "GenerateCredentialReport")) for a in arts)

    assert run(1) == run(8)


def test_suspended_account_is_reported_not_skipped(org):
    cfg, ids = org
    refs = [AccountRef(ids["prod"], "prod", "prod"), AccountRef("999999999999", "closed", None, status="SUSPENDED")]
    arts = list(FanOut(SessionFactory(region="us-east-1"), cfg, refs, collectors=["kms"]).run(max_workers=2))
    gap = next(a for a in arts if a.account_id == "999999999999")
    assert gap.kind == "gap" and "SUSPENDED" in gap.error
    assert len([a for a in arts if a.account_id == ids["prod"]]) == 2


def test_resumed_run_skips_stored_triples_and_takes_bare_ids(org):
    cfg, ids = org
    skip = {("kms", ids["prod"], "us-east-1")}
    arts = list(collect_all(SessionFactory(region="us-east-1"), cfg, [ids["prod"]], collectors=["kms"],
                            max_workers=2, skip=skip))
    assert [(a.collector, a.region, a.account_id) for a in arts] == [("kms", "us-west-2", ids["prod"])]


def test_region_filter_keeps_global_collectors_in_the_home_region(org):
    cfg, ids = org
    units = FanOut(SessionFactory(region="us-east-1"), cfg, [AccountRef(ids["prod"], "prod", "prod")],
                   regions=["us-west-2"], collectors=["iam", "kms"]).plan()
    assert sorted((u.collector.name, u.target.region) for u in units) == [("iam", "us-east-1"), ("kms", "us-west-2")]
