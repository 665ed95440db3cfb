"""IAM Identity Center on the embedded AWS: each `charter.local.patches.sso` patch, with the
moto behaviour it corrects shown on plain moto (when moto fixes one, its plain-moto test fails
and says which patch to delete)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from charter.local import LocalAws

pytestmark = pytest.mark.e2e  # starts the embedded AWS

#: Plain moto in a fresh interpreter: nothing of charter.local is imported there.
PLAIN_MOTO = textwrap.dedent("""
    import json, os
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    import boto3
    from moto import mock_aws

    TEMPLATE = {"Parameters": {"I": {"Type": "String"}}, "Resources": {"P": {"Type": "AWS::SSO::PermissionSet",
                "Properties": {"InstanceArn": {"Ref": "I"}, "Name": "Reader"}}}}
    out = {}
    with mock_aws():
        sso = boto3.client("sso-admin")
        inst = sso.list_instances()["Instances"][0]["InstanceArn"]
        arn = sso.create_permission_set(InstanceArn=inst, Name="Auditor")["PermissionSet"]["PermissionSetArn"]
        try:
            sso.attach_managed_policy_to_permission_set(
                InstanceArn=inst, PermissionSetArn=arn, ManagedPolicyArn="arn:aws:iam::aws:policy/job-function/ViewOnlyAccess")
            out["job_function_policy"] = "attached"
        except sso.exceptions.ResourceNotFoundException:
            out["job_function_policy"] = "not found"
        cfn = boto3.client("cloudformation")
        cfn.create_stack(StackName="s", TemplateBody=json.dumps(TEMPLATE), Parameters=[{"ParameterKey": "I", "ParameterValue": inst}])
        names = [sso.describe_permission_set(InstanceArn=inst, PermissionSetArn=a)["PermissionSet"]["Name"]
                 for a in sso.list_permission_sets(InstanceArn=inst)["PermissionSets"]]
        out["cfn_permission_set"] = "Reader" in names
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def plain_moto() -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", PLAIN_MOTO], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws() as server:
        yield server


def test_plain_moto_still_has_the_bugs_the_sso_patches_fix(plain_moto: dict[str, object]) -> None:
    # job-function policies: `managed_policies_under_their_path`
    assert plain_moto["job_function_policy"] == "not found"
    # CloudFormation skips the type: `add_permission_set_model`
    assert plain_moto["cfn_permission_set"] is False


def test_the_embedded_aws_makes_permission_sets_through_cloudformation(aws: LocalAws) -> None:
    s = aws.sessions()
    sso, cfn = s.client("sso-admin"), s.client("cloudformation")
    inst = sso.list_instances()["Instances"][0]["InstanceArn"]
    template = {"Parameters": {"I": {"Type": "String"}},
                "Resources": {"P": {"Type": "AWS::SSO::PermissionSet", "Properties": {
                    "InstanceArn": {"Ref": "I"}, "Name": "Auditor", "SessionDuration": "PT8H",
                    "ManagedPolicies": ["arn:aws:iam::aws:policy/SecurityAudit",
                                        "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"]}}},
                "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["P", "PermissionSetArn"]}}}}
    cfn.create_stack(StackName="sso-ps", TemplateBody=json.dumps(template),
                     Parameters=[{"ParameterKey": "I", "ParameterValue": inst}])
    stack = cfn.describe_stacks(StackName="sso-ps")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    arn = stack["Outputs"][0]["OutputValue"]
    ps = sso.describe_permission_set(InstanceArn=inst, PermissionSetArn=arn)["PermissionSet"]
    assert ps["Name"] == "Auditor" and ps["SessionDuration"] == "PT8H"
    attached = sso.list_managed_policies_in_permission_set(InstanceArn=inst, PermissionSetArn=arn)["AttachedManagedPolicies"]
    assert {p["Name"] for p in attached} == {"SecurityAudit", "ViewOnlyAccess"}
    status = sso.create_account_assignment(InstanceArn=inst, TargetId="123456789012", TargetType="AWS_ACCOUNT",
                                           PermissionSetArn=arn, PrincipalType="GROUP", PrincipalId="g")
    assert status["AccountAssignmentCreationStatus"]["Status"] == "SUCCEEDED"
    cfn.delete_stack(StackName="sso-ps")
    assert arn not in sso.list_permission_sets(InstanceArn=inst)["PermissionSets"]
