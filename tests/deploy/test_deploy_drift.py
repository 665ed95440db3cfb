"""Drift detection per control id, against CloudFormation's real response shapes (Stubber):
moto does not implement DetectStackSetDrift."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.stub import ANY, Stubber

from charter.landing_zone.deploy.drift import DriftReport, detect_stackset_drift


def test_drifted_resource_is_reported_with_its_controls_and_properties() -> None:
    cfn = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with Stubber(cfn) as stub:
        stub.add_response("detect_stack_set_drift", {"OperationId": "op-1"}, {"StackSetName": "charter-kms", "OperationPreferences": ANY})
        stub.add_response("describe_stack_set_operation", {"StackSetOperation": {"OperationId": "op-1", "Status": "RUNNING"}},
                          {"StackSetName": "charter-kms", "OperationId": "op-1"})
        stub.add_response("describe_stack_set_operation", {"StackSetOperation": {"OperationId": "op-1", "Status": "SUCCEEDED"}},
                          {"StackSetName": "charter-kms", "OperationId": "op-1"})
        stub.add_response("list_stack_instances", {"Summaries": [
            {"StackSetId": "charter-kms:1", "Region": "eu-west-1", "Account": "222222222222", "Status": "CURRENT",
             "DriftStatus": "DRIFTED"}]},
            {"StackSetName": "charter-kms", "Filters": [{"Name": "DRIFT_STATUS", "Values": "DRIFTED"}]})
        stub.add_response("list_stack_instance_resource_drifts", {"Summaries": [
            {"StackId": "arn:aws:cloudformation:eu-west-1:222222222222:stack/s/1", "LogicalResourceId": "Key",
             "ResourceType": "AWS::KMS::Key", "StackResourceDriftStatus": "MODIFIED", "Timestamp": now,
             "PropertyDifferences": [{"PropertyPath": "/EnableKeyRotation", "ExpectedValue": "true",
                                      "ActualValue": "false", "DifferenceType": "NOT_EQUAL"}]}]},
            {"StackSetName": "charter-kms", "StackInstanceAccount": "222222222222", "StackInstanceRegion": "eu-west-1",
             "OperationId": "op-1", "StackInstanceResourceDriftStatuses": ["MODIFIED", "DELETED"]})
        drifts = detect_stackset_drift(cfn, "charter-kms", {"Key": ["ENC-01"]}, account_names={"222222222222": "prod"},
                                       poll_interval=0, preferences={"RegionConcurrencyType": "PARALLEL"})
        stub.assert_no_pending_responses()
    assert [d.render() for d in drifts] == ["charter-kms/prod/eu-west-1/Key: MODIFIED: EnableKeyRotation"]
    report = DriftReport(drifts=drifts)
    assert list(report.by_control()) == ["ENC-01"]


def test_drift_summary_says_not_deployed_instead_of_no_drift_in_zero() -> None:
    nothing = DriftReport(not_deployed=["acme-logging", "acme-kms"])
    assert not nothing.ok
    assert nothing.summary() == ("2 StackSets of the plan are not deployed (acme-logging, acme-kms): "
                                 "run `charter deploy` first")
    assert "0 StackSets" not in nothing.summary()
    clean = DriftReport(checked=["acme-logging"])
    assert clean.ok and clean.summary() == "no drift in 1 deployed StackSet"
    mixed = DriftReport(checked=["a", "b"], not_deployed=["c"], errors=["b: throttled"])
    assert mixed.summary() == ("no drift in 2 deployed StackSets; 1 StackSet of the plan is not deployed (c): "
                               "run `charter deploy` first; 1 StackSet could not be checked")


def test_run_drift_reports_stacksets_never_deployed_as_not_deployed(tmp_path, small_config) -> None:
    """Nothing deployed yet: every StackSet of the plan is named 'not deployed', none checked."""
    from moto import mock_aws

    from charter.aws import SessionFactory
    from charter.landing_zone.deploy.commands import run_drift
    from charter.landing_zone.synth import build_plan, synthesize, write_output

    stacks = synthesize(small_config)
    plan = build_plan(small_config, stacks, "")
    write_output(stacks, plan, tmp_path)
    expected = sorted(ps.stack_name for ps in plan.stacks if ps.deployment.kind == "stackset")
    with mock_aws():
        boto3.client("organizations", region_name="us-east-1").create_organization(FeatureSet="ALL")
        report = run_drift(small_config, tmp_path, SessionFactory(region="us-east-1"), poll_interval=0)
    assert sorted(report.not_deployed) == expected and expected
    assert (report.checked, report.drifts, report.errors) == ([], [], [])
    assert not report.ok and "not deployed" in report.summary() and "0 StackSets" not in report.summary()
