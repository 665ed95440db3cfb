"""Stopping the embedded AWS stops the work it runs in the background. A StackSet operation
still running after `stop()` would go on deploying its stacks (and their IAM roles) into the
next embedded AWS of the same process, whose backends are fresh but whose threads are not: a
later test, or a `charter demo` after a `charter deploy` in one interpreter, then meets roles
it never made. Plain moto has no such thread (it runs StackSet operations synchronously)."""

from __future__ import annotations

import threading
import time

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
