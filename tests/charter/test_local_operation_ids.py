"""A StackSet operation is done once per OperationId, however often the SDK retries it (a read
timeout on a loaded machine): on AWS, and on the embedded AWS; plain moto did it again."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request
from typing import Any

import boto3
import botocore.exceptions
import pytest
from stackset_roles import make_stackset_roles

from charter.local import LOCAL_MANAGEMENT_ACCOUNT, LocalAws

pytestmark = pytest.mark.e2e

TEMPLATE = json.dumps({"Resources": {"Marker": {"Type": "AWS::SSM::Parameter", "Properties": {
    "Name": "/charter/operation-once", "Type": "String", "Value": "made once"}}}})


def _retried_create(cfn: Any) -> tuple[str, str]:
    """CreateStackInstances sent twice with one OperationId, as botocore retries a call."""
    cfn.create_stack_set(StackSetName="once", TemplateBody=TEMPLATE)
    call = dict(StackSetName="once", Accounts=[LOCAL_MANAGEMENT_ACCOUNT], Regions=["us-east-1"],
                OperationId="one-call-retried")
    return cfn.create_stack_instances(**call)["OperationId"], cfn.create_stack_instances(**call)["OperationId"]


def _operations(cfn: Any) -> list[str]:
    return [o["Action"] for o in cfn.list_stack_set_operations(StackSetName="once")["Summaries"]]


def test_a_retried_operation_is_done_once_on_the_embedded_aws() -> None:
    with LocalAws() as aws:
        sessions = aws.sessions()
        make_stackset_roles(sessions)  # the embedded AWS enforces permissions: the instance runs as them
        cfn = sessions.client("cloudformation")
        first, retry = _retried_create(cfn)
        assert retry == first  # the first request's answer
        assert _operations(cfn) == ["CREATE"]
        assert len(cfn.list_stack_instances(StackSetName="once")["Summaries"]) == 1
        assert sessions.client("ssm").get_parameter(Name="/charter/operation-once")["Parameter"]["Value"] == "made once"
        # a new OperationId is a new operation, as on AWS
        again = cfn.update_stack_instances(StackSetName="once", Accounts=[LOCAL_MANAGEMENT_ACCOUNT],
                                           Regions=["us-east-1"], OperationId="a-second-call")["OperationId"]
        assert again != first and sorted(_operations(cfn)) == ["CREATE", "UPDATE"]


def test_plain_moto_did_a_retried_operation_twice(spawn) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # a hang guard
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=10)
            break
        except OSError:
            assert server.proc.poll() is None and time.monotonic() < deadline, "moto's server did not start"
            time.sleep(0.1)
    cfn = boto3.client("cloudformation", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    # the bug the embedded AWS fixes: the retry creates the instance's stack again
    with pytest.raises(botocore.exceptions.ClientError) as info:
        _retried_create(cfn)
    assert "already exists" in str(info.value)
