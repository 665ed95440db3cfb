"""The embedded AWS behaves like AWS where Charter relies on it."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest
from aws_testkit import operation

from charter.local import LocalAws

pytestmark = pytest.mark.e2e  # every test here uses the embedded AWS


@pytest.fixture(scope="module")
def aws():
    with LocalAws() as server:
        yield server


def test_unimplemented_service_fails_fast_without_retries(aws) -> None:
    # Audit Manager: a service moto lacks and the embedded AWS does not answer either
    client = aws.sessions().client("auditmanager")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        client.list_assessments()
    assert info.value.response["Error"]["Code"] == "UnsupportedOperation"
    # a 500 would have been retried with backoff (Charter's clients retry up to 10 times)
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_a_new_account_region_has_no_volumes_or_snapshots_of_its_own(aws) -> None:
    """As in a fresh AWS account: plain moto gives every account-region EC2 touches ~1,200
    volumes and snapshots (one per public AMI it copies in), which EBS evidence would list."""
    ec2 = aws.sessions().client("ec2", region="eu-west-1")
    ec2.enable_ebs_encryption_by_default()
    assert ec2.describe_volumes()["Volumes"] == []
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []


def test_kms_key_with_tags_deploys_through_cloudformation(aws) -> None:
    template = {"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {
        "KeyPolicy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}]},
        "EnableKeyRotation": True, "Tags": [{"Key": "ManagedBy", "Value": "charter"}]}}}}
    sessions = aws.sessions()
    cf = sessions.client("cloudformation")
    cf.create_stack(StackName="kms-tags", TemplateBody=json.dumps(template))
    assert cf.describe_stacks(StackName="kms-tags")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    key_id = cf.describe_stack_resources(StackName="kms-tags")["StackResources"][0]["PhysicalResourceId"]
    kms = sessions.client("kms")
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "ManagedBy", "TagValue": "charter"}]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_aws_managed_policies_exist(aws) -> None:
    """AWS-managed policies exist in every real account: the embedded AWS attaches them by ARN
    and answers for them as AWS does (plain moto refuses the attach: the policy is not there)."""
    iam = aws.sessions().client("iam")
    iam.create_user(UserName="u1")
    for arn in ("arn:aws:iam::aws:policy/SecurityAudit", "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"):
        iam.attach_user_policy(UserName="u1", PolicyArn=arn)
    attached = iam.list_attached_user_policies(UserName="u1")["AttachedPolicies"]
    assert sorted(p["PolicyName"] for p in attached) == ["SecurityAudit", "ViewOnlyAccess"]
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/SecurityAudit")["Policy"]
    assert policy["AttachmentCount"] >= 1 and policy["Path"] == "/"
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])[
        "PolicyVersion"]["Document"]
    statements = document["Statement"] if isinstance(document, dict) else json.loads(document)["Statement"]
    actions = {a for st in statements for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert "cloudtrail:DescribeTrails" in actions or "cloudtrail:Describe*" in actions  # a real audit policy
    with pytest.raises(botocore.exceptions.ClientError) as info:
        iam.attach_user_policy(UserName="u1", PolicyArn="arn:aws:iam::aws:policy/NoSuchCharterPolicy")
    assert info.value.response["Error"]["Code"] == "NoSuchEntity"


def test_env_points_sdks_at_the_server(aws) -> None:
    env = aws.env()
    assert env["AWS_ENDPOINT_URL"] == aws.endpoint_url and aws.endpoint_url.startswith("http://127.0.0.1:")


def test_lambda_alias_deploys_through_cloudformation(aws) -> None:
    role = "arn:aws:iam::123456789012:role/lambda-role"
    template = {"Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "FunctionName": "fn-alias-test", "Runtime": "python3.12", "Handler": "index.handler", "Role": role,
            "Code": {"ZipFile": "def handler(event, context):\n    return 1\n"}}},
        "Live": {"Type": "AWS::Lambda::Alias", "Properties": {
            "FunctionName": {"Ref": "Fn"}, "FunctionVersion": "$LATEST", "Name": "live"}},
        "Invoke": {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": {"Ref": "Live"}, "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com"}}}}
    sessions = aws.sessions()
    sessions.client("iam").create_role(RoleName="lambda-role", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    cf = sessions.client("cloudformation")
    cf.create_stack(StackName="alias", TemplateBody=json.dumps(template))
    assert cf.describe_stacks(StackName="alias")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    alias = sessions.client("lambda").get_alias(FunctionName="fn-alias-test", Name="live")
    assert alias["AliasArn"].endswith(":function:fn-alias-test:live")


@pytest.mark.parametrize(("service", "call", "kwargs"), [
    ("cloudformation", "describe_organizations_access", {}),  # query XML: moto raises NotImplementedError
    ("macie2", "update_automated_discovery_configuration", {"status": "ENABLED"}),  # REST JSON: no route
])
def test_an_operation_moto_lacks_in_a_known_service_is_a_fast_client_error(aws, service, call, kwargs) -> None:
    client = aws.sessions().client(service)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        getattr(client, call)(**kwargs)
    assert info.value.response["Error"]["Code"] == "UnsupportedOperation"
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 0, "a 500 would have been retried"


def test_a_tls_only_bucket_policy_lets_sdk_requests_through_but_a_plain_deny_still_denies(aws) -> None:
    s3 = aws.sessions().client("s3")
    s3.create_bucket(Bucket="charter-tls-only")
    s3.put_bucket_policy(Bucket="charter-tls-only", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::charter-tls-only", "arn:aws:s3:::charter-tls-only/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "DenyDeletes", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": "arn:aws:s3:::charter-tls-only/*"}]}))
    s3.put_object(Bucket="charter-tls-only", Key="k", Body=b"x")
    assert s3.get_object(Bucket="charter-tls-only", Key="k")["Body"].read() == b"x"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.delete_object(Bucket="charter-tls-only", Key="k")


def test_service_managed_stack_instances_are_real_stacks_that_skip_the_management_account(aws) -> None:
    sessions = aws.sessions()
    org = sessions.client("organizations")
    try:
        org.create_organization(FeatureSet="ALL")
    except botocore.exceptions.ClientError:
        pass  # another test made it
    root = org.list_roots()["Roots"][0]["Id"]
    outer = org.create_organizational_unit(ParentId=root, Name="Outer")["OrganizationalUnit"]["Id"]
    inner = org.create_organizational_unit(ParentId=outer, Name="Inner")["OrganizationalUnit"]["Id"]
    member = org.create_account(Email="deep@example.com", AccountName="deep")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=inner)
    export = {"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": "/ss-test/p", "Type": "String", "Value": "v"}}},
              "Outputs": {"Name": {"Value": {"Ref": "P"}, "Export": {"Name": "ss-test-export"}}}}
    cf = sessions.client("cloudformation")
    cf.create_stack_set(StackSetName="ss-test", TemplateBody=json.dumps(export), PermissionModel="SERVICE_MANAGED",
                        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False})
    operation(cf, "ss-test", cf.create_stack_instances(StackSetName="ss-test", Regions=["us-east-1"],
                                                       DeploymentTargets={"OrganizationalUnitIds": [root]}))
    # again for the one account: AWS never duplicates an instance
    operation(cf, "ss-test", cf.create_stack_instances(StackSetName="ss-test", Regions=["us-east-1"], DeploymentTargets={
        "OrganizationalUnitIds": [inner], "Accounts": [member], "AccountFilterType": "INTERSECTION"}))
    instances = cf.list_stack_instances(StackSetName="ss-test")["Summaries"]
    assert {i["StackInstanceStatus"]["DetailedStatus"] for i in instances} == {"SUCCEEDED"}
    accounts = [i["Account"] for i in instances]
    assert "123456789012" not in accounts  # the management account
    assert accounts.count(member) == 1  # reached two OU levels down, once
    # the instance is a stack in the member account whose export a later stack there imports
    mcf = sessions.client("cloudformation", account_id=member, role_name="OrganizationAccountAccessRole")
    importer = {"Resources": {"Q": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": "/ss-test/q", "Type": "String", "Value": {"Fn::ImportValue": "ss-test-export"}}}}}
    mcf.create_stack(StackName="importer", TemplateBody=json.dumps(importer))
    assert mcf.describe_stacks(StackName="importer")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_updating_a_stack_follows_its_conditions_both_ways(aws) -> None:
    """A resource whose Condition turns true on UpdateStack is created (with its export), and
    deleted when it turns false again; a condition-false resource is not listed at all."""
    template = json.dumps({
        "Parameters": {"On": {"Type": "String", "Default": "false"}},
        "Conditions": {"IsOn": {"Fn::Equals": [{"Ref": "On"}, "true"]}},
        "Resources": {"Always": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "flip-always"}},
                      "Maybe": {"Type": "AWS::SQS::Queue", "Condition": "IsOn",
                                "Properties": {"QueueName": "flip-maybe"}}},
        "Outputs": {"MaybeArn": {"Condition": "IsOn", "Value": {"Fn::GetAtt": ["Maybe", "Arn"]},
                                 "Export": {"Name": "flip-maybe-arn"}}}})
    sessions = aws.sessions()
    cfn, sqs = sessions.client("cloudformation"), sessions.client("sqs")

    def state(on: str):
        cfn.update_stack(StackName="flip", TemplateBody=template, Parameters=[{"ParameterKey": "On", "ParameterValue": on}])
        queues = sorted(u.rsplit("/", 1)[1] for u in sqs.list_queues(QueueNamePrefix="flip-").get("QueueUrls", []))
        exports = [e["Name"] for e in cfn.list_exports()["Exports"] if e["Name"].startswith("flip-")]
        listed = sorted(r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName="flip")["StackResourceSummaries"])
        return queues, exports, listed

    cfn.create_stack(StackName="flip", TemplateBody=template)
    listed = [r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName="flip")["StackResourceSummaries"]]
    assert listed == ["Always"]
    assert state("true") == (["flip-always", "flip-maybe"], ["flip-maybe-arn"], ["Always", "Maybe"])
    assert state("false") == (["flip-always"], [], ["Always"])
    assert cfn.describe_stacks(StackName="flip")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"


def test_an_update_whose_resource_fails_ends_in_rollback_with_the_resource_named(aws) -> None:
    """As on AWS: UpdateStack is accepted, the stack ends UPDATE_ROLLBACK_COMPLETE and an
    UPDATE_FAILED event names the resource and why (moto let the resource's own error escape
    the call in a format the SDK could not parse)."""
    sessions = aws.sessions()
    cfn = sessions.client("cloudformation")
    good = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "upd-ok"}}}}
    cfn.create_stack(StackName="upd-fail", TemplateBody=json.dumps(good))
    bad = {"Resources": {**good["Resources"], "Dup": {"Type": "AWS::SQS::Queue", "Properties": {
        "QueueName": "upd-ok", "VisibilityTimeout": 99}}}}  # the same name with other attributes: SQS refuses
    cfn.update_stack(StackName="upd-fail", TemplateBody=json.dumps(bad))
    stack = cfn.describe_stacks(StackName="upd-fail")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    failed = [e for e in cfn.describe_stack_events(StackName="upd-fail")["StackEvents"]
              if e["ResourceStatus"] == "UPDATE_FAILED"]
    assert failed and failed[0]["LogicalResourceId"] == "Dup" and failed[0]["ResourceStatusReason"]


def test_a_replaced_lambda_alias_is_deleted_before_it_is_made_again(aws) -> None:
    sessions = aws.sessions()
    cfn = sessions.client("cloudformation")
    role = sessions.client("iam").create_role(RoleName="alias-swap", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]

    def template(description: str) -> str:
        return json.dumps({"Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "FunctionName": "alias-swap", "Runtime": "python3.12", "Handler": "index.handler", "Role": role,
                "Code": {"ZipFile": "def handler(event, context):\n    return 1\n"}}},
            "Live": {"Type": "AWS::Lambda::Alias", "Properties": {
                "FunctionName": {"Ref": "Fn"}, "FunctionVersion": "$LATEST", "Name": "live",
                "Description": description}}}})

    cfn.create_stack(StackName="alias-swap", TemplateBody=template("first"))
    cfn.update_stack(StackName="alias-swap", TemplateBody=template("second"))
    assert cfn.describe_stacks(StackName="alias-swap")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    aliases = sessions.client("lambda").list_aliases(FunctionName="alias-swap")["Aliases"]
    assert [(a["Name"], a["Description"]) for a in aliases] == [("live", "second")]


def test_head_of_a_missing_object_is_a_404_as_on_s3(aws) -> None:
    """HeadObject of a missing key is S3's bare 404 (what deploy checks before it uploads a
    zip), not the guard's UnsupportedOperation for routes moto lacks."""
    s3 = aws.sessions().client("s3")
    s3.create_bucket(Bucket="head-404")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        s3.head_object(Bucket="head-404", Key="code/missing.zip")
    assert info.value.response["Error"]["Code"] == "404"


def test_a_stacksets_auto_deployment_is_kept_as_aws_keeps_it(aws) -> None:
    """DescribeStackSet returns the AutoDeployment that CreateStackSet set and UpdateStackSet
    changed (plain moto returns none, so deploy could not tell an auto-deploying StackSet,
    issue #26, 11, from one it had turned off)."""
    body = json.dumps({"Resources": {"W": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})
    cf = aws.sessions().client("cloudformation")
    cf.create_stack_set(StackSetName="auto-kept", TemplateBody=body, PermissionModel="SERVICE_MANAGED",
                        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False})
    assert cf.describe_stack_set(StackSetName="auto-kept")["StackSet"]["AutoDeployment"] == {
        "Enabled": True, "RetainStacksOnAccountRemoval": False}
    cf.update_stack_set(StackSetName="auto-kept", TemplateBody=body, AutoDeployment={"Enabled": False})
    assert cf.describe_stack_set(StackSetName="auto-kept")["StackSet"]["AutoDeployment"] == {"Enabled": False}
