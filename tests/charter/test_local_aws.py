"""The embedded AWS behaves like AWS where Charter relies on it."""

from __future__ import annotations

import json
import time

import botocore.exceptions
import pytest

from charter.local import LocalAws


@pytest.fixture(scope="module")
def aws():
    with LocalAws() as server:
        yield server


def test_unimplemented_service_fails_fast_without_retries(aws) -> None:
    client = aws.sessions().client("accessanalyzer")
    start = time.perf_counter()
    with pytest.raises(botocore.exceptions.ClientError) as info:
        client.list_analyzers()
    assert info.value.response["Error"]["Code"] == "UnsupportedOperation"
    assert time.perf_counter() - start < 5, "a 500 would have been retried with backoff"


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
    iam = aws.sessions().client("iam")
    iam.create_user(UserName="u1")
    iam.attach_user_policy(UserName="u1", PolicyArn="arn:aws:iam::aws:policy/SecurityAudit")


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
