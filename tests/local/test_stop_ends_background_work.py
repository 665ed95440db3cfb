"""Stopping the embedded AWS stops the work it runs in the background. A StackSet operation
still running after `stop()` would go on deploying its stacks (and their IAM roles) into the
next embedded AWS of the same process, whose backends are fresh but whose threads are not: a
later test, or a `charter demo` after a `charter deploy` in one interpreter, then meets roles
it never made. Plain moto has no such thread (it runs StackSet operations synchronously)."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile

import pytest
from aws_testkit import PATIENCE_SECONDS
from test_stackset_operations import REGIONS, _gated_template

from charter.local import LocalAws

pytestmark = pytest.mark.e2e


def _stackset_runners() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("stackset-charter-test-stop") and t.is_alive()]


def test_stop_ends_a_running_stackset_operation_and_the_next_aws_never_sees_its_stacks() -> None:
    server = LocalAws().start()
    try:
        sessions = server.sessions()
        org = sessions.client("organizations")
        org.create_organization(FeatureSet="ALL")
        made = org.create_account(Email="stop@example.com", AccountName="stop")["CreateAccountStatus"]
        account = org.describe_create_account_status(CreateAccountRequestId=made["Id"])["CreateAccountStatus"][
            "AccountId"]
        cfn = sessions.client("cloudformation")
        # the gate (an SSM parameter) is never opened: the first instance waits in its custom
        # resource, the other region's instance is still queued when the server stops
        cfn.create_stack_set(StackSetName="charter-test-stop", TemplateBody=_gated_template(),
                             Capabilities=["CAPABILITY_IAM"])
        op = cfn.create_stack_instances(StackSetName="charter-test-stop", Accounts=[account], Regions=REGIONS,
                                        OperationPreferences={"RegionConcurrencyType": "SEQUENTIAL"})
        deadline = time.monotonic() + PATIENCE_SECONDS
        while cfn.describe_stack_set_operation(StackSetName="charter-test-stop", OperationId=op["OperationId"])[
                "StackSetOperation"]["Status"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _stackset_runners()
    finally:
        server.stop()
    assert not _stackset_runners(), "a StackSet operation outlived the embedded AWS that ran it"
    with LocalAws() as fresh:
        sessions = fresh.sessions()
        assert sessions.client("cloudformation").list_stack_sets(Status="ACTIVE")["Summaries"] == []
        assert not [r for r in sessions.client("iam").list_roles()["Roles"] if "charter-test-stop" in r["RoleName"]]


SLEEPS = "import time\ndef handler(event, context):\n    time.sleep(110)\n    return {}\n"


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}]})


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", source)
    return buf.getvalue()


def _executions() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("charter-sfn-") and t.is_alive()]


def test_stop_ends_a_running_state_machine_execution_and_its_lambda_task() -> None:
    server = LocalAws().start()
    try:
        sessions = server.sessions()
        iam, lam = sessions.client("iam"), sessions.client("lambda")
        fn_role = iam.create_role(RoleName="charter-test-sleeper", AssumeRolePolicyDocument=_trust(
            "lambda.amazonaws.com"))["Role"]["Arn"]
        fn = lam.create_function(FunctionName="charter-test-sleeper", Runtime="python3.12", Role=fn_role,
                                 Handler="index.handler", Timeout=120, Code={"ZipFile": _zip(SLEEPS)})
        sm_role = iam.create_role(RoleName="charter-test-sleeper-states", AssumeRolePolicyDocument=_trust(
            "states.amazonaws.com"))["Role"]["Arn"]
        iam.put_role_policy(RoleName="charter-test-sleeper-states", PolicyName="invoke", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                    "Resource": fn["FunctionArn"]}]}))
        sfn = sessions.client("stepfunctions")
        machine = sfn.create_state_machine(name="charter-test-sleeper", roleArn=sm_role, definition=json.dumps({
            "StartAt": "Sleep", "States": {"Sleep": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
                "Parameters": {"FunctionName": fn["FunctionArn"], "Payload": {}}}}}))["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        deadline = time.monotonic() + PATIENCE_SECONDS
        while not any(e["type"] == "TaskScheduled" for e in sfn.get_execution_history(executionArn=execution)["events"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _executions()
    finally:
        server.stop()
    assert not _executions(), "a state machine execution outlived the embedded AWS that ran it"


def test_processing_step_roots_of_killed_processes_are_removed_and_live_ones_kept(tmp_path, monkeypatch) -> None:
    """A process killed mid-step leaves its step's root (the step's inputs) in the temporary
    directory; the next embedded AWS to run a pipeline removes it, and leaves alone the
    roots of a process that still runs and directories named otherwise."""
    import os
    import subprocess
    import sys
    import tempfile

    from charter.local import pipelines

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead = tmp_path / f"{pipelines.ROOT_PREFIX}{ended.pid}-abc123"
    (dead / "opt" / "ml" / "processing" / "input").mkdir(parents=True)
    (dead / "opt" / "ml" / "processing" / "input" / "prices.parquet").write_bytes(b"x" * 1000)
    alive = tmp_path / f"{pipelines.ROOT_PREFIX}{os.getpid()}-def456"
    alive.mkdir()
    other = tmp_path / f"{pipelines.ROOT_PREFIX}notapid"
    other.mkdir()
    assert pipelines.sweep_abandoned_roots() == 1
    assert not dead.exists() and alive.exists() and other.exists()
    assert pipelines.sweep_abandoned_roots() == 0
