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
