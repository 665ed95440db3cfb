"""Step Functions on the embedded AWS runs a state machine's definition; plain moto stores it
and leaves every execution RUNNING (so nothing Charter's evidence run does would happen)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from charter.local import LocalAws

pytestmark = pytest.mark.e2e

TRUST_STATES = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "states.amazonaws.com"}}]}
DEFINITION = {
    "StartAt": "Seed",
    "States": {
        "Seed": {"Type": "Pass", "Result": [{"n": 1}, {"n": 2}, {"n": 3}], "ResultPath": "$.items", "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                 "ItemSelector": {"value.$": "$$.Map.Item.Value.n", "index.$": "$$.Map.Item.Index",
                                  "run.$": "$$.Execution.Name"},
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Echo",
                                   "States": {"Echo": {"Type": "Pass", "End": True}}},
                 "ResultPath": "$.echoed", "Next": "Done"},
        "Done": {"Type": "Succeed", "OutputPath": "$.echoed"},
    },
}
FAILING = {"StartAt": "Stop", "States": {"Stop": {"Type": "Fail", "Error": "Charter.Stopped", "Cause": "on purpose"}}}
INVOKING = {"StartAt": "Call", "States": {"Call": {
    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:nothing", "Payload": {}},
    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}], "End": True},
    "Caught": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def sfn() -> Iterator[tuple[Any, str]]:
    with LocalAws() as server:
        sessions = server.sessions()
        iam = sessions.client("iam")
        try:
            role = iam.create_role(RoleName="charter-test-states", AssumeRolePolicyDocument=json.dumps(TRUST_STATES))
        except botocore.exceptions.ClientError:
            role = iam.get_role(RoleName="charter-test-states")
        yield sessions.client("stepfunctions"), role["Role"]["Arn"]


def _run(sfn: Any, role: str, name: str, definition: dict[str, Any], data: dict[str, Any] | None = None) -> dict:
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(data or {}))["executionArn"]
    for _ in range(120):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.5)
    raise AssertionError(f"{execution} still RUNNING")


def test_plain_moto_leaves_the_execution_running() -> None:
    """moto 5.2.1 unpatched (its own process): the same state machine never runs."""
    script = textwrap.dedent(f"""
        import json, time, boto3
        from moto import mock_aws
        with mock_aws():
            iam = boto3.client("iam", region_name="us-east-1")
            role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({TRUST_STATES!r}))["Role"]["Arn"]
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            arn = sfn.create_state_machine(name="m", definition=json.dumps({DEFINITION!r}), roleArn=role)["stateMachineArn"]
            ex = sfn.start_execution(stateMachineArn=arn, input="{{}}")["executionArn"]
            time.sleep(2)
            print(sfn.describe_execution(executionArn=ex)["status"])
    """)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "RUNNING"


def test_the_embedded_aws_runs_the_definition(sfn: tuple[Any, str]) -> None:
    client, role = sfn
    described = _run(client, role, "charter-test-map", DEFINITION)
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert [o["value"] for o in output] == [1, 2, 3] and [o["index"] for o in output] == [0, 1, 2]
    assert {o["run"] for o in output} == {described["name"]}
    assert described["redriveStatus"] == "NOT_REDRIVABLE"
    kinds = [e["type"] for e in client.get_execution_history(executionArn=described["executionArn"])["events"]]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionSucceeded" and "MapRunStarted" in kinds
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.redrive_execution(executionArn=described["executionArn"])
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"


def test_a_fail_state_fails_the_execution_with_its_error(sfn: tuple[Any, str]) -> None:
    client, role = sfn
    described = _run(client, role, "charter-test-fail", FAILING)
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "Charter.Stopped", "on purpose")
    assert described["redriveStatus"] == "REDRIVABLE"


def test_a_task_runs_as_the_state_machine_role(sfn: tuple[Any, str]) -> None:
    """The role may not invoke the function: the call is refused as on AWS, and the Catch
    receives the error (the task is not run as anybody else)."""
    client, role = sfn
    described = _run(client, role, "charter-test-denied", INVOKING)
    assert described["status"] == "SUCCEEDED"
    caught = json.loads(described["output"])["caught"]
    assert caught["Error"] == "Lambda.AccessDeniedException"
    assert "charter-test-states" in caught["Cause"] and "lambda:InvokeFunction" in caught["Cause"]
