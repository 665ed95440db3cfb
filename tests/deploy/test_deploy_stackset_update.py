"""StackSets on a second deploy: a changed template updates the StackSet (one operation, the
changed controls and parameters named, the id journalled before the call), an instance that
fails the update is reported by account, region and logical id, and a deploy resumed after
being killed waits for the operation it left running instead of submitting the work again.

Moto runs StackSet operations synchronously and never fails an instance with a reason:
botocore's Stubber checks each request and answer against CloudFormation's model instead."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import ANY, Stubber
from rich.console import Console

from charter.config.model import OrgConfig
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy.context import DeployContext
from charter.landing_zone.deploy.journal import Journal, StackRecord
from charter.landing_zone.deploy.progress import OperationProgress
from charter.landing_zone.deploy.run import Run
from charter.landing_zone.deploy.stacksets import StackSetDeployer
from charter.landing_zone.deploy.templates import Template
from charter.landing_zone.stacks import Deployment
from charter.landing_zone.synth import Plan, PlannedStack

REPO = Path(__file__).resolve().parents[2]
MGMT = "999999999999"
PROD, STAGING, DEV = "111111111111", "222222222222", "333333333333"
NAME = "charter-sample-keys"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = {"Type": "AWS::KMS::Key", "Metadata": {"Charter": {"Controls": ["ENC-01"]}},
       "Properties": {"EnableKeyRotation": True}}
TOPIC = {"Type": "AWS::SNS::Topic", "Metadata": {"Charter": {"Controls": ["MON-01"]}}}


@pytest.fixture(scope="module")
def small() -> OrgConfig:
    return load_config(REPO / "examples" / "small" / "org.yaml")


def _template(resources: dict, params: dict[str, str]) -> Template:
    data = {"Description": "sample keys", "Resources": resources}
    body = yaml.safe_dump(data)
    planned = PlannedStack(name="sample-keys", stack_name=NAME, file="sample-keys.yaml", builder="test",
                           deployment=Deployment(kind="stackset", permission_model="SERVICE_MANAGED",
                                                 regions=["us-east-1"], target_ous=["Workloads"]),
                           sha256=hashlib.sha256(body.encode()).hexdigest(), bytes=len(body),
                           resources=len(resources), upload="", controls=["ENC-01"])
    return Template(planned=planned, body=body, data=data, parameters=params)


def _run(cfg: OrgConfig, tmp_path: Path, cfn, tpl: Template, journal: Journal | None = None,
         progress: OperationProgress | None = None) -> Run:
    plan = Plan(organization=cfg.organization.name, home_region="us-east-1", governed_regions=["us-east-1"],
                config_sha256="", stacks=[tpl.planned])
    ctx = DeployContext(organization_id="o-abcdefghij", root_id="r-abcd", management_account_id=MGMT,
                        ou_ids={"Workloads": "ou-abcd-11111111", "Prod": "ou-abcd-22222222",
                                "NonProd": "ou-abcd-33333333"},
                        account_ids={"prod": PROD, "staging": STAGING, "dev": DEV})
    run = Run(cfg=cfg, sessions=None, plan=plan, out_dir=tmp_path, journal=journal or Journal(), poll_interval=0,
              ctx=ctx, progress=progress)
    run._clients[("cloudformation", "us-east-1", "")] = cfn
    run.sessions = object()  # type: ignore[assignment]  # never used: the only client is the stubbed one
    return run


def _cfn():
    return boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _current(tpl_body: str, params: dict[str, str], tags: dict[str, str]) -> dict:
    return {"StackSet": {
        "StackSetName": NAME, "StackSetId": f"{NAME}:1", "Status": "ACTIVE", "TemplateBody": tpl_body,
        "PermissionModel": "SERVICE_MANAGED", "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}}


def _instance(account: str, status: str = "CURRENT", detailed: str = "SUCCEEDED", reason: str = "") -> dict:
    out = {"StackSetId": f"{NAME}:1", "Region": "us-east-1", "Account": account, "Status": status,
           "StackInstanceStatus": {"DetailedStatus": detailed}}
    if reason:
        out["StatusReason"] = reason
    return out


def _result(account: str, status: str, reason: str = "") -> dict:
    out = {"Account": account, "Region": "us-east-1", "Status": status}
    if reason:
        out["StatusReason"] = reason
    return out


def _op(status: str) -> dict:
    return {"StackSetOperation": {"OperationId": "op", "StackSetId": f"{NAME}:1", "Status": status}}


def test_a_changed_template_updates_the_stackset_in_one_journalled_operation(small, tmp_path: Path) -> None:
    old = _template({"SampleKey": KEY}, {"Retention": "30"})
    new = _template({"SampleKey": KEY, "Alerts": TOPIC}, {"Retention": "90"})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn, new)
    journals: list[list[str]] = []
    saved = run.save_journal

    def save() -> None:  # what is on disk when the operation is submitted
        saved()
        journals.append(list(Journal.load(tmp_path).stacks["sample-keys"].operations))

    run.save_journal = save  # type: ignore[method-assign]
    tags = {t["Key"]: t["Value"] for t in old.tags()}
    deployer = StackSetDeployer(run, new)
    assert deployer.targets == {PROD: "prod", STAGING: "staging", DEV: "dev"}  # the OU and the OUs below it
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_set", _current(old.body, old.parameters, tags), {"StackSetName": NAME})
        stub.add_response("list_stack_set_operations", {"Summaries": []}, {"StackSetName": NAME})
        stub.add_response("update_stack_set", {"OperationId": "op"}, {
            "StackSetName": NAME, "Description": "sample keys", "TemplateBody": new.body,
            "Parameters": [{"ParameterKey": "Retention", "ParameterValue": "90"}], "Capabilities": ANY,
            "Tags": new.tags(), "OperationPreferences": ANY, "OperationId": ANY,
            "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False}})
        stub.add_response("describe_stack_set_operation", _op("RUNNING"), {"StackSetName": NAME, "OperationId": ANY})
        stub.add_response("describe_stack_set_operation", _op("SUCCEEDED"), {"StackSetName": NAME, "OperationId": ANY})
        stub.add_response("list_stack_set_operation_results",
                          {"Summaries": [_result(a, "SUCCEEDED") for a in (PROD, STAGING, DEV)]},
                          {"StackSetName": NAME, "OperationId": ANY})
        instances = {"Summaries": [_instance(a) for a in (PROD, STAGING, DEV)]}
        stub.add_response("list_stack_instances", instances, {"StackSetName": NAME})
        stub.add_response("list_stack_instances", instances, {"StackSetName": NAME})  # verified after the change
        assert deployer.deploy(), run.failures
        stub.assert_no_pending_responses()
    [change] = run.changes
    assert (change.area, change.action) == ("stackset", "update")
    assert change.details == ["MON-01: + Alerts", "parameter Retention: 30 -> 90"]
    assert len(journals) == 1 and len(journals[0]) == 1  # the operation id was on disk before the call
    record = run.journal.stacks["sample-keys"]
    assert record.complete and record.operations == [] and record.template_sha256 == new.planned.sha256


def test_an_instance_that_fails_the_update_is_reported_by_account_region_and_logical_id(small, tmp_path) -> None:
    old = _template({"SampleKey": KEY}, {})
    new = _template({"SampleKey": {**KEY, "Properties": {"EnableKeyRotation": False}}}, {})
    cfn = _cfn()
    out = io.StringIO()
    with OperationProgress(Console(file=out, width=200)) as progress:
        run = _run(small, tmp_path, cfn, new, progress=progress)
        reason = "ResourceLogicalId:SampleKey, ResourceType:AWS::KMS::Key, ResourceStatusReason:Access denied."
        with Stubber(cfn) as stub:
            stub.add_response("describe_stack_set", _current(old.body, {}, {"charter:template-sha256": "x"}))
            stub.add_response("list_stack_set_operations", {"Summaries": []})
            stub.add_response("update_stack_set", {"OperationId": "op"})
            stub.add_response("describe_stack_set_operation", _op("FAILED"))
            stub.add_response("list_stack_set_operation_results", {"Summaries": [
                _result(PROD, "FAILED", reason), _result(STAGING, "SUCCEEDED"), _result(DEV, "CANCELLED")]})
            stub.add_response("list_stack_instances", {"Summaries": [
                _instance(PROD, "OUTDATED", "FAILED", reason), _instance(STAGING),
                _instance(DEV, "OUTDATED", "CANCELLED")]})
            # the instances that are not CURRENT are tried again, only they, through their OUs: dev
            # (cancelled, never tried) succeeds, prod fails again for the same reason
            stub.add_response("update_stack_instances", {"OperationId": "op2"}, {
                "StackSetName": NAME, "Regions": ["us-east-1"], "OperationPreferences": ANY, "OperationId": ANY,
                "DeploymentTargets": {"OrganizationalUnitIds": ["ou-abcd-22222222", "ou-abcd-33333333"],
                                      "Accounts": [PROD, DEV], "AccountFilterType": "INTERSECTION"}})
            stub.add_response("describe_stack_set_operation", _op("FAILED"))
            stub.add_response("list_stack_set_operation_results", {"Summaries": [
                _result(PROD, "FAILED", reason), _result(DEV, "SUCCEEDED")]})
            stub.add_response("list_stack_instances", {"Summaries": [
                _instance(PROD, "OUTDATED", "FAILED", reason), _instance(STAGING), _instance(DEV)]})
            assert not deployer_deploy(run, new)
            stub.assert_no_pending_responses()
    assert run.failures == [f"{NAME}/prod/us-east-1/SampleKey: {reason}"]
    record = run.journal.stacks["sample-keys"]
    assert record.failed == {f"{PROD}/us-east-1": reason} and not record.complete
    assert [c.action for c in run.changes] == ["update", "retry"]
    rows = out.getvalue().splitlines()  # each operation's progress row, closed with its status
    assert rows[0].startswith(f"  {NAME} update: FAILED (3 instances, ")
    assert rows[1] == f"  {NAME} retry: FAILED (2 instances, 1 failed)"


def test_an_instance_that_fails_the_update_then_succeeds_when_retried_is_not_a_failure(small, tmp_path) -> None:
    old = _template({"SampleKey": KEY}, {})
    new = _template({"SampleKey": {**KEY, "Properties": {"EnableKeyRotation": False}}}, {})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn, new)
    reason = "ResourceLogicalId:SampleKey, ResourceType:AWS::KMS::Key, ResourceStatusReason:Rate exceeded."
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_set", _current(old.body, {}, {"charter:template-sha256": "x"}))
        stub.add_response("list_stack_set_operations", {"Summaries": []})
        stub.add_response("update_stack_set", {"OperationId": "op"})
        stub.add_response("describe_stack_set_operation", _op("FAILED"))
        stub.add_response("list_stack_set_operation_results", {"Summaries": [
            _result(PROD, "FAILED", reason), _result(STAGING, "SUCCEEDED"), _result(DEV, "SUCCEEDED")]})
        stub.add_response("list_stack_instances", {"Summaries": [
            _instance(PROD, "OUTDATED", "FAILED", reason), _instance(STAGING), _instance(DEV)]})
        stub.add_response("update_stack_instances", {"OperationId": "op2"})
        stub.add_response("describe_stack_set_operation", _op("SUCCEEDED"))
        stub.add_response("list_stack_set_operation_results", {"Summaries": [_result(PROD, "SUCCEEDED")]})
        stub.add_response("list_stack_instances", {"Summaries": [_instance(a) for a in (PROD, STAGING, DEV)]})
        assert deployer_deploy(run, new), run.failures
        stub.assert_no_pending_responses()
    assert run.failures == []
    assert any("then deployed when retried" in n and "/prod/us-east-1" in n for n in run.notes), run.notes
    record = run.journal.stacks["sample-keys"]
    assert record.failed == {} and record.complete


def deployer_deploy(run: Run, tpl: Template) -> bool:
    return StackSetDeployer(run, tpl).deploy()


def test_a_resumed_deploy_waits_for_the_operation_it_left_running_and_submits_nothing_again(small, tmp_path) -> None:
    tpl = _template({"SampleKey": KEY}, {})
    journal = Journal()
    # the killed deploy journalled two operations: one AWS is still running, one that never reached AWS
    journal.stacks["sample-keys"] = StackRecord(operations=["op-running", "op-never-sent"],
                                                template_sha256=tpl.planned.sha256,
                                                parameters_sha256=tpl.parameters_sha256)
    cfn = _cfn()
    run = _run(small, tmp_path, cfn, tpl, journal=journal)
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_set", _current(tpl.body, {}, {t["Key"]: t["Value"] for t in tpl.tags()}))
        stub.add_response("list_stack_set_operations", {"Summaries": [
            {"OperationId": "op-running", "Action": "CREATE", "Status": "RUNNING"},
            {"OperationId": "op-old", "Action": "CREATE", "Status": "SUCCEEDED"}]})
        stub.add_response("describe_stack_set_operation", _op("RUNNING"),
                          {"StackSetName": NAME, "OperationId": "op-running"})
        stub.add_response("describe_stack_set_operation", _op("SUCCEEDED"),
                          {"StackSetName": NAME, "OperationId": "op-running"})
        stub.add_response("list_stack_set_operation_results", {"Summaries": [_result(PROD, "SUCCEEDED")]})
        stub.add_client_error("describe_stack_set_operation", "OperationNotFoundException", "no such operation",
                              expected_params={"StackSetName": NAME, "OperationId": "op-never-sent"})
        stub.add_response("list_stack_instances", {"Summaries": [_instance(a) for a in (PROD, STAGING, DEV)]})
        assert StackSetDeployer(run, tpl).deploy(), run.failures
        stub.assert_no_pending_responses()  # no update, no create: what was running finished the work
    assert run.changes == [] and run.journal.stacks["sample-keys"].operations == []


def test_a_dry_run_of_a_changed_stackset_lists_the_update_and_the_accounts_it_lacks(small, tmp_path) -> None:
    old = _template({"SampleKey": KEY}, {})
    new = _template({"Alerts": TOPIC}, {})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn, new)
    run.dry_run = True
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_set", _current(old.body, {}, {}))
        stub.add_response("describe_stack_set", _current(old.body, {}, {}))  # it exists: its instances are read
        stub.add_response("list_stack_instances", {"Summaries": [_instance(PROD)]})
        assert StackSetDeployer(run, new).deploy()
        stub.assert_no_pending_responses()
    assert [(c.area, c.action, c.details) for c in run.changes] == [
        ("stackset", "update", ["ENC-01: - SampleKey", "MON-01: + Alerts"]),
        ("stack-instances", "create", ["instances: dev, staging x us-east-1"])]
    assert run.journal.stacks == {}


def test_a_new_stackset_reaches_whole_ous_and_an_operation_past_its_timeout_is_left_for_the_next_deploy(
        small, tmp_path) -> None:
    """First deploy: the StackSet is created with auto-deployment (it targets whole OUs and
    depends on nothing) and its instances in one operation on the OU. An operation still
    running when the deploy's wait ends is not called failed or done: the deploy says the next
    one picks it up (it waits for the operations the StackSet lists as running, test above) and
    names each account without an instance."""
    tpl = _template({"SampleKey": KEY}, {})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn, tpl)
    run.timeout = 0  # the wait ends at its first poll
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stack_set", "StackSetNotFoundException", "StackSet not found")
        stub.add_response("create_stack_set", {"StackSetId": f"{NAME}:1"}, {
            "StackSetName": NAME, "Description": "sample keys", "Parameters": [], "Capabilities": ANY,
            "Tags": tpl.tags(), "PermissionModel": "SERVICE_MANAGED", "TemplateBody": tpl.body,
            "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
            "ManagedExecution": {"Active": True}})
        stub.add_response("list_stack_instances", {"Summaries": []})
        stub.add_response("create_stack_instances", {"OperationId": "op"}, {
            "StackSetName": NAME, "Regions": ["us-east-1"], "OperationPreferences": ANY, "OperationId": ANY,
            "DeploymentTargets": {"OrganizationalUnitIds": ["ou-abcd-11111111"]}})
        stub.add_response("describe_stack_set_operation", _op("RUNNING"))
        stub.add_response("list_stack_set_operation_results", {"Summaries": []})
        stub.add_response("list_stack_instances", {"Summaries": []})
        stub.add_response("list_stack_instances", {"Summaries": []})
        assert not StackSetDeployer(run, tpl).deploy()
        stub.assert_no_pending_responses()
    assert [(c.area, c.action) for c in run.changes] == [("stackset", "create"), ("stack-instances", "create")]
    assert run.changes[0].details == ["SERVICE_MANAGED, 3 accounts x 1 regions", "ENC-01: 1 resources"]
    assert run.changes[1].details == ["instances: OUs Workloads x us-east-1"]
    [still, *missing] = run.failures
    assert still.startswith(f"{NAME}: operation ") and "still RUNNING after 0s; the next deploy picks it up" in still
    assert sorted(missing) == sorted(f"{NAME}/{name}/us-east-1: no stack instance after deploy (OU {ou})"
                                     for name, ou in (("prod", "Prod"), ("staging", "NonProd"), ("dev", "NonProd")))
