"""Every patch of `charter.local` against the moto it patches: each scenario observes one
behaviour of AWS that Charter relies on; the embedded AWS shows it, and plain moto (the
pinned version, unpatched, as its own server) does not. When a moto upgrade makes a
scenario hold on plain moto too, this test fails and names the patch that can go.

The scenarios are listed in charter/local/README.md beside the patches and the upstream
issue text.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from aws_testkit import PATIENCE_SECONDS
from botocore.config import Config

from charter.local import LocalAws

pytestmark = pytest.mark.e2e  # each starts the embedded AWS (and plain moto)

REGION = "us-east-1"
MANAGEMENT = "123456789012"
ONE_TRY = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=120, connect_timeout=10)


class Aws:
    """Clients for an endpoint (the embedded AWS, or plain moto), in the management account
    or, by AssumeRole, in a member account."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.org: dict[str, str] = {}

    def client(self, service: str, account: str | None = None, region: str = REGION) -> Any:
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        if account and account != MANAGEMENT:
            got = self.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                                                 RoleSessionName="scenario")["Credentials"]
            creds = {"aws_access_key_id": got["AccessKeyId"], "aws_secret_access_key": got["SecretAccessKey"],
                     "aws_session_token": got["SessionToken"]}
        return boto3.session.Session().client(service, region_name=region, endpoint_url=self.endpoint,
                                              config=ONE_TRY, **creds)

    def stack(self, name: str, template: dict, account: str | None = None, **kwargs: Any) -> dict[str, Any]:
        cfn = self.client("cloudformation", account)
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(template), **kwargs)
        deadline = time.monotonic() + 30
        while True:  # a stack whose custom resource never answers stays in progress
            stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
            if not stack["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
                return stack
            time.sleep(0.2)

    def organization(self) -> dict[str, str]:
        """An organization: OU Workloads (with a nested OU Deep) holding two members."""
        if not self.org:
            org = self.client("organizations")
            org.create_organization(FeatureSet="ALL")
            root = org.list_roots()["Roots"][0]["Id"]
            ou = org.create_organizational_unit(ParentId=root, Name="Workloads")["OrganizationalUnit"]["Id"]
            deep = org.create_organizational_unit(ParentId=ou, Name="Deep")["OrganizationalUnit"]["Id"]
            ids = {}
            for name, parent in (("member", ou), ("admin", deep)):
                made = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
                aid = org.describe_create_account_status(CreateAccountRequestId=made["Id"])["CreateAccountStatus"][
                    "AccountId"]
                org.move_account(AccountId=aid, SourceParentId=root, DestinationParentId=parent)
                ids[name] = aid
            self.org = {"root": root, "ou": ou, "deep": deep, **ids}
        return self.org


SCENARIOS: dict[str, tuple[str, Callable[[Aws], bool]]] = {}


def scenario(patch: str) -> Callable[[Callable[[Aws], bool]], Callable[[Aws], bool]]:
    """Register a scenario for `patch` (module.function of charter/local/patches)."""
    def register(fn: Callable[[Aws], bool]) -> Callable[[Aws], bool]:
        SCENARIOS[fn.__name__] = (patch, fn)
        return fn
    return register


def _role(aws: Aws, name: str, service: str = "lambda.amazonaws.com", account: str | None = None) -> str:
    iam = aws.client("iam", account)
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]


def _key_policy() -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                                                    "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}}]}


# -- CloudFormation's resource types --------------------------------------------------------

@scenario("kms.patch_kms_key")
def cfn_kms_key_keeps_its_tags_and_key_spec(aws: Aws) -> bool:
    stack = aws.stack("kms-key", {"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {
        "KeyPolicy": _key_policy(), "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY",
        "Tags": [{"Key": "ManagedBy", "Value": "charter"}]}}}})
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    key = aws.client("cloudformation").describe_stack_resources(StackName="kms-key")["StackResources"][0][
        "PhysicalResourceId"]
    kms = aws.client("kms")
    return (kms.describe_key(KeyId=key)["KeyMetadata"]["KeySpec"] == "ECC_NIST_P256"
            and kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "ManagedBy", "TagValue": "charter"}])


def _function_template(name: str, role: str, extra: dict | None = None) -> dict:
    return {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "FunctionName": name, "Runtime": "python3.12", "Handler": "index.handler", "Role": role, "Timeout": 30,
        "Code": {"ZipFile": "def handler(event, context):\n    return {'answer': 42}\n"}}}, **(extra or {})}}


@scenario("lambda_models.add_lambda_alias_model")
def cfn_lambda_alias_exists(aws: Aws) -> bool:
    role = _role(aws, "alias-role")
    template = _function_template("alias-fn", role)
    template["Resources"]["Live"] = {"Type": "AWS::Lambda::Alias", "Properties": {
        "FunctionName": {"Ref": "Fn"}, "FunctionVersion": "$LATEST", "Name": "live"}}
    aws.stack("alias", template)
    try:
        aws.client("lambda").get_alias(FunctionName="alias-fn", Name="live")
    except botocore.exceptions.ClientError:
        return False
    return True


@scenario("lambda_models.add_lambda_version_attributes")
def cfn_lambda_version_has_its_version_attribute(aws: Aws) -> bool:
    role = _role(aws, "version-role")
    template = _function_template("version-fn", role)
    template["Resources"]["V"] = {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}}
    template["Outputs"] = {"Number": {"Value": {"Fn::GetAtt": ["V", "Version"]}}}
    stack = aws.stack("version", template)
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}.get("Number") == "1"


@scenario("apigateway.patch_api_gateway_method")
def cfn_mock_integration_method_is_made(aws: Aws) -> bool:
    stack = aws.stack("mock-api", {"Resources": {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "mock"}},
        "Get": {"Type": "AWS::ApiGateway::Method", "Properties": {
            "RestApiId": {"Ref": "Api"}, "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]}, "HttpMethod": "GET",
            "AuthorizationType": "NONE", "Integration": {"Type": "MOCK", "RequestTemplates": {
                "application/json": '{"statusCode": 200}'}, "IntegrationResponses": [{"StatusCode": "200"}]},
            "MethodResponses": [{"StatusCode": "200"}]}}}})
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    apigw = aws.client("apigateway")
    api = next(a for a in apigw.get_rest_apis()["items"] if a["name"] == "mock")
    root = next(r for r in apigw.get_resources(restApiId=api["id"])["items"] if r["path"] == "/")
    integration = apigw.get_integration(restApiId=api["id"], resourceId=root["id"], httpMethod="GET")
    return integration["type"] == "MOCK" and "200" in integration.get("integrationResponses", {})


@scenario("workload_models.add_workload_resource_models")
def cfn_cognito_user_pool_is_made_and_readable(aws: Aws) -> bool:
    stack = aws.stack("pool", {"Resources": {"Pool": {"Type": "AWS::Cognito::UserPool", "Properties": {
        "UserPoolName": "charter-pool"}}}, "Outputs": {"Provider": {"Value": {"Fn::GetAtt": ["Pool", "ProviderName"]}}}})
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    pools = aws.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"]
    provider = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}.get("Provider", "")
    return any(p["Name"] == "charter-pool" for p in pools) and provider.startswith("cognito-idp.")


@scenario("landing_zone_models.add_resource_models")
def cfn_detection_resources_are_made_through_their_services(aws: Aws) -> bool:
    stack = aws.stack("detection", {"Resources": {
        "Hub": {"Type": "AWS::SecurityHub::Hub", "Properties": {"EnableDefaultStandards": False}},
        "Fsbp": {"Type": "AWS::SecurityHub::Standard", "DependsOn": ["Hub"], "Properties": {
            "StandardsArn": f"arn:aws:securityhub:{REGION}::standards/aws-foundational-security-best-practices/v/1.0.0"}},
        "Detector": {"Type": "AWS::GuardDuty::Detector", "Properties": {
            "Enable": True, "Features": [{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}]}},
        "Analyzer": {"Type": "AWS::AccessAnalyzer::Analyzer", "Properties": {"Type": "ACCOUNT",
                                                                            "AnalyzerName": "charter-account"}},
        "Unused": {"Type": "AWS::AccessAnalyzer::Analyzer", "Properties": {  # as the detection builder makes it
            "Type": "ACCOUNT_UNUSED_ACCESS", "AnalyzerName": "charter-unused",
            "AnalyzerConfiguration": {"UnusedAccessConfiguration": {"UnusedAccessAge": 90}}}}}})
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    try:
        standards = aws.client("securityhub").get_enabled_standards()["StandardsSubscriptions"]
        gd = aws.client("guardduty")
        detector = gd.get_detector(DetectorId=gd.list_detectors()["DetectorIds"][0])
        analyzers = aws.client("accessanalyzer").list_analyzers()["analyzers"]
    except botocore.exceptions.ClientError:
        return False
    return ([s["StandardsStatus"] for s in standards] == ["READY"]
            and [(f["Name"], f["Status"]) for f in detector.get("Features", [])] == [("S3_DATA_EVENTS", "ENABLED")]
            and [(a["name"], a.get("configuration")) for a in analyzers]
            == [("charter-account", None), ("charter-unused", {"unusedAccess": {"unusedAccessAge": 90}})])


@scenario("iam.attach_role_managed_policies")
def cfn_role_gets_its_managed_policies(aws: Aws) -> bool:
    aws.client("iam").create_policy(PolicyName="charter-read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    aws.stack("managed-role", {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": "charter-managed", "ManagedPolicyArns": [f"arn:aws:iam::{MANAGEMENT}:policy/charter-read"],
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}}}})
    attached = aws.client("iam").list_attached_role_policies(RoleName="charter-managed")["AttachedPolicies"]
    return [p["PolicyName"] for p in attached] == ["charter-read"]


# -- CloudFormation's evaluation and updates ------------------------------------------------

_FLIP = {"Parameters": {"On": {"Type": "String", "Default": "no"}},
         "Conditions": {"IsOn": {"Fn::Equals": [{"Ref": "On"}, "yes"]}},
         "Resources": {"Always": {"Type": "AWS::SSM::Parameter", "Properties": {
             "Name": "/flip/always", "Type": "String", "Value": "x"}},
                       "Maybe": {"Type": "AWS::SSM::Parameter", "Condition": "IsOn", "Properties": {
                           "Name": "/flip/maybe", "Type": "String", "Value": "y"}}},
         "Outputs": {"MaybeName": {"Condition": "IsOn", "Value": {"Ref": "Maybe"}, "Export": {"Name": "flip-maybe"}}}}


@scenario("cfn_evaluation.export_only_when_output_exists")
def an_output_whose_condition_is_false_exports_nothing(aws: Aws) -> bool:
    aws.stack("flip-export", json.loads(json.dumps(_FLIP).replace("/flip/", "/flip-export/").replace(
        "flip-maybe", "flip-export-maybe")))
    return "flip-export-maybe" not in {e["Name"] for e in aws.client("cloudformation").list_exports()["Exports"]}


@scenario("cfn_evaluation.list_only_resources_that_exist")
def a_resource_whose_condition_is_false_is_not_listed(aws: Aws) -> bool:
    aws.stack("flip-list", json.loads(json.dumps(_FLIP).replace("/flip/", "/flip-list/").replace(
        "flip-maybe", "flip-list-maybe")))
    listed = aws.client("cloudformation").list_stack_resources(StackName="flip-list")["StackResourceSummaries"]
    return [r["LogicalResourceId"] for r in listed] == ["Always"]


@scenario("stack_update.plain_stacks_update_as_aws_does")
def an_update_that_makes_a_condition_true_creates_its_resource(aws: Aws) -> bool:
    template = json.loads(json.dumps(_FLIP).replace("/flip/", "/flip-update/").replace("flip-maybe", "flip-update-maybe"))
    aws.stack("flip-update", template)
    cfn = aws.client("cloudformation")
    cfn.update_stack(StackName="flip-update", TemplateBody=json.dumps(template),
                     Parameters=[{"ParameterKey": "On", "ParameterValue": "yes"}])
    try:
        aws.client("ssm").get_parameter(Name="/flip-update/maybe")
    except botocore.exceptions.ClientError:
        return False
    return "flip-update-maybe" in {e["Name"] for e in cfn.list_exports()["Exports"]}


@scenario("cfn_evaluation.add_fn_cidr")
def fn_cidr_carves_subnets(aws: Aws) -> bool:
    stack = aws.stack("cidr", {"Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.40.0.0/16"}},
        "Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": {
            "Fn::Select": [2, {"Fn::Cidr": ["10.40.0.0/16", 4, 8]}]}}}}})
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    subnets = aws.client("ec2").describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["10.40.2.0/24"]}])
    return len(subnets["Subnets"]) == 1


@scenario("rollback.failed_resources_roll_back")
def a_resource_that_cannot_be_made_rolls_its_stack_back(aws: Aws) -> bool:
    aws.client("logs").create_log_group(logGroupName="/charter/taken")
    try:
        stack = aws.stack("taken", {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": "/charter/taken"}}}})
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return False  # the resource's error escaped the CreateStack call
    events = aws.client("cloudformation").describe_stack_events(StackName="taken")["StackEvents"]
    return stack["StackStatus"] == "ROLLBACK_COMPLETE" and any(
        e["LogicalResourceId"] == "Logs" and e["ResourceStatus"] == "CREATE_FAILED" for e in events)


# -- StackSets ---------------------------------------------------------------------------------

def _operation(cfn: Any, name: str, operation_id: str) -> dict:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        op = cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation_id)["StackSetOperation"]
        if op["Status"] not in ("QUEUED", "RUNNING", "STOPPING") or time.monotonic() > deadline:
            return op
        time.sleep(0.05)


_PARAMETER = {"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {
    "Name": {"Fn::Sub": "/set/${AWS::StackName}"}, "Type": "String", "Value": "v"}}},
    "Outputs": {"Name": {"Value": {"Ref": "P"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-p"}}}}}


@scenario("stacksets.patch_stacksets")
def a_repeated_operation_id_is_one_operation(aws: Aws) -> bool:
    """An SDK retry (or a resumed deploy) repeats the call with the same OperationId."""
    org = aws.organization()
    cfn = aws.client("cloudformation")
    cfn.create_stack_set(StackSetName="once", TemplateBody=json.dumps(_PARAMETER), PermissionModel="SERVICE_MANAGED",
                         AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False})
    for _ in range(2):
        cfn.create_stack_instances(StackSetName="once", Regions=[REGION], OperationId="op-1",
                                   DeploymentTargets={"OrganizationalUnitIds": [org["ou"]]})
    _operation(cfn, "once", "op-1")
    instances = cfn.list_stack_instances(StackSetName="once")["Summaries"]
    return (len(cfn.list_stack_set_operations(StackSetName="once")["Summaries"]) == 1
            and sorted(i["Account"] for i in instances) == sorted([org["member"], org["admin"]]))


@scenario("stacksets.patch_stacksets")
def service_managed_instances_reach_the_subtree_and_not_the_management_account(aws: Aws) -> bool:
    org = aws.organization()
    cfn = aws.client("cloudformation")
    cfn.create_stack_set(StackSetName="tree", TemplateBody=json.dumps(_PARAMETER), PermissionModel="SERVICE_MANAGED",
                         AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False})
    op = cfn.create_stack_instances(StackSetName="tree", Regions=[REGION],
                                    DeploymentTargets={"OrganizationalUnitIds": [org["root"]]})
    _operation(cfn, "tree", op["OperationId"])
    accounts = sorted(i["Account"] for i in cfn.list_stack_instances(StackSetName="tree")["Summaries"])
    return accounts == sorted([org["member"], org["admin"]])


@scenario("stacksets.patch_stacksets")
def an_instance_is_a_stack_whose_export_its_account_imports(aws: Aws) -> bool:
    org = aws.organization()
    cfn = aws.client("cloudformation")
    cfn.create_stack_set(StackSetName="real", TemplateBody=json.dumps(_PARAMETER), PermissionModel="SELF_MANAGED")
    op = cfn.create_stack_instances(StackSetName="real", Regions=[REGION], Accounts=[org["member"]])
    if _operation(cfn, "real", op["OperationId"])["Status"] != "SUCCEEDED":
        return False
    member = aws.client("cloudformation", org["member"])
    exports = [e["Name"] for e in member.list_exports()["Exports"] if e["Name"].startswith("StackSet-real-")]
    return len(exports) == 1


@scenario("stacksets.patch_stacksets")
def an_operation_reports_each_failed_instance_with_its_reason(aws: Aws) -> bool:
    org = aws.organization()
    aws.client("logs", org["member"]).create_log_group(logGroupName="/set/failing")
    cfn = aws.client("cloudformation")
    cfn.create_stack_set(StackSetName="failing", PermissionModel="SELF_MANAGED", TemplateBody=json.dumps({
        "Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/set/failing"}}}}))
    op = cfn.create_stack_instances(StackSetName="failing", Regions=[REGION], Accounts=[org["member"], org["admin"]],
                                    OperationPreferences={"FailureToleranceCount": 1, "MaxConcurrentCount": 2})
    _operation(cfn, "failing", op["OperationId"])
    results = {r["Account"]: r for r in cfn.list_stack_set_operation_results(
        StackSetName="failing", OperationId=op["OperationId"])["Summaries"]}
    failed = results.get(org["member"], {})
    return (failed.get("Status") == "FAILED" and "Logs" in failed.get("StatusReason", "")
            and results.get(org["admin"], {}).get("Status") == "SUCCEEDED")


# -- Lambda ----------------------------------------------------------------------------------

def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


@scenario("lambda_invoke.run_functions_from_their_artifacts")
def invoke_runs_the_functions_code(aws: Aws) -> bool:
    role = _role(aws, "invoke-role")
    lam = aws.client("lambda")
    lam.create_function(FunctionName="runs", Runtime="python3.12", Handler="app.handler", Role=role, Timeout=30,
                        Code={"ZipFile": _zip({"app.py": "import os\ndef handler(event, context):\n"
                                                         "    return {'echo': event['x'], 'fn': os.environ['AWS_LAMBDA_FUNCTION_NAME']}\n"})})
    answer = lam.invoke(FunctionName="runs", Payload=json.dumps({"x": 7}))
    return "FunctionError" not in answer and json.loads(answer["Payload"].read()) == {"echo": 7, "fn": "runs"}


@scenario("sagemaker_pipelines.run_pipeline_executions")
def concurrent_starts_with_one_client_request_token_are_one_execution(aws: Aws) -> bool:
    """A submit retried while its first try is still in flight (the API's handlers run on many
    threads) starts one pipeline execution, as AWS's idempotency token promises."""
    from concurrent.futures import ThreadPoolExecutor

    name = "scenario-token"
    aws.client("sagemaker").create_pipeline(
        PipelineName=name, RoleArn=f"arn:aws:iam::{MANAGEMENT}:role/pipeline",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": []}))
    clients = [aws.client("sagemaker") for _ in range(8)]
    with ThreadPoolExecutor(len(clients)) as pool:
        arns = set(pool.map(lambda sm: sm.start_pipeline_execution(
            PipelineName=name, ClientRequestToken="token-0123456789abcdef0123456789")["PipelineExecutionArn"], clients))
    listed = clients[0].list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    return len(arns) == 1 and len(listed) == 1


@scenario("custom_resources.patch_custom_resources")
def a_custom_resource_is_what_its_function_answers_at_the_response_url(aws: Aws) -> bool:
    role = _role(aws, "custom-role")
    code = ("import cfnresponse\n"
            "def handler(event, context):\n"
            "    cfnresponse.send(event, context, cfnresponse.SUCCESS, {'Said': event['ResourceProperties']['Say']},"
            " 'custom-1')\n")
    template = {"Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "python3.12", "Handler": "index.handler",
                                                             "Role": role, "Timeout": 30, "Code": {"ZipFile": code}}},
        "Thing": {"Type": "Custom::Thing", "Properties": {"ServiceToken": {"Fn::GetAtt": ["Fn", "Arn"]}, "Say": "hi"}}},
        "Outputs": {"Said": {"Value": {"Fn::GetAtt": ["Thing", "Said"]}}, "Id": {"Value": {"Ref": "Thing"}}}}
    stack = aws.stack("custom", template)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return stack["StackStatus"] == "CREATE_COMPLETE" and outputs == {"Said": "hi", "Id": "custom-1"}


# -- services ------------------------------------------------------------------------------------

@scenario("organizations.add_delegated_admin_services")
def config_can_be_delegated(aws: Aws) -> bool:
    org = aws.organization()
    try:
        aws.client("organizations").register_delegated_administrator(
            AccountId=org["admin"], ServicePrincipal="config.amazonaws.com")
    except botocore.exceptions.ClientError:
        return False
    return True


@scenario("organizations.members_see_their_organization")
def a_delegated_administrator_lists_the_accounts_and_other_members_are_denied(aws: Aws) -> bool:
    org = aws.organization()
    client = aws.client("organizations")
    client.register_delegated_administrator(AccountId=org["admin"], ServicePrincipal="guardduty.amazonaws.com")
    listed = aws.client("organizations", org["admin"]).list_accounts()["Accounts"]
    try:
        aws.client("organizations", org["member"]).list_accounts()
        denied = False
    except botocore.exceptions.ClientError as exc:
        denied = exc.response["Error"]["Code"] == "AccessDeniedException"
    return len(listed) == 3 and denied


def _bucket_template(name: str, **props: Any) -> dict:
    return {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name, **props}}}}


@scenario("s3.bucket_properties_from_cloudformation")
def a_cfn_bucket_is_versioned_and_locked_as_declared(aws: Aws) -> bool:
    stack = aws.stack("charter-locked-bucket", _bucket_template(
        "charter-locked-scenario", VersioningConfiguration={"Status": "Enabled"}, ObjectLockEnabled=True,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                 "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 7}}}))
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    s3 = aws.client("s3")
    try:
        lock = s3.get_object_lock_configuration(Bucket="charter-locked-scenario")["ObjectLockConfiguration"]
    except botocore.exceptions.ClientError:
        return False
    try:  # an object written there takes the default retention
        s3.put_object(Bucket="charter-locked-scenario", Key="k", Body=b"x")
    except botocore.exceptions.ClientError:
        return False
    retention = lock["Rule"]["DefaultRetention"]
    return (s3.get_bucket_versioning(Bucket="charter-locked-scenario").get("Status") == "Enabled"
            and (retention["Mode"], retention["Days"]) == ("COMPLIANCE", 7))


@scenario("s3.bucket_properties_from_cloudformation")
def a_replication_rule_into_a_missing_bucket_fails_its_stack(aws: Aws) -> bool:
    """S3 checks PutBucketReplication's destination: it must exist (and be versioned), so the
    DR replica must be deployed before the bucket that replicates into it."""
    stack = aws.stack("charter-replicating-bucket", _bucket_template(
        "charter-replicating-scenario", VersioningConfiguration={"Status": "Enabled"},
        ReplicationConfiguration={"Role": "arn:aws:iam::123456789012:role/replication", "Rules": [{
            "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "Destination": {"Bucket": "arn:aws:s3:::charter-no-such-replica"}}]}))
    return stack["StackStatus"] in ("CREATE_FAILED", "ROLLBACK_COMPLETE")


@scenario("s3.patch_bucket_policy_conditions")
def a_tls_only_bucket_policy_lets_tls_requests_through(aws: Aws) -> bool:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="charter-tls-scenario")
    s3.put_bucket_policy(Bucket="charter-tls-scenario", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::charter-tls-scenario", "arn:aws:s3:::charter-tls-scenario/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    try:
        s3.put_object(Bucket="charter-tls-scenario", Key="k", Body=b"x")
    except botocore.exceptions.ClientError:
        return False
    return True


@scenario("ec2.add_ebs_default_kms_key_read")
def the_default_ebs_key_can_be_read(aws: Aws) -> bool:
    ec2 = aws.client("ec2")
    key = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    ec2.modify_ebs_default_kms_key_id(KmsKeyId=key)
    try:
        return ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == key
    except botocore.exceptions.ClientError:
        return False


@scenario("cloudtrail.organization_trails_in_member_accounts")
def a_member_account_sees_the_organization_trail_and_its_insights(aws: Aws) -> bool:
    org = aws.organization()
    aws.client("s3").create_bucket(Bucket="charter-org-trail-logs")
    trail = aws.client("cloudtrail").create_trail(Name="org-trail", S3BucketName="charter-org-trail-logs",
                                                  IsMultiRegionTrail=True, IsOrganizationTrail=True)
    aws.client("cloudtrail").put_insight_selectors(TrailName="org-trail",
                                                   InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    aws.client("cloudtrail").start_logging(Name="org-trail")
    member = aws.client("cloudtrail", org["member"], region="us-west-2")
    seen = [t for t in member.describe_trails(includeShadowTrails=True)["trailList"] if t["Name"] == "org-trail"]
    if not seen or not seen[0].get("HasInsightSelectors"):
        return False
    status = aws.client("cloudtrail", org["member"]).get_trail_status(Name=trail["TrailARN"])
    return status["IsLogging"] is True


def _unsupported_fast(aws: Aws) -> bool:
    try:
        aws.client("cloudformation").describe_organizations_access()
    except botocore.exceptions.ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return False


SCENARIOS["an_operation_moto_lacks_is_a_4xx_not_a_retried_5xx"] = ("app._guarded_app", _unsupported_fast)


@scenario("answers (config)")
def config_answers_the_compliance_of_its_rules(aws: Aws) -> bool:
    config = aws.client("config")
    config.put_config_rule(ConfigRule={"ConfigRuleName": "charter-s3-tls", "Source": {
        "Owner": "AWS", "SourceIdentifier": "S3_BUCKET_SSL_REQUESTS_ONLY"}})
    try:
        rows = config.describe_compliance_by_config_rule()["ComplianceByConfigRules"]
    except botocore.exceptions.ClientError:
        return False
    return [(r["ConfigRuleName"], r["Compliance"]["ComplianceType"]) for r in rows] == [
        ("charter-s3-tls", "INSUFFICIENT_DATA")]


@scenario("answers (backup region settings)")
def backup_region_settings_are_kept_per_type(aws: Aws) -> bool:
    """What the account-baseline custom resource sets: a partial map changes only its types."""
    backup = aws.client("backup")
    try:
        before = backup.describe_region_settings()["ResourceTypeManagementPreference"]
        backup.update_region_settings(ResourceTypeManagementPreference={"DynamoDB": True})
        backup.update_region_settings(ResourceTypeOptInPreference={"S3": True})
        after = backup.describe_region_settings()
    except botocore.exceptions.ClientError:
        return False
    return (before.get("DynamoDB") is False and after["ResourceTypeManagementPreference"]["DynamoDB"] is True
            and after["ResourceTypeOptInPreference"] == {"S3": True})


@scenario("answers (guardduty, backup)")
def guardduty_findings_and_backup_jobs_are_answered(aws: Aws) -> bool:
    gd = aws.client("guardduty")
    detector = gd.create_detector(Enable=True)["DetectorId"]
    try:
        return (gd.list_findings(DetectorId=detector)["FindingIds"] == []
                and aws.client("backup").list_backup_jobs()["BackupJobs"] == [])
    except botocore.exceptions.ClientError:
        return False


# -- the two servers -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def embedded() -> Iterator[Aws]:
    with LocalAws() as server:
        urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()
        yield Aws(server.endpoint_url)


@pytest.fixture(scope="module")
def plain() -> Iterator[Aws]:
    """The pinned moto, unpatched, as its own server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTO_")}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + PATIENCE_SECONDS
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "plain moto did not start"
                time.sleep(0.2)
        yield Aws(url)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_embedded_aws_behaves_as_aws(embedded: Aws, name: str) -> None:
    patch, observe = SCENARIOS[name]
    assert observe(embedded), f"{name}: the embedded AWS does not behave as AWS ({patch})"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_plain_moto_still_needs_the_patch(plain: Aws, name: str) -> None:
    patch, observe = SCENARIOS[name]
    try:
        holds = observe(plain)
    except Exception:  # noqa: BLE001 - plain moto failed the scenario outright (an error, an unparseable 500)
        holds = False
    assert not holds, f"{name}: plain moto now behaves as AWS; the patch {patch} may be deleted"


def _run_embedded_and_plain(script: str) -> dict[str, str]:
    """`script` run in a fresh interpreter with the argument "embedded" (the patches under
    test applied) and "plain" (moto as released): each run's standard output."""
    outputs = {}
    for kind in ("embedded", "plain"):
        done = subprocess.run([sys.executable, "-c", script, kind], capture_output=True, text=True,
                              timeout=PATIENCE_SECONDS, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs[kind] = done.stdout
    return outputs


_COUNT_POLICIES = """
import os, sys
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
if sys.argv[1] == "embedded":
    from charter.local import patches
    patches.apply()
from moto import mock_aws
from moto.iam import models
built = [0]
original = models.AWSManagedPolicy.from_data.__func__
def counted(cls, *args, **kwargs):
    built[0] += 1
    return original(cls, *args, **kwargs)
models.AWSManagedPolicy.from_data = classmethod(counted)
import boto3
with mock_aws():
    boto3.client("sts").get_caller_identity()
    boto3.client("iam").create_user(UserName="u")  # touches the account's IAM, asks for no policy
    print(built[0])
"""


def test_aws_managed_policies_are_built_when_an_account_asks_for_them() -> None:
    """iam.lazy_aws_managed_policies (a cost, not a wrong answer): plain moto builds the
    ~1,300 AWS-managed policies of an account the moment its IAM is touched (about a second
    per account of a landing zone); the embedded AWS builds them when the account first asks
    about policies (test_local_aws checks they are then there)."""
    counts = {}
    for kind, out in _run_embedded_and_plain(_COUNT_POLICIES).items():
        counts[kind] = int(out.split()[-1])
    assert counts["embedded"] == 0
    assert counts["plain"] > 1000, "plain moto builds them lazily now: iam.lazy_aws_managed_policies may go"


_COUNT_COSTS = """
import json, os, sys
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                  MOTO_IAM_LOAD_MANAGED_POLICIES="false")
if sys.argv[1] == "embedded":
    from charter.local import patches
    patches.apply()
import boto3, botocore.session, yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws
from moto.sqs.models import sqs_backends
counts = {"parse": 0, "rsa": 0, "regions": 0}
def counting(name, fn):
    def wrapper(*args, **kwargs):
        counts[name] += 1
        return fn(*args, **kwargs)
    return wrapper
yaml.load = counting("parse", yaml.load)
rsa.generate_private_key = counting("rsa", rsa.generate_private_key)
botocore.session.Session.get_available_regions = counting("regions", botocore.session.Session.get_available_regions)
template = json.dumps({"Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})
with mock_aws():
    cfn = boto3.client("cloudformation")
    for name in ("a", "b", "c"):  # one template, three stacks (as a StackSet's instances)
        cfn.create_stack(StackName=name, TemplateBody=template)
    key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]  # symmetric: never signs
    before = counts["regions"]
    for account in ("111111111111", "222222222222", "333333333333"):  # an organization's accounts
        sqs_backends[account]
    counts["regions"] -= before
print(json.dumps(counts))
"""


def test_the_costs_that_grow_with_the_organization_are_paid_once() -> None:
    """performance.* (costs, not wrong answers): plain moto parses one template once per
    stack, makes a 2048-bit RSA key for every KMS key (symmetric ones too) and asks botocore
    for a service's regions once per account; the embedded AWS parses each template text
    once, makes key material when a key first signs, and asks once per service."""
    counts = {}
    for kind, out in _run_embedded_and_plain(_COUNT_COSTS).items():
        counts[kind] = json.loads(out.splitlines()[-1])
    plain, embedded = counts["plain"], counts["embedded"]
    assert plain["parse"] >= 3, "plain moto parses each template text once: performance.parse_each_template_once may go"
    assert embedded["parse"] < plain["parse"]
    assert plain["rsa"] >= 1, "plain moto makes key material lazily: performance.make_kms_key_material_when_used may go"
    assert embedded["rsa"] == 0
    assert plain["regions"] >= 3, "plain moto asks once per service: performance.regions_once_per_service may go"
    assert embedded["regions"] < plain["regions"]


def test_a_kms_key_made_lazily_still_signs_and_verifies(embedded: Aws) -> None:
    kms = embedded.client("kms")
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=key, Message=b"evidence", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    assert kms.verify(KeyId=key, Message=b"evidence", Signature=signature,
                      SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["SignatureValid"]
    assert kms.get_public_key(KeyId=key)["PublicKey"]


_REQUEST_COSTS = """
import json, os, sys
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                  MOTO_IAM_LOAD_MANAGED_POLICIES="false")
if sys.argv[1] == "embedded":  # only the patches under test: any difference in answers is theirs
    from charter.local.patches import performance
    performance.per_request_costs()
import inspect
import boto3
from moto import mock_aws
from moto.core import base_backend, serialize
from moto.sts.models import sts_backends

counts = {"listed": 0, "locked": 0, "scanned": 0, "aliased": 0, "chosen": 0, "sized": 0, "got": 0, "members": 0,
          "parsed": 0, "lexed": 0}
from moto.core import parse
from moto.dynamodb import comparisons
def counting(cls, name, key):  # counts the calls of one of moto's methods
    original = cls.__dict__[name]
    def counted(*args, **kwargs):
        counts[key] += 1
        return original(*args, **kwargs)
    setattr(cls, name, counted)
counting(serialize.ResponseSerializer, "_serialize_structure_member", "members")  # one per member of an answer
counting(parse.RequestParser, "_parse_shape", "parsed")  # one per value of a request
counting(comparisons.ConditionExpressionParser, "_lex_condition_expression", "lexed")  # one per expression parsed
getter = serialize.get_value
def counting_getter(*args, **kwargs):  # moto's generic getter, asked for each name a member may have
    counts["got"] += 1
    return getter(*args, **kwargs)
serialize.get_value = counting_getter
from moto.moto_api._internal.moto_random import MotoRandom
choice = MotoRandom.choice
def counting_choice(self, seq):
    counts["chosen"] += 1
    return choice(self, seq)
MotoRandom.choice = counting_choice
from moto.dynamodb.models.dynamo_type import DynamoType
size = DynamoType.size
def counting_size(self):
    counts["sized"] += 1
    return size(self)
DynamoType.size = counting_size
def counting_alias(self, context):  # moto's serializer makes one alias provider per name it may have
    counts["aliased"] += 1
    self.context = context
serialize.AttributeAliasProvider.__init__ = counting_alias
getmembers = inspect.getmembers
def counting_getmembers(*args, **kwargs):
    counts["listed"] += 1
    return getmembers(*args, **kwargs)
inspect.getmembers = counting_getmembers
class CountingLock:  # moto's process-wide backend lock, counted
    def __init__(self, lock):
        self.lock = lock
    def __enter__(self):
        counts["locked"] += 1
        return self.lock.__enter__()
    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)
base_backend.backend_lock = CountingLock(base_backend.backend_lock)
class CountingList(list):  # an account's role sessions; counts the sessions a scan looks at
    def __iter__(self):
        for item in list.__iter__(self):
            counts["scanned"] += 1
            yield item

def plain(answer):
    answer.pop("ResponseMetadata", None)
    return json.loads(json.dumps(answer, default=str))

from moto.moto_api._internal import mock_random
mock_random.seed(7)  # the same ids in both runs: a patched draw must draw what moto draws
answers = []
with mock_aws():
    ddb, s3, sts = boto3.client("dynamodb"), boto3.client("s3"), boto3.client("sts")
    iam = boto3.client("iam")
    ddb.create_table(TableName="jobs", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                           {"AttributeName": "at", "AttributeType": "N"}])
    s3.create_bucket(Bucket="prices")
    role = iam.create_role(RoleName="worker", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sessions = [sts.assume_role(RoleArn=role, RoleSessionName=f"s{i}")["Credentials"] for i in range(20)]
    backend = sts_backends["123456789012"]["aws"]
    backend.assumed_roles = CountingList(backend.assumed_roles)
    for key in ("a", "b", "c"):  # warm: every account and region backend exists from here on
        ddb.put_item(TableName="jobs", Item={"id": {"S": key}, "at": {"N": "1"}})
    counts.update(listed=0, locked=0, scanned=0, aliased=0, chosen=0, sized=0, got=0, members=0, parsed=0, lexed=0)
    requests = 0
    for i in range(10):
        # every kind of attribute value (a binary one only in some: moto's parser and
        # serializer convert it), under a condition that holds, as the job store writes
        rich = {"tags": {"SS": ["a", f"t{i}"]}, "sizes": {"NS": ["1", str(i)]}, "ok": {"BOOL": i % 2 == 0},
                "gone": {"NULL": True}, "steps": {"L": [{"S": "x"}, {"N": "2"}, {"M": {"deep": {"L": [{"BOOL": False}]}}}]},
                **({"raw": {"B": bytes([i, 0, 255])}} if i % 3 == 0 else {})}
        answers.append(plain(ddb.put_item(TableName="jobs", Item={"id": {"S": "job"}, "at": {"N": str(i)},
                                                                  "spec": {"M": {"n": {"N": str(i)}}}, **rich},
                                          ConditionExpression="attribute_not_exists(#s) OR #s <> :gone",
                                          ExpressionAttributeNames={"#s": "state"},
                                          ExpressionAttributeValues={":gone": {"S": "gone"}},
                                          ReturnValues="ALL_OLD")))
        answers.append(plain(ddb.get_item(TableName="jobs", Key={"id": {"S": "job"}, "at": {"N": str(i)}})))
        answers.append(plain(ddb.update_item(TableName="jobs", Key={"id": {"S": "job"}, "at": {"N": str(i)}},
                                             UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "state"},
                                             ExpressionAttributeValues={":s": {"S": "done"}}, ReturnValues="ALL_NEW")))
        answers.append(plain(ddb.query(TableName="jobs", KeyConditionExpression="id = :id",
                                       ExpressionAttributeValues={":id": {"S": "job"}})))
        s3.put_object(Bucket="prices", Key=f"day/{i}.json", Body=json.dumps({"i": i}).encode())
        got = s3.get_object(Bucket="prices", Key=f"day/{i}.json")
        answers.append([got["Body"].read().decode(), got["ETag"], got["ContentLength"]])
        requests += 6  # four through moto's call_action (DynamoDB), two through S3's own dispatch
    try:
        boto3.client("dynamodb").get_item(TableName="missing", Key={"id": {"S": "x"}})
    except Exception as exc:
        answers.append(str(exc))
    for _ in range(2):  # a condition that fails, and one moto cannot parse: the same error each time
        for condition in ("attribute_not_exists(id)", "attribute_not_exists(id"):
            try:
                ddb.put_item(TableName="jobs", Item={"id": {"S": "job"}, "at": {"N": "0"}}, ConditionExpression=condition)
            except Exception as exc:
                answers.append(str(exc))
    logs = boto3.client("logs")  # JSON answers with integers (and moto's own model objects)
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[{"timestamp": 1000 + i, "message": f"m{i}"}
                                                                         for i in range(3)])
    groups = plain(logs.describe_log_groups())["logGroups"]
    answers.append([{k: v for k, v in g.items() if k != "creationTime"} for g in groups])  # (the clock's)
    events = plain(logs.get_log_events(logGroupName="g", logStreamName="s"))["events"]
    answers.append([{k: v for k, v in e.items() if k != "ingestionTime"} for e in events])
    wide = {f"a{n}": {"S": "v" * n} for n in range(40)}  # moto re-measures the item per attribute
    sized = counts["sized"]
    ddb.put_item(TableName="jobs", Item={"id": {"S": "wide"}, "at": {"N": "0"}, **wide})
    counts["sized_wide"] = counts["sized"] - sized
    answers.append(plain(ddb.get_item(TableName="jobs", Key={"id": {"S": "wide"}, "at": {"N": "0"}})))
    for parts in (4, 5):  # 4 x 100 KB fits DynamoDB's 400 KB (as moto counts it); 5 do not
        try:
            ddb.put_item(TableName="jobs", Item={"id": {"S": f"big{parts}"}, "at": {"N": "0"},
                                                 **{f"p{n}": {"S": "x" * 100_000} for n in range(parts)}})
            answers.append(plain(ddb.get_item(TableName="jobs", Key={"id": {"S": f"big{parts}"}, "at": {"N": "0"}},
                                              ProjectionExpression="id")))
        except Exception as exc:
            answers.append(f"big{parts}: {exc}")
    # whose session each key is (an unknown key: none), as the permission check asks
    for creds in sessions:
        found = backend.get_assumed_role_from_access_key(creds["AccessKeyId"])
        answers.append(found.session_name if found else None)
    unknown = [backend.get_assumed_role_from_access_key("AKIAUNKNOWN000000000") for _ in range(10)]
    answers.append(unknown)
    later = sts.assume_role(RoleArn=role, RoleSessionName="later")["Credentials"]["AccessKeyId"]
    answers.append(backend.get_assumed_role_from_access_key(later).session_name)
    # an answer with response transformers (CloudFormation's), of model objects and dicts
    cfn = boto3.client("cloudformation")
    cfn.create_stack(StackName="s", Parameters=[{"ParameterKey": "P", "ParameterValue": "v"}], Tags=[
        {"Key": "k", "Value": "v"}], TemplateBody=json.dumps({"Parameters": {"P": {"Type": "String"}}, "Resources": {
            "H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}, "Outputs": {"O": {"Value": {"Ref": "P"}}}}))
    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    answers.append({k: stack.get(k) for k in ("StackId", "Parameters", "Outputs", "Tags", "StackStatus")})
    # a reset (moto-api/reset) empties the backends: the next request gets a fresh account
    base_backend.BackendDict.reset()
    answers.append(plain(boto3.client("dynamodb").list_tables()))
print(json.dumps({"counts": counts, "requests": requests, "answers": answers}))
"""


def test_a_request_does_not_pay_for_what_moto_already_knows() -> None:
    """performance.find_actions_without_listing_the_class, account_backends_without_the_global_lock,
    assumed_role_sessions_by_key, pick_attributes_by_remembered_keys, pick_dict_members_directly,
    request_ids_from_the_same_random_stream, dynamodb_items_sized_once,
    copy_json_answers_already_in_wire_form, parse_json_requests_already_in_model_form and
    parse_each_condition_expression_once (costs, not wrong answers): for every request
    plain moto lists its response class's methods, takes its
    process-wide lock to find an account it already holds, makes six alias providers and
    calls a generic getter for every member of its answer, calls `choice` 52 times for its
    request id, re-measures a new DynamoDB item per attribute, rebuilds every JSON request and
    answer value by value through the shape, and parses each condition expression again,
    and the permission check scans every role session the account ever started; the
    embedded AWS does none of that, and every answer (DynamoDB with every kind of attribute
    value, binary ones included, S3, CloudWatch Logs, CloudFormation with its response
    transformers and seeded ids, the session behind each key, an error, a failed and an
    unparseable condition, a too-large item, a reset) is the same."""
    runs = {}
    for kind, out in _run_embedded_and_plain(_REQUEST_COSTS).items():
        runs[kind] = json.loads(out.splitlines()[-1])
    plain, embedded = runs["plain"], runs["embedded"]
    assert embedded["answers"] == plain["answers"]
    assert embedded["answers"][-3] == "later" and embedded["answers"][-4] == [None] * 10
    assert plain["counts"]["listed"] >= plain["requests"] * 4 // 6, \
        "plain moto no longer lists the class per request: performance.find_actions_without_listing_the_class may go"
    assert embedded["counts"]["listed"] == 0
    assert plain["counts"]["locked"] >= plain["requests"], \
        "plain moto no longer locks per lookup: performance.account_backends_without_the_global_lock may go"
    assert embedded["counts"]["locked"] < plain["counts"]["locked"] / 10
    assert plain["counts"]["scanned"] >= 10 * 20, \
        "plain moto finds sessions without a scan: performance.assumed_role_sessions_by_key may go"
    assert embedded["counts"]["scanned"] == 0
    assert plain["counts"]["aliased"] >= 1000, \
        "plain moto no longer asks aliases per member: performance.pick_attributes_by_remembered_keys may go"
    assert embedded["counts"]["aliased"] < plain["counts"]["aliased"] / 10
    assert plain["counts"]["chosen"] >= 52 * plain["requests"], \
        "plain moto no longer draws request ids by choice: performance.request_ids_from_the_same_random_stream may go"
    assert embedded["counts"]["chosen"] < plain["counts"]["chosen"] / 10
    big = [a for a in embedded["answers"] if isinstance(a, str) and a.startswith("big")]
    assert len(big) == 1 and big[0].startswith("big5") and "Item size has exceeded" in big[0]
    assert plain["counts"]["got"] >= 1000, \
        "plain moto no longer looks members up generically: performance.pick_dict_members_directly may go"
    assert embedded["counts"]["got"] < plain["counts"]["got"] / 10
    assert plain["counts"]["sized_wide"] >= 40 * 41 / 2, \
        "plain moto measures a new item once: performance.dynamodb_items_sized_once may go"
    assert embedded["counts"]["sized_wide"] <= 42 + 2  # each attribute once (and the key's own checks)
    assert plain["counts"]["members"] >= 1000, \
        "plain moto no longer serializes member by member: performance.copy_json_answers_already_in_wire_form may go"
    assert embedded["counts"]["members"] < plain["counts"]["members"] / 2
    assert plain["counts"]["parsed"] >= 1000, \
        "plain moto no longer parses value by value: performance.parse_json_requests_already_in_model_form may go"
    assert embedded["counts"]["parsed"] < plain["counts"]["parsed"] / 2
    assert plain["counts"]["lexed"] >= 10 + 4, \
        "plain moto no longer parses every condition: performance.parse_each_condition_expression_once may go"
    assert embedded["counts"]["lexed"] <= 2 + 2  # each distinct expression once, the unparseable one each time


def test_a_seeded_embedded_aws_draws_the_ids_moto_draws() -> None:
    """performance.random_string draws what moto's get_random_string draws from the same
    seed (moto's definition, verbatim below), and leaves the stream where moto leaves it."""
    import string

    from moto.moto_api._internal.moto_random import MotoRandom

    from charter.local.patches.performance import random_string

    def motos(rng: MotoRandom, length: int, digits: bool, lower: bool) -> str:
        pool = string.ascii_letters + (string.digits if digits else "")
        text = "".join([rng.choice(pool) for _ in range(length)])
        return text.lower() if lower else text

    for seed in (0, 1, 42, 2**40):
        theirs, ours = MotoRandom(seed), MotoRandom(seed)
        for length in (0, 1, 8, 20, 52, 300):
            for digits in (True, False):
                for lower in (True, False):
                    assert random_string(ours, length, digits, lower) == motos(theirs, length, digits, lower)
        assert ours.uuid4() == theirs.uuid4() and ours.get_random_hex(12) == theirs.get_random_hex(12)


def test_an_action_is_found_exactly_when_moto_would_list_it() -> None:
    """The per-name answer of performance.find_actions_without_listing_the_class is moto's
    list's membership, for every name of every response class (methods, attributes,
    inherited, dunder) and for names no class has."""
    import importlib
    import inspect

    from moto.core.responses import BaseResponse

    from charter.local.patches.performance import _FunctionNames

    for service in ("dynamodb", "s3", "sagemaker", "sts", "iam", "awslambda", "cloudformation", "organizations"):
        importlib.import_module(f"moto.{service}.responses")
    classes = _subclasses(BaseResponse)
    assert len(classes) >= 8
    for cls in classes:
        listed = {name for name, _ in inspect.getmembers(cls, inspect.isfunction)}
        names = _FunctionNames(cls)
        for name in [*dir(cls), "not_an_action", "put_item_", "", "Meta"]:
            assert (name in names) == (name in listed), (cls, name)
        assert set(names) == listed


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


class _CountedPattern:
    def __init__(self, pattern: Any, counter: list[int]) -> None:
        self.pattern, self.counter = pattern, counter

    def match(self, text: str) -> Any:
        self.counter[0] += 1
        return self.pattern.match(text)


def test_the_dispatcher_matches_each_host_against_moto_s_patterns_once() -> None:
    """app._guarded_app's dispatcher (a cost, not a wrong answer): plain moto matches a
    request's host against its services' URL patterns one by one on every request; the
    embedded AWS's dispatcher does it once per host and finds the same backend."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from charter.local.app import _guarded_app

    ours, theirs = _guarded_app().dispatcher, DomainDispatcherApplication(create_backend_app)
    counts = {"ours": [0], "theirs": [0]}
    for name, dispatcher in (("ours", ours), ("theirs", theirs)):
        dispatcher.backend_url_patterns = [(backend, _CountedPattern(pattern, counts[name]))
                                           for backend, pattern in dispatcher.backend_url_patterns]
    hosts = [f"{service}.us-east-1.amazonaws.com" for service in
             ("s3", "dynamodb", "sagemaker", "sts", "iam", "lambda", "events", "states", "nothing")]
    hosts += ["bucket.s3.amazonaws.com", "s3.amazonaws.com", "localhost:5000", "example.com", "moto_api", "s3"]
    for _ in range(3):
        for host in hosts:
            assert ours.get_backend_for_host(host) == theirs.get_backend_for_host(host), host
    assert ours.get_backend_for_host("s3.us-east-1.amazonaws.com") == "s3"
    assert 0 < counts["ours"][0] <= counts["theirs"][0] / 3, \
        "plain moto matches each host once: the dispatcher's host memory in app._guarded_app may go"
