"""Pure pieces of deploy: SCP statement diffs, targets, API-step placeholders, journal, preferences."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions
import pytest

from charter.config.model import OrgConfig
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy.api_steps import _Resolver, already_done
from charter.landing_zone.deploy.context import DeployContext
from charter.landing_zone.deploy.journal import Journal, ScpRecord, StackRecord
from charter.landing_zone.deploy.run import Run
from charter.landing_zone.deploy.scps import sid_control, statement_diff, statement_hashes
from charter.landing_zone.deploy.stacksets import fail_line, operation_preferences
from charter.landing_zone.deploy.templates import Template, control_diff, resource_index
from charter.landing_zone.synth import Plan, PlannedStack

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def large() -> OrgConfig:
    return load_config(REPO / "examples" / "large" / "org.yaml")


def _run(cfg: OrgConfig, tmp_path: Path) -> Run:
    ids = {a.name: f"{100000000000 + i}" for i, a in enumerate(cfg.accounts)}
    ctx = DeployContext(organization_id="o-abcdefghij", root_id="r-abcd", management_account_id="999999999999",
                        account_ids=ids)
    plan = Plan(organization=cfg.organization.name, home_region="us-east-1", governed_regions=["us-east-1"],
                config_sha256="", stacks=[])
    return Run(cfg=cfg, sessions=None, plan=plan, out_dir=tmp_path, journal=Journal(), ctx=ctx)


def test_statement_diff_names_each_sid_and_its_control() -> None:
    old = statement_hashes({"Statement": [{"Sid": "ORG02DenyLeave", "Effect": "Deny"},
                                          {"Sid": "LOG02ProtectTrail", "Effect": "Deny", "Action": "a"}]})
    new = statement_hashes({"Statement": [{"Sid": "LOG02ProtectTrail", "Effect": "Deny", "Action": "b"},
                                          {"Sid": "DAT01DenyPublic", "Effect": "Deny"}]})
    assert statement_diff(old, new) == ["+ DAT01DenyPublic (DAT-01)", "~ LOG02ProtectTrail (LOG-02)",
                                        "- ORG02DenyLeave (ORG-02)"]
    assert sid_control("Whatever") == "custom"


def test_subtree_reaches_ous_nested_four_deep(large: OrgConfig) -> None:
    retail = large.subtree(["Retail"])
    assert retail == {"Retail", "RetailProd", "RetailNonProd", "RetailPCI"}
    assert max(large.ou_depths().values()) == 4
    assert large.subtree(["Root"]) >= {ou.name for ou in large.ous}


def test_operation_preferences_follow_the_config(large: OrgConfig, tmp_path: Path) -> None:
    prefs = operation_preferences(_run(large, tmp_path))
    assert prefs == {"RegionConcurrencyType": "PARALLEL", "MaxConcurrentPercentage": 100,
                     "FailureTolerancePercentage": 10, "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE"}


def test_failure_line_names_stackset_account_region_and_logical_id(tmp_path: Path) -> None:
    tpl = Template(planned=_planned(), body="", data={})
    line = fail_line(tpl, "prod", "eu-west-1", "ResourceLogicalId:Key, ResourceType:AWS::KMS::Key, "
                                                "ResourceStatusReason:denied")
    assert line.startswith("charter-x/prod/eu-west-1/Key: ")
    assert fail_line(tpl, "prod", "eu-west-1", "Account gate failed") == "charter-x/prod/eu-west-1: Account gate failed"


def _planned() -> PlannedStack:
    from charter.landing_zone.stacks import Deployment

    return PlannedStack(name="x", stack_name="charter-x", file="x.yaml", builder="t",
                        deployment=Deployment(kind="stackset", regions=["us-east-1"]), sha256="0", bytes=0,
                        resources=0, upload="inline", controls=[])


def test_api_step_placeholders_resolve_context_and_member_lists(large: OrgConfig, tmp_path: Path) -> None:
    run = _run(large, tmp_path)
    security = run.ctx.account_id("security")
    resolve = _Resolver(run, security, "us-east-1")
    params = resolve({"AdminAccountId": "${SecurityAccountId}", "AccountIds": "${MemberAccountIds}",
                      "Details": "${MemberAccountDetails}", "Arn": "arn:aws:iam::${account:audit}:root"})
    assert params["AdminAccountId"] == security
    assert security not in params["AccountIds"] and "999999999999" not in params["AccountIds"]
    assert len(params["AccountIds"]) == len(large.accounts) - 1
    assert params["Details"][0].keys() == {"AccountId", "Email"}
    assert params["Arn"] == f"arn:aws:iam::{run.ctx.account_id('audit')}:root"


def test_guardduty_and_security_hub_members_include_the_management_account(large: OrgConfig, tmp_path: Path) -> None:
    """Issue #26, 12: a delegated administrator adds organization accounts as members itself,
    the management account included (no one else will); before, its findings stayed out."""
    from charter.landing_zone.builders.detection import security_api_steps

    run = _run(large, tmp_path)
    security = run.ctx.account_id("security")
    steps = {(s["service"], s["operation"]): s for s in security_api_steps(large)}
    for service in ("guardduty", "securityhub"):
        step = steps[(service, "CreateMembers")]
        details = _Resolver(run, security, "us-east-1")(step["parameters"]["AccountDetails"])
        ids = [d["AccountId"] for d in details]
        assert "999999999999" in ids and security not in ids
        assert len(ids) == len(large.accounts)  # every other account plus the management account
        assert {"AccountId": "999999999999", "Email": str(large.organization.management_email)} in details


@pytest.mark.parametrize(("code", "message", "done"), [
    ("AccountAlreadyRegisteredException", "The provided account is already a delegated administrator", True),
    ("BadRequestException", "The request is rejected because the account is already the admin", True),
    ("BadRequestException", "The request is rejected because the input is invalid", False),
    ("AccessDeniedException", "already", False),
])
def test_already_done_answers_count_as_success(code: str, message: str, done: bool) -> None:
    exc = botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, "EnableOrganizationAdminAccount")
    assert already_done(exc) is done


def test_journal_round_trips_locally_and_through_the_mirror_form(tmp_path: Path) -> None:
    j = Journal(organization="acme", accounts={"prod": "123456789012"},
                scps={"charter-root-1": ScpRecord(id="p-1", statements={"ORG02DenyLeave": "abc"})},
                stacks={"kms": StackRecord(template_sha256="f" * 64, failed={"123456789012/us-east-1": "boom"})})
    path = j.save(tmp_path)
    assert path == tmp_path / ".charter" / "deploy-journal.json"
    loaded = Journal.load(tmp_path)
    assert loaded is not None and loaded.stacks["kms"].failed == {"123456789012/us-east-1": "boom"}
    assert Journal.unpack(j.packed()).model_dump(exclude={"updated_at"}) == loaded.model_dump(exclude={"updated_at"})
    # the mirror form leaves out the timestamp, so an unchanged journal is not rewritten
    later = loaded.model_copy(update={"updated_at": "2030-01-01T00:00:00+00:00"})
    assert later.packed() == j.packed()


def test_control_diff_groups_changed_resources_by_control() -> None:
    old = resource_index({"Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True},
                "Metadata": {"Charter": {"Controls": ["ENC-01"]}}},
        "Trail": {"Type": "AWS::CloudTrail::Trail", "Metadata": {"Charter": {"Controls": ["LOG-01"]}}}}})
    new = resource_index({"Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": False},
                "Metadata": {"Charter": {"Controls": ["ENC-01"]}}},
        "Trail": {"Type": "AWS::CloudTrail::Trail", "Metadata": {"Charter": {"Controls": ["LOG-01"]}}},
        "Topic": {"Type": "AWS::SNS::Topic", "Metadata": {"Charter": {"Controls": ["MON-08"]}}}}})
    assert control_diff(old, new) == {"ENC-01": ["~ Key (AWS::KMS::Key)"], "MON-08": ["+ Topic (AWS::SNS::Topic)"]}


def test_journal_mirror_splits_over_8kb_and_reads_back(tmp_path: Path, large: OrgConfig) -> None:
    import secrets

    from moto import mock_aws

    from charter.aws import SessionFactory
    from charter.landing_zone.deploy.engine import _read_mirror, _write_mirror

    with mock_aws():
        run = _run(large, tmp_path)
        run.sessions = SessionFactory(region="us-east-1")
        run.journal.stacks = {f"s{i}": StackRecord(resources={f"R{j}": [secrets.token_hex(6)] for j in range(40)})
                              for i in range(20)}  # random hashes do not compress: well over 8 KB
        _write_mirror(run)
        ssm = run.client("ssm")
        name = "/charter/northwind/deploy-journal"
        assert ssm.get_parameter(Name=name)["Parameter"]["Value"].startswith("parts:")
        assert Journal.unpack(_read_mirror(ssm, name)).stacks == run.journal.stacks
        assert run.failures == []


def test_control_lines_merge_controls_that_share_the_same_changes() -> None:
    from charter.landing_zone.deploy.templates import control_lines

    diff = {"ENC-02": ["~ Bucket (AWS::S3::Bucket)"], "DAT-01": ["~ Bucket (AWS::S3::Bucket)"],
            "LOG-04": ["+ Logs (AWS::Logs::LogGroup)"]}
    assert control_lines(diff) == ["DAT-01, ENC-02: ~ Bucket", "LOG-04: + Logs"]


def test_macie_adds_each_member_account_to_the_security_accounts_view(large: OrgConfig, tmp_path: Path) -> None:
    """Issue #26, 12: delegating Macie adds no member; CreateMember takes one account, so the
    step is one call per member account (moto has no CreateMember: botocore's Stubber checks
    each request against Macie's model). A second deploy makes none of them again."""
    import boto3
    from botocore.stub import Stubber

    from charter.landing_zone.builders.detection import security_api_steps
    from charter.landing_zone.deploy.api_steps import run_steps

    run = _run(large, tmp_path)
    security = run.ctx.account_id("security")
    [step] = [{**s, "regions": ["us-east-1"]} for s in security_api_steps(large)
              if (s["service"], s["operation"]) == ("macie2", "CreateMember")]
    macie = boto3.client("macie2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    run._clients[("macie2", "us-east-1", security)] = macie
    run.sessions = object()  # type: ignore[assignment]  # never used: the only client is the stubbed one
    emails = {a.name: str(a.email) for a in large.accounts}
    members = [(aid, emails[name]) for name, aid in sorted(run.ctx.account_ids.items()) if aid != security]
    with Stubber(macie) as stub:
        for aid, email in members:
            stub.add_response("create_member", {"arn": f"arn:aws:macie2:us-east-1:{security}:member/{aid}"},
                              {"account": {"accountId": aid, "email": email}})
        assert run_steps(run, "detection", [step]), run.failures
        stub.assert_no_pending_responses()
        assert run_steps(run, "detection", [step])  # journalled: no call is made again
    assert len(members) == len(large.accounts) - 1
