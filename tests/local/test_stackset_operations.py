"""StackSet operations on the embedded AWS as AWS runs them: in the background, one at a
time per StackSet (or queued with managed execution), stopped on request, and stopped in a
region whose failures exceed the tolerance, the rest cancelled.

An instance's stack holds a custom resource whose function waits until the test opens a
gate (an SSM parameter in the instance's own account), so an operation is running exactly
as long as the test wants it to, with no timing assumption.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest
from aws_testkit import PATIENCE_SECONDS, operation

from charter.aws import SessionFactory
from charter.local import LocalAws
from charter.naming import MEMBER_ACCESS_ROLE

pytestmark = pytest.mark.e2e  # each starts the embedded AWS

REGIONS = ["us-east-1", "us-west-2"]
GATE = "/charter-test/gate"
WAIT_FOR_GATE = f"""
import time, boto3, cfnresponse
def handler(event, context):
    ssm = boto3.client("ssm")
    while context.get_remaining_time_in_millis() > 2000:
        try:
            ssm.get_parameter(Name="{GATE}")
            break
        except ssm.exceptions.ParameterNotFound:
            time.sleep(0.1)
    cfnresponse.send(event, context, cfnresponse.SUCCESS, {{}}, "gate")
"""


def _gated_template() -> str:
    return json.dumps({"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "gate", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": "*"}]}}]}},
        "Waits": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.12", "Handler": "index.handler", "Timeout": 120,
            "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": {"ZipFile": WAIT_FOR_GATE}}},
        "Gate": {"Type": "Custom::Gate", "Properties": {"ServiceToken": {"Fn::GetAtt": ["Waits", "Arn"]}}}}})


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[SessionFactory, list[str]]]:
    with LocalAws() as server:
        urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()
        sessions = server.sessions()
        org = sessions.client("organizations")
        org.create_organization(FeatureSet="ALL")
        accounts = []
        for name in ("first", "second"):
            made = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
            accounts.append(org.describe_create_account_status(CreateAccountRequestId=made["Id"])[
                "CreateAccountStatus"]["AccountId"])
        yield sessions, accounts


def _gate(sessions: SessionFactory, accounts: list[str], open_: bool) -> None:
    for account in accounts:
        for region in REGIONS:
            ssm = sessions.client("ssm", region=region, account_id=account, role_name=MEMBER_ACCESS_ROLE)
            if open_:
                ssm.put_parameter(Name=GATE, Value="open", Type="String", Overwrite=True)
            else:
                try:
                    ssm.delete_parameter(Name=GATE)
                except botocore.exceptions.ClientError:
                    pass


def _until(cfn: Any, name: str, operation_id: str, status: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation_id)["StackSetOperation"][
            "Status"] != status:
        assert time.monotonic() < deadline, f"{operation_id} never {status}"
        time.sleep(0.05)


def test_a_second_operation_while_one_runs_is_refused(aws) -> None:
    sessions, accounts = aws
    cfn = sessions.client("cloudformation")
    _gate(sessions, accounts, open_=False)
    cfn.create_stack_set(StackSetName="serial", TemplateBody=_gated_template(), Capabilities=["CAPABILITY_IAM"])
    first = cfn.create_stack_instances(StackSetName="serial", Accounts=accounts[:1], Regions=REGIONS[:1])
    _until(cfn, "serial", first["OperationId"], "RUNNING")  # returned at once; the work goes on
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        cfn.create_stack_instances(StackSetName="serial", Accounts=accounts[1:], Regions=REGIONS[:1])
    assert refused.value.response["Error"]["Code"] == "OperationInProgressException"
    with pytest.raises(botocore.exceptions.ClientError) as busy:
        cfn.delete_stack_set(StackSetName="serial")
    assert busy.value.response["Error"]["Code"] == "OperationInProgressException"
    # the same call again (an SDK retry) is the same operation, not a refusal
    again = cfn.create_stack_instances(StackSetName="serial", Accounts=accounts[:1], Regions=REGIONS[:1],
                                       OperationId=first["OperationId"])
    assert again["OperationId"] == first["OperationId"]
    _gate(sessions, accounts, open_=True)
    assert operation(cfn, "serial", first)["Status"] == "SUCCEEDED"
    assert [i["Status"] for i in cfn.list_stack_instances(StackSetName="serial")["Summaries"]] == ["CURRENT"]


def test_with_managed_execution_the_next_operation_waits_its_turn(aws) -> None:
    sessions, accounts = aws
    cfn = sessions.client("cloudformation")
    _gate(sessions, accounts, open_=False)
    cfn.create_stack_set(StackSetName="queued", TemplateBody=_gated_template(), Capabilities=["CAPABILITY_IAM"],
                         ManagedExecution={"Active": True})
    first = cfn.create_stack_instances(StackSetName="queued", Accounts=accounts[:1], Regions=REGIONS[:1])
    second = cfn.create_stack_instances(StackSetName="queued", Accounts=accounts[1:], Regions=REGIONS[:1])
    _until(cfn, "queued", first["OperationId"], "RUNNING")
    assert cfn.describe_stack_set_operation(StackSetName="queued", OperationId=second["OperationId"])[
        "StackSetOperation"]["Status"] == "QUEUED"
    _gate(sessions, accounts, open_=True)
    assert operation(cfn, "queued", first)["Status"] == "SUCCEEDED"
    assert operation(cfn, "queued", second)["Status"] == "SUCCEEDED"
    assert len(cfn.list_stack_instances(StackSetName="queued")["Summaries"]) == 2


def test_a_stopped_operation_cancels_what_it_had_not_started(aws) -> None:
    sessions, accounts = aws
    cfn = sessions.client("cloudformation")
    _gate(sessions, accounts, open_=False)
    cfn.create_stack_set(StackSetName="stopped", TemplateBody=_gated_template(), Capabilities=["CAPABILITY_IAM"])
    op = cfn.create_stack_instances(StackSetName="stopped", Accounts=accounts, Regions=REGIONS[:1],
                                    OperationPreferences={"MaxConcurrentCount": 1, "FailureToleranceCount": 0})
    _until(cfn, "stopped", op["OperationId"], "RUNNING")
    cfn.stop_stack_set_operation(StackSetName="stopped", OperationId=op["OperationId"])
    assert cfn.describe_stack_set_operation(StackSetName="stopped", OperationId=op["OperationId"])[
        "StackSetOperation"]["Status"] == "STOPPING"
    _gate(sessions, accounts, open_=True)
    assert operation(cfn, "stopped", op)["Status"] == "STOPPED"
    results = {r["Account"]: r["Status"] for r in cfn.list_stack_set_operation_results(
        StackSetName="stopped", OperationId=op["OperationId"])["Summaries"]}
    assert results == {accounts[0]: "SUCCEEDED", accounts[1]: "CANCELLED"}


def test_a_region_past_its_failure_tolerance_stops_and_later_regions_are_cancelled(aws) -> None:
    sessions, accounts = aws
    cfn = sessions.client("cloudformation")
    # what AWS refuses: the first account already has the log group in the first region
    logs = sessions.client("logs", region=REGIONS[0], account_id=accounts[0], role_name=MEMBER_ACCESS_ROLE)
    logs.create_log_group(logGroupName="/charter-test/tolerance")
    cfn.create_stack_set(StackSetName="tolerance", TemplateBody=json.dumps({"Resources": {"Logs": {
        "Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/charter-test/tolerance"}}}}))
    op = cfn.create_stack_instances(StackSetName="tolerance", Accounts=accounts, Regions=REGIONS, OperationPreferences={
        "RegionConcurrencyType": "SEQUENTIAL", "RegionOrder": REGIONS, "MaxConcurrentCount": 1,
        "FailureToleranceCount": 0})
    done = operation(cfn, "tolerance", op)
    assert done["Status"] == "FAILED"
    results = {(r["Account"], r["Region"]): r for r in cfn.list_stack_set_operation_results(
        StackSetName="tolerance", OperationId=op["OperationId"])["Summaries"]}
    assert results[(accounts[0], REGIONS[0])]["Status"] == "FAILED"
    assert "ResourceLogicalId:Logs" in results[(accounts[0], REGIONS[0])]["StatusReason"]
    assert {k: v["Status"] for k, v in results.items() if k != (accounts[0], REGIONS[0])} == {
        (accounts[1], REGIONS[0]): "CANCELLED", (accounts[0], REGIONS[1]): "CANCELLED",
        (accounts[1], REGIONS[1]): "CANCELLED"}
    # cancelled instances are listed, not current: the next operation makes them
    instances = {(i["Account"], i["Region"]): i["StackInstanceStatus"]["DetailedStatus"]
                 for i in cfn.list_stack_instances(StackSetName="tolerance")["Summaries"]}
    assert instances[(accounts[1], REGIONS[1])] == "CANCELLED"
