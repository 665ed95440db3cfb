"""One account-region fails and the rest of the organization still gets its landing zone.

The full plan of examples/small on the embedded AWS, where one account (dev) already holds,
in one region (us-west-2), the log group the account-baseline StackSet creates: that
instance fails as it would on AWS. Every other account gets every StackSet; in dev, only
what depends on the account baseline waits (the network StackSet), each with a failure
line naming the account, the region and the reason. Freed of the collision, the next deploy
finishes the rest and a third changes nothing.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.aws import SessionFactory
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy import deploy
from charter.landing_zone.registry import builders
from charter.landing_zone.synth import build_plan, synthesize, write_output
from charter.local import LocalAws
from charter.naming import MEMBER_ACCESS_ROLE

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "examples" / "small" / "org.yaml"
LOG_GROUP = "/aws/lambda/charter-account-baseline"
FAILED_ACCOUNT, FAILED_REGION = "dev", "us-west-2"


@pytest.fixture(scope="module")
def aws() -> Iterator[SessionFactory]:
    with LocalAws() as server:
        urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()
        yield server.sessions()


def _plan(cfg, out: Path, only: list[str] | None) -> None:
    every = builders()
    stacks = synthesize(cfg, None if only is None else {n: every[n] for n in only})
    write_output(stacks, build_plan(cfg, stacks, CONFIG.read_text()), out)


def _instances(cfn, names: dict[str, str]) -> dict[str, dict[tuple[str, str], str]]:
    """StackSet -> (account name, region) -> instance status/detailed status."""
    out = {}
    for summary in cfn.list_stack_sets(Status="ACTIVE")["Summaries"]:
        name = summary["StackSetName"]
        out[name] = {(names[i["Account"]], i["Region"]): f"{i['Status']}/{i['StackInstanceStatus']['DetailedStatus']}"
                     for i in cfn.list_stack_instances(StackSetName=name)["Summaries"]}
    return out


def test_one_failed_account_region_withholds_only_what_depends_on_it_and_only_there(
        aws: SessionFactory, tmp_path: Path) -> None:
    cfg = load_config(CONFIG)
    _plan(cfg, tmp_path, ["organization"])
    assert deploy(cfg, tmp_path, aws).failures == []
    accounts = {a["Name"]: a["Id"] for a in aws.client("organizations").list_accounts()["Accounts"]}
    names = {v: k for k, v in accounts.items()}
    # what AWS refuses: the instance's log group exists already in that account and region
    logs = aws.client("logs", region=FAILED_REGION, account_id=accounts[FAILED_ACCOUNT], role_name=MEMBER_ACCESS_ROLE)
    logs.create_log_group(logGroupName=LOG_GROUP)

    _plan(cfg, tmp_path, None)
    first = deploy(cfg, tmp_path, aws)

    failed_line = [f for f in first.failures if f.startswith("charter-account-baseline/")]
    assert len(failed_line) == 1, first.failures
    # stack/account/region/resource: AWS's reason
    assert failed_line[0].startswith(f"charter-account-baseline/{FAILED_ACCOUNT}/{FAILED_REGION}/BaselineFunctionLogs: ")
    assert "ResourceType:AWS::Logs::LogGroup" in failed_line[0] and "already exists" in failed_line[0]
    # in dev, the network StackSet (it imports the baseline's exports) waits, and says why
    assert [f for f in first.failures if f.startswith("charter-network/")] == [
        "charter-network/dev/us-east-1: skipped, depends on charter-account-baseline, which failed in this account"]
    assert len(first.failures) == 2, first.failures

    cfn = aws.client("cloudformation")
    seen = _instances(cfn, names)
    plan = {p.stack_name: p for p in build_plan(cfg, synthesize(cfg), "").stacks}
    for stackset, instances in seen.items():
        planned = plan[stackset].deployment
        for (account, region), status in instances.items():
            if stackset == "charter-account-baseline" and (account, region) == (FAILED_ACCOUNT, FAILED_REGION):
                assert status == "OUTDATED/FAILED"
            else:
                assert status == "CURRENT/SUCCEEDED", (stackset, account, region, status)
        wanted = {(a.name, r) for a in cfg.accounts for r in planned.regions
                  if (a.name in planned.target_accounts if planned.target_accounts else
                      a.ou in cfg.subtree(planned.target_ous)) and a.name != "management"}
        if stackset == "charter-network":
            wanted -= {(FAILED_ACCOUNT, r) for r in planned.regions}
            assert {("prod", "us-east-1"), ("staging", "us-east-1")} <= set(instances), "prod and staging get a VPC"
        if planned.permission_model == "SERVICE_MANAGED":
            assert set(instances) == wanted, stackset

    # fixed where AWS said: the next deploy finishes dev, the one after changes nothing
    logs.delete_log_group(logGroupName=LOG_GROUP)
    second = deploy(cfg, tmp_path, aws)
    assert second.failures == []
    assert _instances(cfn, names)["charter-network"].get((FAILED_ACCOUNT, "us-east-1")) == "CURRENT/SUCCEEDED"
    third = deploy(cfg, tmp_path, aws)
    assert third.failures == [] and third.changes == []
