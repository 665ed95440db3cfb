"""Plain CloudFormation stacks on a second deploy: an existing stack is updated (with the
controls whose resources change named), an unchanged one is left alone, a stack left in
ROLLBACK_COMPLETE is deleted and created again, and a failed stack is reported by its root
cause (the oldest failed resource event), not by the stack's last status.

Moto's CloudFormation never fails a resource with a reason, nor answers "No updates are to
be performed" the way AWS does: botocore's Stubber checks each request and answer against
CloudFormation's service model instead."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import ANY, Stubber

from charter.config.model import OrgConfig
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy.context import DeployContext
from charter.landing_zone.deploy.journal import Journal
from charter.landing_zone.deploy.run import Run
from charter.landing_zone.deploy.stacks import deploy_stack
from charter.landing_zone.deploy.templates import Template
from charter.landing_zone.stacks import Deployment
from charter.landing_zone.synth import Plan, PlannedStack

REPO = Path(__file__).resolve().parents[2]
MGMT = "999999999999"
NAME = "charter-audit-readers"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def small() -> OrgConfig:
    return load_config(REPO / "examples" / "small" / "org.yaml")


def _template(resources: dict) -> Template:
    data = {"Resources": resources}
    body = yaml.safe_dump(data)
    planned = PlannedStack(name="audit-readers", stack_name=NAME, file="audit-readers.yaml", builder="test",
                           deployment=Deployment(kind="stack", regions=["us-east-1"]),
                           sha256=hashlib.sha256(body.encode()).hexdigest(), bytes=len(body),
                           resources=len(resources), upload="", controls=["LOG-01"])
    return Template(planned=planned, body=body, data=data, parameters={"OrganizationId": "o-abcdefghij"})


BUCKET = {"Type": "AWS::S3::Bucket", "Metadata": {"Charter": {"Controls": ["LOG-01"]}}}
ROLE = {"Type": "AWS::IAM::Role", "Metadata": {"Charter": {"Controls": ["IAM-02"]}},
        "Properties": {"RoleName": "reader"}}


def _run(cfg: OrgConfig, tmp_path: Path, cfn, dry_run: bool = False) -> Run:
    plan = Plan(organization=cfg.organization.name, home_region="us-east-1", governed_regions=["us-east-1"],
                config_sha256="", stacks=[])
    run = Run(cfg=cfg, sessions=None, plan=plan, out_dir=tmp_path, journal=Journal(), dry_run=dry_run,
              poll_interval=0, ctx=DeployContext(management_account_id=MGMT))
    run._clients[("cloudformation", "us-east-1", "")] = cfn
    run.sessions = object()  # type: ignore[assignment]  # never used: the only client is the stubbed one
    return run


def _cfn():
    return boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _stack(status: str, tags: dict[str, str] | None = None, reason: str | None = None) -> dict:
    stack = {"StackName": NAME, "StackId": f"arn:aws:cloudformation:us-east-1:{MGMT}:stack/{NAME}/1",
             "CreationTime": NOW, "StackStatus": status,
             "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}
    if reason:
        stack["StackStatusReason"] = reason
    return {"Stacks": [stack]}


def _missing(stub: Stubber) -> None:
    stub.add_client_error("describe_stacks", "ValidationError", f"Stack with id {NAME} does not exist",
                          expected_params={"StackName": NAME})


def _event(n: int, lid: str, status: str, reason: str = "") -> dict:
    event = {"StackId": NAME, "EventId": f"e{n}", "StackName": NAME, "LogicalResourceId": lid,
             "Timestamp": NOW, "ResourceStatus": status, "ResourceType": "AWS::S3::Bucket"}
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def test_a_changed_stack_is_updated_naming_the_controls_whose_resources_change(small, tmp_path: Path) -> None:
    old = _template({"Trail": BUCKET})
    new = _template({"Trail": BUCKET, "Reader": ROLE})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn)
    old_tags = {t["Key"]: t["Value"] for t in old.tags()}
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", _stack("CREATE_COMPLETE", old_tags), {"StackName": NAME})
        stub.add_response("get_template", {"TemplateBody": old.body}, {"StackName": NAME})
        stub.add_response("update_stack", {"StackId": NAME},
                          {"StackName": NAME, "Parameters": [{"ParameterKey": "OrganizationId",
                                                              "ParameterValue": "o-abcdefghij"}],
                           "Capabilities": ANY, "Tags": new.tags(), "TemplateBody": new.body})
        stub.add_response("describe_stacks", _stack("UPDATE_IN_PROGRESS"), {"StackName": NAME})
        stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": NAME})
        assert deploy_stack(run, new), run.failures
        stub.assert_no_pending_responses()
    [change] = run.changes
    assert (change.area, change.action) == ("stack", "update")
    assert change.details == ["IAM-02: + Reader"]  # the bucket is unchanged: LOG-01 is not named
    record = run.journal.stacks["audit-readers"]
    assert record.complete and record.template_sha256 == new.planned.sha256 and not record.failed


def test_an_unchanged_stack_is_only_described(small, tmp_path: Path) -> None:
    tpl = _template({"Trail": BUCKET})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn)
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE", {t["Key"]: t["Value"] for t in tpl.tags()}),
                          {"StackName": NAME})
        assert deploy_stack(run, tpl)
        stub.assert_no_pending_responses()
    assert run.changes == [] and run.failures == []


def test_an_update_aws_finds_empty_is_not_a_failure(small, tmp_path: Path) -> None:
    """Tags changed (a parameter hash) but the template did not: AWS answers ValidationError
    "No updates are to be performed", which means done."""
    tpl = _template({"Trail": BUCKET})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn)
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE", {"charter:template-sha256": "old"}),
                          {"StackName": NAME})
        stub.add_response("get_template", {"TemplateBody": tpl.body}, {"StackName": NAME})
        stub.add_client_error("update_stack", "ValidationError", "No updates are to be performed.")
        assert deploy_stack(run, tpl), run.failures
        stub.assert_no_pending_responses()
    assert [c.details for c in run.changes] == [["parameters/tags"]]


def test_a_dry_run_says_update_with_the_control_lines_and_calls_nothing(small, tmp_path: Path) -> None:
    old = _template({"Trail": BUCKET, "Reader": ROLE})
    new = _template({"Trail": {**BUCKET, "Properties": {"BucketName": "x"}}})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn, dry_run=True)
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": NAME})
        stub.add_response("get_template", {"TemplateBody": old.body}, {"StackName": NAME})
        assert deploy_stack(run, new)
        stub.assert_no_pending_responses()
    [change] = run.changes
    assert change.action == "update"
    assert change.details == ["IAM-02: - Reader", "LOG-01: ~ Trail"]
    assert run.journal.stacks == {}  # a dry run records nothing


def test_a_failed_create_reports_the_oldest_failed_resource_as_the_root_cause(small, tmp_path: Path) -> None:
    tpl = _template({"Trail": BUCKET, "Reader": ROLE})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn)
    events = [  # newest first, as DescribeStackEvents answers
        _event(4, NAME, "ROLLBACK_COMPLETE"),
        _event(3, "Reader", "CREATE_FAILED", "Resource creation cancelled"),
        _event(2, "Trail", "CREATE_FAILED", "Bucket name already exists"),
        _event(1, "Trail", "CREATE_IN_PROGRESS"),
    ]
    with Stubber(cfn) as stub:
        _missing(stub)
        stub.add_response("create_stack", {"StackId": NAME}, {
            "StackName": NAME, "Parameters": ANY, "Capabilities": ANY, "Tags": ANY,
            "EnableTerminationProtection": True, "TemplateBody": tpl.body})
        stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": NAME})
        stub.add_response("describe_stack_events", {"StackEvents": events}, {"StackName": NAME})
        assert not deploy_stack(run, tpl)
        stub.assert_no_pending_responses()
    assert run.failures == [f"{NAME}/management/us-east-1/Trail: Bucket name already exists"]
    record = run.journal.stacks["audit-readers"]
    assert not record.complete
    assert record.failed == {f"{MGMT}/us-east-1": run.failures[0]}


def test_a_failure_without_resource_events_reports_the_stack_status_and_reason(small, tmp_path: Path) -> None:
    tpl = _template({"Trail": BUCKET})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn)
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": NAME})
        stub.add_response("get_template", {"TemplateBody": tpl.body}, {"StackName": NAME})
        stub.add_response("update_stack", {"StackId": NAME}, None)
        stub.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_COMPLETE", reason="Stack policy denies it"),
                          {"StackName": NAME})
        stub.add_response("describe_stack_events", {"StackEvents": [_event(1, NAME, "UPDATE_ROLLBACK_COMPLETE")]},
                          {"StackName": NAME})
        assert not deploy_stack(run, tpl)
    assert run.failures == [f"{NAME}/management/us-east-1: UPDATE_ROLLBACK_COMPLETE Stack policy denies it"]


def test_a_stack_left_in_rollback_complete_is_deleted_then_created_again(small, tmp_path: Path) -> None:
    tpl = _template({"Trail": BUCKET})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn)
    stack_id = _stack("ROLLBACK_COMPLETE")["Stacks"][0]["StackId"]
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": NAME})
        stub.add_response("delete_stack", {}, {"StackName": NAME})
        stub.add_response("describe_stacks", _stack("DELETE_IN_PROGRESS"), {"StackName": stack_id})
        stub.add_client_error("describe_stacks", "ValidationError", "Stack does not exist")  # deleted
        stub.add_response("create_stack", {"StackId": NAME}, None)
        stub.add_response("describe_stacks", _stack("CREATE_COMPLETE"), {"StackName": NAME})
        assert deploy_stack(run, tpl), run.failures
        stub.assert_no_pending_responses()
    assert [(c.action, c.details) for c in run.changes] == [
        ("delete", ["ROLLBACK_COMPLETE from a failed create"]), ("create", [])]


def test_an_api_error_fails_that_region_only_and_missing_parameters_fail_before_any_call(small, tmp_path) -> None:
    tpl = _template({"Trail": BUCKET})
    cfn = _cfn()
    run = _run(small, tmp_path, cfn)
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stacks", "AccessDenied", "not allowed to describe stacks")
        assert not deploy_stack(run, tpl)
    assert run.failures == [f"{NAME}/management/us-east-1: AccessDenied: not allowed to describe stacks"]

    tpl.missing = ["LogArchiveBucket"]
    run = _run(small, tmp_path, _cfn())
    assert not deploy_stack(run, tpl)
    assert run.failures == [f"{NAME}/management: parameter(s) LogArchiveBucket have no value"]


def test_the_parameters_a_stack_is_given_are_journalled_per_account(small, tmp_path: Path) -> None:
    tpl = _template({"Trail": BUCKET})
    tpl.overrides = {MGMT: {"Retention": "400"}}
    cfn = _cfn()
    run = _run(small, tmp_path, cfn)
    with Stubber(cfn) as stub:
        _missing(stub)
        stub.add_response("create_stack", {"StackId": NAME}, {
            "StackName": NAME, "Capabilities": ANY, "Tags": ANY, "EnableTerminationProtection": True,
            "TemplateBody": tpl.body,
            "Parameters": [{"ParameterKey": "OrganizationId", "ParameterValue": "o-abcdefghij"},
                           {"ParameterKey": "Retention", "ParameterValue": "400"}]})
        stub.add_response("describe_stacks", _stack("CREATE_COMPLETE"), {"StackName": NAME})
        assert deploy_stack(run, tpl), run.failures
        stub.assert_no_pending_responses()
    assert json.loads(json.dumps(run.journal.stacks["audit-readers"].parameters)) == {
        "OrganizationId": "o-abcdefghij", "Retention": "400"}
