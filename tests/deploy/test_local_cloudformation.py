"""The embedded AWS's CloudFormation behaves as AWS's where Charter's templates depend on it
(`charter.local`): StackSet instances get the StackSet's parameters with their overrides and
are updated by UpdateStackInstances / UpdateStackSet, an Output with a false Condition has no
export, Fn::Cidr, Lambda version attributes, a failing resource rolls its stack back, and the
workload stacks' resource types are created through the services' APIs."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest
from aws_testkit import operation

from charter.aws import SessionFactory
from charter.local import LocalAws
from charter.naming import MEMBER_ACCESS_ROLE

pytestmark = pytest.mark.e2e  # every test here uses the embedded AWS

REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws() -> Iterator[SessionFactory]:
    with LocalAws(region=REGION) as server:
        # moto's backends live in the process: start from an empty AWS whatever ran before
        urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()
        yield server.sessions()


@pytest.fixture(scope="module")
def org(aws: SessionFactory) -> dict[str, str]:
    client = aws.client("organizations")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    ou = client.create_organizational_unit(ParentId=root, Name="Workloads")["OrganizationalUnit"]["Id"]
    status = client.create_account(Email="dev@example.com", AccountName="dev")["CreateAccountStatus"]
    account = client.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"][
        "AccountId"]
    client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
    return {"ou": ou, "account": account}


def member(aws: SessionFactory, org: dict[str, str], service: str) -> Any:
    return aws.client(service, region=REGION, account_id=org["account"], role_name=MEMBER_ACCESS_ROLE)


def _network(extra: dict | None = None) -> str:
    """A network StackSet's shape: the VPC only when the account's override gives a CIDR."""
    resources = {
        "Marker": {"Type": "AWS::S3::Bucket"},
        "Vpc": {"Type": "AWS::EC2::VPC", "Condition": "HasVpc", "Properties": {"CidrBlock": {"Ref": "VpcCidr"}}},
        "EdgeSubnet": {"Type": "AWS::EC2::Subnet", "Condition": "HasVpc", "Properties": {
            "VpcId": {"Ref": "Vpc"},
            "CidrBlock": {"Fn::Select": [24, {"Fn::Cidr": [{"Ref": "VpcCidr"}, 32, {"Ref": "EdgeBits"}]}]}}},
        **(extra or {}),
    }
    return json.dumps({
        "Parameters": {"VpcCidr": {"Type": "String", "Default": ""}, "EdgeBits": {"Type": "String", "Default": "11"}},
        "Conditions": {"HasVpc": {"Fn::Not": [{"Fn::Equals": [{"Ref": "VpcCidr"}, ""]}]}},
        "Resources": resources,
        "Outputs": {"VpcId": {"Condition": "HasVpc", "Value": {"Ref": "Vpc"}, "Export": {"Name": "test-vpc-id"}},
                    "MarkerName": {"Value": {"Ref": "Marker"}}},
    })


IMPORTER = json.dumps({"Resources": {"Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
    "GroupDescription": "in the landing zone's VPC", "VpcId": {"Fn::ImportValue": "test-vpc-id"}}}}})


def _instance_stack(cfn: Any, stackset: str) -> dict[str, Any]:
    return next(s for s in cfn.describe_stacks()["Stacks"] if s["StackName"].startswith(f"StackSet-{stackset}-"))


def test_stackset_override_creates_the_vpc_and_its_export_is_importable_in_the_account(
        aws: SessionFactory, org: dict[str, str]) -> None:
    cfn = aws.client("cloudformation")
    cfn.create_stack_set(StackSetName="net", TemplateBody=_network(), PermissionModel="SERVICE_MANAGED",
                         AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False})
    operation(cfn, "net", cfn.create_stack_instances(StackSetName="net", Regions=[REGION],
                                                     DeploymentTargets={"OrganizationalUnitIds": [org["ou"]]}))
    mcfn, ec2 = member(aws, org, "cloudformation"), member(aws, org, "ec2")
    marker = {o["OutputKey"]: o["OutputValue"] for o in _instance_stack(mcfn, "net")["Outputs"]}["MarkerName"]

    # StackSet defaults: no VPC, so no export (an Output whose Condition is false does not
    # exist on AWS), and an import of it fails the CreateStack call, as on AWS
    assert "test-vpc-id" not in {e["Name"] for e in mcfn.list_exports()["Exports"]}
    with pytest.raises(botocore.exceptions.ClientError, match="No export named test-vpc-id"):
        mcfn.create_stack(StackName="importer", TemplateBody=IMPORTER)

    # the account's override, addressed the only way a service-managed StackSet allows
    operation(cfn, "net", cfn.update_stack_instances(StackSetName="net", Regions=[REGION], ParameterOverrides=[
        {"ParameterKey": "VpcCidr", "ParameterValue": "10.30.0.0/16"}], DeploymentTargets={
        "OrganizationalUnitIds": [org["ou"]], "Accounts": [org["account"]], "AccountFilterType": "INTERSECTION"}))
    instance = cfn.describe_stack_instance(StackSetName="net", StackInstanceAccount=org["account"],
                                           StackInstanceRegion=REGION)["StackInstance"]
    assert instance["Status"] == "CURRENT"
    assert instance["ParameterOverrides"] == [{"ParameterKey": "VpcCidr", "ParameterValue": "10.30.0.0/16"}]
    vpc = next(v for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.30.0.0/16")
    # Fn::Cidr as AWS computes it: the 25th /21 of the /16 (the plan's first edge subnet)
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    assert [s["CidrBlock"] for s in subnets] == ["10.30.192.0/21"]
    exports = {e["Name"]: e for e in mcfn.list_exports()["Exports"]}
    assert exports["test-vpc-id"]["Value"] == vpc["VpcId"]
    assert "/StackSet-net-" in exports["test-vpc-id"]["ExportingStackId"]
    stack = _instance_stack(mcfn, "net")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["MarkerName"] == marker  # kept, not made anew

    mcfn.create_stack(StackName="importer", TemplateBody=IMPORTER)
    assert mcfn.describe_stacks(StackName="importer")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    sg = mcfn.describe_stack_resource(StackName="importer", LogicalResourceId="Sg")["StackResourceDetail"]
    assert ec2.describe_security_groups(GroupIds=[sg["PhysicalResourceId"]])["SecurityGroups"][0]["VpcId"] == \
        vpc["VpcId"]

    # UpdateStackSet without targets updates every instance: unchanged resources stay, new
    # ones are made, the override stays
    operation(cfn, "net", cfn.update_stack_set(StackSetName="net",
                                               TemplateBody=_network({"Extra": {"Type": "AWS::S3::Bucket"}})))
    after = _instance_stack(mcfn, "net")
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for r in mcfn.describe_stack_resources(StackName=after["StackName"])["StackResources"]}
    assert resources["Vpc"] == vpc["VpcId"] and resources["Marker"] == marker and "Extra" in resources
    assert resources["EdgeSubnet"] == subnets[0]["SubnetId"]  # references only kept resources: kept too
    s3 = member(aws, org, "s3")
    assert {marker, resources["Extra"]} <= {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert mcfn.list_exports()["Exports"][0]["Value"] == vpc["VpcId"]


def test_lambda_version_attributes_feed_an_alias(aws: SessionFactory) -> None:
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="fn", TemplateBody=json.dumps({"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}}},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "FunctionName": "versioned", "Runtime": "python3.12", "Handler": "index.handler",
            "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": {"ZipFile": "def handler(e, c):\n    return 1\n"}}},
        "Version": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
        "Alias": {"Type": "AWS::Lambda::Alias", "Properties": {
            "FunctionName": {"Ref": "Fn"}, "Name": "live", "FunctionVersion": {"Fn::GetAtt": ["Version", "Version"]}}},
    }, "Outputs": {"VersionArn": {"Value": {"Ref": "Version"}}}}))
    stack = cfn.describe_stacks(StackName="fn")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    alias = aws.client("lambda").get_alias(FunctionName="versioned", Name="live")
    assert alias["FunctionVersion"] == "1"
    assert stack["Outputs"][0]["OutputValue"].endswith(":function:versioned:1")


def test_a_resource_that_cannot_be_created_rolls_its_stack_back(aws: SessionFactory) -> None:
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="broken", TemplateBody=json.dumps({"Resources": {
        "Logs": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "rolled-back-bucket"}},
        # a collection needs an encryption policy naming it first: AWS (and moto) refuse it
        "Collection": {"Type": "AWS::OpenSearchServerless::Collection", "DependsOn": "Logs",
                       "Properties": {"Name": "orphan", "Type": "VECTORSEARCH"}},
    }}))
    assert cfn.describe_stacks(StackName="broken")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [e for e in cfn.describe_stack_events(StackName="broken")["StackEvents"]
              if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Collection"]
    assert "encryption" in failed[0]["ResourceStatusReason"]
    assert "rolled-back-bucket" not in {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}


def test_workload_resource_types_are_made_through_their_services(aws: SessionFactory) -> None:
    policy = {"Rules": [{"ResourceType": "collection", "Resource": ["collection/research"]}], "AWSOwnedKey": True}
    network = [{"Rules": [{"ResourceType": "collection", "Resource": ["collection/research"]}],
                "AllowFromPublic": False, "SourceServices": ["bedrock.amazonaws.com"]}]
    template = {"Resources": {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "optimizer"}},
        "Health": {"Type": "AWS::ApiGateway::Resource", "Properties": {
            "RestApiId": {"Ref": "Api"}, "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]}, "PathPart": "health"}},
        "HealthGet": {"Type": "AWS::ApiGateway::Method", "Properties": {
            "RestApiId": {"Ref": "Api"}, "ResourceId": {"Ref": "Health"}, "HttpMethod": "GET",
            "AuthorizationType": "NONE",
            "Integration": {"Type": "MOCK", "RequestTemplates": {"application/json": '{"statusCode": 200}'},
                            "IntegrationResponses": [{"StatusCode": "200", "ResponseTemplates": {
                                "application/json": '{"status":"ok"}'}}]},
            "MethodResponses": [{"StatusCode": "200"}]}},
        "Users": {"Type": "AWS::Cognito::UserPool", "Properties": {"UserPoolName": "optimizer-users",
                                                                    "MfaConfiguration": "ON"}},
        "Acl": {"Type": "AWS::WAFv2::WebACL", "Properties": {
            "Name": "optimizer-acl", "Scope": "REGIONAL", "DefaultAction": {"Allow": {}},
            "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
                                 "MetricName": "acl"}, "Rules": []}},
        "Encryption": {"Type": "AWS::OpenSearchServerless::SecurityPolicy", "Properties": {
            "Name": "research-enc", "Type": "encryption", "Policy": json.dumps(policy)}},
        "Network": {"Type": "AWS::OpenSearchServerless::SecurityPolicy", "Properties": {
            "Name": "research-net", "Type": "network", "Policy": json.dumps(network)}},
        "Collection": {"Type": "AWS::OpenSearchServerless::Collection", "DependsOn": ["Encryption", "Network"],
                       "Properties": {"Name": "research", "Type": "VECTORSEARCH"}},
        "Agent": {"Type": "AWS::Bedrock::Agent", "Properties": {
            "AgentName": "strategist", "AgentResourceRoleArn": "arn:aws:iam::123456789012:role/agent",
            "FoundationModel": "anthropic.claude-3-haiku-20240307-v1:0", "Instruction": "x" * 40}},
        "Oac": {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {"OriginAccessControlConfig": {
            "Name": "results", "OriginAccessControlOriginType": "s3", "SigningBehavior": "always",
            "SigningProtocol": "sigv4"}}},
        "Cdn": {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {
            "Enabled": True, "Comment": "results",
            "Origins": [{"Id": "results", "DomainName": "results.s3.us-east-1.amazonaws.com",
                         "S3OriginConfig": {}, "OriginAccessControlId": {"Fn::GetAtt": ["Oac", "Id"]}}],
            "DefaultCacheBehavior": {"TargetOriginId": "results", "ViewerProtocolPolicy": "redirect-to-https",
                                     "AllowedMethods": ["GET", "HEAD", "OPTIONS"]},
            "ViewerCertificate": {"CloudFrontDefaultCertificate": True}}}},
    }, "Outputs": {
        "UserPoolArn": {"Value": {"Fn::GetAtt": ["Users", "Arn"]}},
        "Issuer": {"Value": {"Fn::GetAtt": ["Users", "ProviderName"]}},
        "AclArn": {"Value": {"Fn::GetAtt": ["Acl", "Arn"]}},
        "Endpoint": {"Value": {"Fn::GetAtt": ["Collection", "CollectionEndpoint"]}},
        "AgentId": {"Value": {"Fn::GetAtt": ["Agent", "AgentId"]}},
        "CdnDomain": {"Value": {"Fn::GetAtt": ["Cdn", "DomainName"]}},
    }}
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="workload-types", TemplateBody=json.dumps(template))
    stack = cfn.describe_stacks(StackName="workload-types")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    resources = {r["LogicalResourceId"]: r.get("PhysicalResourceId")
                 for r in cfn.describe_stack_resources(StackName="workload-types")["StackResources"]}
    integration = aws.client("apigateway").get_integration(restApiId=resources["Api"], resourceId=resources["Health"],
                                                           httpMethod="GET")
    assert integration["type"] == "MOCK" and "200" in integration["integrationResponses"]
    pool_id = out["UserPoolArn"].split("/")[-1]
    assert aws.client("cognito-idp").describe_user_pool(UserPoolId=pool_id)["UserPool"]["Name"] == "optimizer-users"
    assert out["Issuer"] == f"cognito-idp.{REGION}.amazonaws.com/{pool_id}"
    acl_id = out["AclArn"].split("/")[-1]
    assert aws.client("wafv2").get_web_acl(Name="optimizer-acl", Scope="REGIONAL", Id=acl_id)["WebACL"]["ARN"] == \
        out["AclArn"]
    collections = aws.client("opensearchserverless").batch_get_collection(names=["research"])["collectionDetails"]
    assert [c["collectionEndpoint"] for c in collections] == [out["Endpoint"]]
    assert aws.client("bedrock-agent").get_agent(agentId=out["AgentId"])["agent"]["agentName"] == "strategist"
    dist = aws.client("cloudfront").get_distribution(Id=resources["Cdn"])["Distribution"]
    assert dist["DomainName"] == out["CdnDomain"]
    origin = dist["DistributionConfig"]["Origins"]["Items"][0]
    assert (origin["Id"], origin["DomainName"]) == ("results", "results.s3.us-east-1.amazonaws.com")
    assert aws.client("cloudfront").get_origin_access_control(Id=resources["Oac"])["OriginAccessControl"][
        "OriginAccessControlConfig"]["Name"] == "results"
