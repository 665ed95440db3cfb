"""`charter drift` through the CLI after a deploy on the embedded AWS: drift reported per
control id with the account names of the deploy, nothing drifted, and a StackSet AWS refused
to check. moto does not implement DetectStackSetDrift, so CloudFormation's drift answers come
from botocore's Stubber, which checks every request and response against the service model;
everything else (the caller, the organization, the deploy journal) is the embedded AWS's.

The embedded AWS states that it cannot detect drift (`Capabilities.drift_detection`), and
`charter drift` believes it. With the Stubber in front of CloudFormation, the AWS these tests
talk to can: the capabilities the endpoint states are the embedded AWS's own with drift
detection on. One test keeps the plain embedded AWS and checks that no drift call is made."""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from sample_plan import write_sample_plan
from stackset_roles import make_stackset_roles

from charter.aws import Capabilities, SessionFactory
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy import deploy
from charter.local import LOCAL_MANAGEMENT_ACCOUNT, LocalAws

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"
MANAGEMENT, MEMBER = "charter-sample-management-key", "charter-sample-member-keys"
DRIFTED = [{"Name": "DRIFT_STATUS", "Values": "DRIFTED"}]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Deployed:
    endpoint_url: str
    out: Path
    accounts: dict[str, str]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    saved = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "false"  # seconds per account, and none is attached here
    try:
        with LocalAws() as server:
            urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset",
                                                          method="POST")).read()
            sessions = server.sessions()
            make_stackset_roles(sessions)
            small = load_config(SMALL)
            out = tmp_path_factory.mktemp("drift") / "out"
            write_sample_plan(small, out)
            result = deploy(small, out, sessions)
            assert result.failures == []
            yield Deployed(server.endpoint_url, out, dict(result.journal.accounts))
            urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset",
                                                          method="POST")).read()
    finally:
        os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        if saved is not None:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = saved


class DriftAnswers:
    """CloudFormation's answers for one `charter drift` run, queued on the first CloudFormation
    client the command makes (all of its drift calls go through that one client)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str, Any, dict[str, Any]]] = []
        self.stubbers: list[Stubber] = []

    def respond(self, operation: str, response: dict[str, Any], params: dict[str, Any]) -> DriftAnswers:
        self.steps.append(("response", operation, response, params))
        return self

    def refuse(self, operation: str, code: str, message: str, params: dict[str, Any]) -> DriftAnswers:
        self.steps.append(("error", operation, (code, message), params))
        return self

    def present(self, stackset: str) -> DriftAnswers:
        """The StackSet exists with an instance (drift is detected only on a deployed StackSet)."""
        self.respond("describe_stack_set", {"StackSet": {"StackSetName": stackset, "StackSetId": f"{stackset}:1",
                                                         "Status": "ACTIVE"}}, {"StackSetName": stackset})
        instance = {**_instance(stackset, LOCAL_MANAGEMENT_ACCOUNT, "us-east-1"), "DriftStatus": "IN_SYNC"}
        return self.respond("list_stack_instances", {"Summaries": [instance]}, {"StackSetName": stackset})

    def detection(self, stackset: str, op: str, instances: list[dict[str, Any]], *, polls: int = 1) -> DriftAnswers:
        """The StackSet is there; DetectStackSetDrift, `polls` - 1 RUNNING answers then SUCCEEDED,
        the drifted instances."""
        self.present(stackset)
        self.respond("detect_stack_set_drift", {"OperationId": op},
                     {"StackSetName": stackset, "OperationPreferences": ANY})
        for status in ["RUNNING"] * (polls - 1) + ["SUCCEEDED"]:
            self.respond("describe_stack_set_operation", {"StackSetOperation": {
                "OperationId": op, "StackSetId": f"{stackset}:1", "Action": "DETECT_DRIFT", "Status": status}},
                {"StackSetName": stackset, "OperationId": op})
        return self.respond("list_stack_instances", {"Summaries": instances},
                            {"StackSetName": stackset, "Filters": DRIFTED})

    def attach(self, client: Any) -> None:
        if self.stubbers:
            return
        stubber = Stubber(client)
        for kind, operation, answer, params in self.steps:
            if kind == "response":
                stubber.add_response(operation, answer, params)  # validated against the output shape
            else:
                stubber.add_client_error(operation, service_error_code=answer[0], service_message=answer[1],
                                         http_status_code=400, expected_params=params)
        stubber.activate()
        self.stubbers.append(stubber)

    def all_asked(self, printed: str) -> None:
        if not self.steps:
            return  # nothing to be asked (a Stubber with no answer queued refuses any call)
        assert self.stubbers, f"the command made no CloudFormation client; it printed: {printed}"
        try:
            self.stubbers[0].assert_no_pending_responses()
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the command printed: {printed}") from None


def _instance(stackset: str, account: str, region: str) -> dict[str, Any]:
    return {"StackSetId": f"{stackset}:1", "Region": region, "Account": account, "Status": "CURRENT",
            "StackId": f"arn:aws:cloudformation:{region}:{account}:stack/StackSet-{stackset}/1",
            "DriftStatus": "DRIFTED", "LastDriftCheckTimestamp": NOW}


def _resource_drift(account: str, region: str, logical_id: str, status: str,
                    differences: list[tuple[str, str, str]] = ()) -> dict[str, Any]:
    return {"StackId": f"arn:aws:cloudformation:{region}:{account}:stack/StackSet-x/1", "LogicalResourceId": logical_id,
            "PhysicalResourceId": f"{logical_id.lower()}-1", "ResourceType": "AWS::KMS::Key",
            "StackResourceDriftStatus": status, "Timestamp": NOW,
            "PropertyDifferences": [{"PropertyPath": path, "ExpectedValue": want, "ActualValue": got,
                                     "DifferenceType": "NOT_EQUAL"} for path, want, got in differences]}


def _drift(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], deployed: Deployed,
           answers: DriftAnswers, *, stubbed_drift: bool = True, extra: tuple[str, ...] = (),
           stdout: list[str] | None = None) -> tuple[int, str]:
    """Run `charter drift` as a user does; CloudFormation answers from `answers`. With
    `stubbed_drift`, the endpoint states that it detects drift (the Stubber answers it).
    `extra`: more arguments; `stdout`: gets the command's stdout as printed."""
    import charter.local.server
    from charter.cli import main

    if stubbed_drift:
        stated = charter.local.server.advertised

        def advertised(endpoint_url: str, *args: Any, **kwargs: Any) -> Capabilities | None:
            caps = stated(endpoint_url, *args, **kwargs)
            assert caps is not None and caps.embedded, "the embedded AWS states its capabilities"
            return replace(caps, drift_detection=True)

        monkeypatch.setattr(charter.local.server, "advertised", advertised)
    made = SessionFactory.client

    def client(self: SessionFactory, service: str, **kwargs: Any) -> Any:
        made_client = made(self, service, **kwargs)
        if service == "cloudformation":
            answers.attach(made_client)
        return made_client

    monkeypatch.setattr(SessionFactory, "client", client)
    monkeypatch.setattr(sys, "argv", ["charter", "drift", "-c", str(SMALL), "-o", str(deployed.out),
                                      "--endpoint-url", deployed.endpoint_url, *extra])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    if stdout is not None:
        stdout.append(out.out)
    text = " ".join((out.out + out.err).split())  # as a person reads it, whatever the wrapping
    answers.all_asked(text)
    return code, text


def test_drift_is_reported_per_control_with_the_account_names(deployed: Deployed, monkeypatch, capsys) -> None:
    prod = deployed.accounts["prod"]
    pages = {"StackSetName": MEMBER, "StackInstanceAccount": prod, "StackInstanceRegion": "us-west-2",
             "OperationId": "op-member", "StackInstanceResourceDriftStatuses": ["MODIFIED", "DELETED"]}
    answers = (DriftAnswers()
               .detection(MANAGEMENT, "op-management", [])
               .detection(MEMBER, "op-member", [_instance(MEMBER, prod, "us-west-2")], polls=3)
               # two pages of resource drifts (botocore has no paginator for this operation)
               .respond("list_stack_instance_resource_drifts", {"Summaries": [_resource_drift(
                   prod, "us-west-2", "SampleKey", "MODIFIED",
                   [("/EnableKeyRotation", "true", "false"), ("/KeyPolicy/Statement/0/Principal", "a", "b")])],
                   "NextToken": "page-2"}, pages)
               .respond("list_stack_instance_resource_drifts", {"Summaries": [_resource_drift(
                   prod, "us-west-2", "SampleOrganizationId", "DELETED")]}, {**pages, "NextToken": "page-2"}))
    code, text = _drift(monkeypatch, capsys, deployed, answers)
    assert code == 1, text
    assert "ENC-01: 2 drifted" in text  # both resources carry ENC-01 in the template's Metadata
    assert f"{MEMBER}/prod/us-west-2/SampleKey: MODIFIED: EnableKeyRotation, KeyPolicy" in text
    assert f"{MEMBER}/prod/us-west-2/SampleOrganizationId: DELETED" in text
    assert "1 of 2 StackSets drifted (2 resources)" in text and "Traceback" not in text


def test_drift_json_lists_each_drifted_resource_with_its_controls(deployed: Deployed, monkeypatch, capsys) -> None:
    """`--output json` for a pipeline: stdout is the document alone, exit 1 when anything drifted."""
    import json

    prod = deployed.accounts["prod"]
    answers = (DriftAnswers()
               .detection(MANAGEMENT, "op-management", [])
               .detection(MEMBER, "op-member", [_instance(MEMBER, prod, "us-west-2")])
               .respond("list_stack_instance_resource_drifts", {"Summaries": [_resource_drift(
                   prod, "us-west-2", "SampleKey", "MODIFIED", [("/EnableKeyRotation", "true", "false")])]},
                   {"StackSetName": MEMBER, "StackInstanceAccount": prod, "StackInstanceRegion": "us-west-2",
                    "OperationId": "op-member", "StackInstanceResourceDriftStatuses": ["MODIFIED", "DELETED"]}))
    printed: list[str] = []
    code, text = _drift(monkeypatch, capsys, deployed, answers, extra=("--output", "json"), stdout=printed)
    assert code == 1, text
    doc = json.loads(printed[0])
    assert doc["schema"] == "charter/drift/v1" and doc["ok"] is False and doc["errors"] == []
    assert sorted(doc["checked"]) == sorted([MANAGEMENT, MEMBER]) and doc["not_deployed"] == []
    [drift] = doc["drifts"]
    assert (drift["stackset"], drift["region"], drift["logical_id"], drift["status"]) == (MEMBER, "us-west-2",
                                                                                            "SampleKey", "MODIFIED")
    assert drift["account"] in ("prod", prod) and drift["properties"] == ["EnableKeyRotation"]
    assert "ENC-01" in drift["controls"]


def test_no_drift_exits_zero_naming_how_many_stacksets_were_checked(deployed: Deployed, monkeypatch,
                                                                   capsys) -> None:
    answers = DriftAnswers().detection(MANAGEMENT, "op-1", []).detection(MEMBER, "op-2", [], polls=2)
    code, text = _drift(monkeypatch, capsys, deployed, answers)
    assert code == 0, text
    assert "no drift in 2 deployed StackSets" in text and "error" not in text


def test_a_stackset_aws_refuses_to_check_is_named_and_fails_the_run(deployed: Deployed, monkeypatch,
                                                                  capsys) -> None:
    busy = f"Another Operation on StackSet arn:aws:cloudformation:us-east-1:{LOCAL_MANAGEMENT_ACCOUNT}:stackset/{MANAGEMENT}:1 is in progress"
    answers = (DriftAnswers()
               .present(MANAGEMENT)
               .refuse("detect_stack_set_drift", "OperationInProgressException", busy,
                       {"StackSetName": MANAGEMENT, "OperationPreferences": ANY})
               .detection(MEMBER, "op-2", []))
    code, text = _drift(monkeypatch, capsys, deployed, answers)
    assert code == 1, text
    # a long ARN wraps anywhere on a narrow terminal: compared without the white space
    assert "".join(f"warning: {MANAGEMENT}: OperationInProgressException: {busy}".split()) in "".join(text.split())
    assert "no drift in 1 deployed StackSet; 1 StackSet could not be checked" in text


def test_a_stackset_of_the_plan_that_is_not_deployed_is_named_and_fails_the_run(deployed: Deployed, monkeypatch,
                                                                               capsys) -> None:
    """"No drift" about a StackSet that is not there would tell the auditor a control holds."""
    answers = (DriftAnswers()
               .refuse("describe_stack_set", "StackSetNotFoundException", f"StackSet {MANAGEMENT} not found",
                       {"StackSetName": MANAGEMENT})
               .detection(MEMBER, "op-2", []))
    code, text = _drift(monkeypatch, capsys, deployed, answers)
    assert code == 1, text
    assert (f"no drift in 1 deployed StackSet; 1 StackSet of the plan is not deployed ({MANAGEMENT}): "
            "run `charter deploy` first") in text
    assert "Traceback" not in text


def test_the_plain_embedded_aws_is_not_asked_for_drift_and_the_run_fails(deployed: Deployed, monkeypatch,
                                                                         capsys) -> None:
    """moto has no DetectStackSetDrift: `charter drift` says so per StackSet, calls no drift API
    (the Stubber has no answer queued and would refuse any call) and does not report "no drift"."""
    code, text = _drift(monkeypatch, capsys, deployed, DriftAnswers(), stubbed_drift=False)
    assert code == 1, text
    for stackset in (MANAGEMENT, MEMBER):
        assert f"{stackset}: {deployed.endpoint_url} cannot detect StackSet drift" in text
    assert "no drift in 2" not in text and "Traceback" not in text
