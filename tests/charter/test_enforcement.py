"""The embedded AWS refuses what AWS refuses: each lockout class preflight names is also
answered AccessDenied by the embedded AWS, and plain moto (enforcement off) serves it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from charter.aws import SessionFactory
from charter.landing_zone.config import load_config
from charter.local import LOCAL_MANAGEMENT_ACCOUNT, LocalAws, enforcement
from charter.naming import MEMBER_ACCESS_ROLE
from charter.policy.cfn import resolve

pytestmark = pytest.mark.e2e  # every test runs against the embedded AWS

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
pytestmark = pytest.mark.e2e  # the embedded AWS, with permissions enforced

pytestmark = pytest.mark.e2e  # every test runs against the embedded AWS


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws() as server:
        yield server


@pytest.fixture
def sessions(aws: LocalAws) -> Iterator[SessionFactory]:
    urllib.request.urlopen(urllib.request.Request(f"{aws.endpoint_url}/moto-api/reset", method="POST")).read()
    enforcement.enable(True)
    yield aws.sessions()
    enforcement.enable(True)


@pytest.fixture(scope="module")
def small():
    return load_config(REPO / "examples" / "small" / "org.yaml")


_ORG: dict[str, str] = {}


def organization(sessions: SessionFactory) -> tuple[str, str]:
    """(root id, member account id) of a new organization with one member account."""
    org = sessions.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    _ORG["id"] = org.describe_organization()["Organization"]["Id"]
    member = org.create_account(Email="member@example.com", AccountName="member")["CreateAccountStatus"]["AccountId"]
    return root, member


def attach_scp(sessions: SessionFactory, target: str, document: dict[str, Any], name: str = "guardrails") -> None:
    org = sessions.client("organizations")
    policy = org.create_policy(Name=name, Description="test", Type="SERVICE_CONTROL_POLICY",
                               Content=json.dumps(document))["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=policy, TargetId=target)


def charter_scp(cfg, monkeypatch: pytest.MonkeyPatch | None = None, drop: str | None = None) -> dict[str, Any]:
    """Charter's guardrail statements for `cfg` as one document, optionally without the
    exemption of the role `drop`."""
    from charter.landing_zone.scp import exemptions
    from charter.landing_zone.scp.packing import collect_statements

    if drop and monkeypatch:
        original = exemptions.charter_principals
        monkeypatch.setattr(exemptions, "charter_principals",
                            lambda c: [p for p in original(c) if not p.role.startswith(drop)])
    statements = [s.body for s in collect_statements(cfg) if s.control != "ORG-05"]
    return {"Version": "2012-10-17", "Statement": statements}


def member(sessions: SessionFactory, service: str, account: str, role: str = MEMBER_ACCESS_ROLE) -> Any:
    return sessions.client(service, region=REGION, account_id=account, role_name=role)


def denied(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    err = exc.value.response["Error"]
    assert err["Code"].startswith("AccessDenied"), err
    return err["Message"]


def lambda_s3control(sessions: SessionFactory, account: str, role: str) -> Any:
    """An s3control client with the credentials Lambda gets for `role` (the embedded AWS is
    one host: s3control's `<account>.` host prefix is folded back)."""
    from urllib.parse import urlsplit, urlunsplit

    import boto3

    key, secret, token = enforcement.service_credentials(account, f"arn:aws:iam::{account}:role/{role}",
                                                         "lambda.amazonaws.com", REGION)
    client = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token).client(
        "s3control", region_name=REGION, endpoint_url=sessions.endpoint_url)
    netloc = urlsplit(sessions.endpoint_url).netloc

    def single_host(request, **_):  # type: ignore[no-untyped-def]
        parts = urlsplit(request.url)
        if parts.netloc.endswith("." + netloc):
            request.url = urlunsplit(parts._replace(netloc=netloc))

    client.meta.events.register("before-send", single_host)
    return client


def template_role(template, logical: str, account: str) -> dict[str, Any]:
    """A role's properties from a synthesized template, resolved for `account`."""
    data = template.to_dict()
    params = {"AWS::AccountId": account, "AWS::Region": REGION, "AWS::Partition": "aws",
              "ManagementAccountId": LOCAL_MANAGEMENT_ACCOUNT, "AuditAccountId": account,
              "OrganizationId": _ORG.get("id", "o-exampleorgid")}
    return resolve(data["Resources"][logical]["Properties"], params)


def create_role(iam: Any, props: dict[str, Any], trust: dict[str, Any] | None = None) -> None:
    iam.create_role(RoleName=props["RoleName"], AssumeRolePolicyDocument=json.dumps(
        trust or props["AssumeRolePolicyDocument"]))
    for p in props.get("Policies", []):
        iam.put_role_policy(RoleName=props["RoleName"], PolicyName=p["PolicyName"],
                            PolicyDocument=json.dumps(p["PolicyDocument"]))
    for arn in props.get("ManagedPolicyArns", []):
        iam.attach_role_policy(RoleName=props["RoleName"], PolicyArn=arn)


# -- 1. an SCP statement without the custom resource's exemption ------------------------------

def test_account_baseline_role_refused_by_an_scp_without_its_exemption(sessions, small, monkeypatch) -> None:
    from charter.landing_zone.builders.account_baseline import template

    root, account = organization(sessions)
    role = template_role(template(small), "BaselineFunctionRole", account)
    lambda_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"Service": "lambda.amazonaws.com"}}]}
    create_role(member(sessions, "iam", account), role, lambda_trust)
    attach_scp(sessions, root, charter_scp(small, monkeypatch, drop="CharterAccountBaseline"))
    s3control = lambda_s3control(sessions, account, role["RoleName"])
    flags = {f: True for f in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=flags)
    message = denied(exc)
    assert f"assumed-role/{role['RoleName']}/" in message
    assert "s3:PutAccountPublicAccessBlock" in message and "explicit deny in a service control policy" in message

    # plain moto (enforcement off) serves it: the bug this module exists for
    enforcement.enable(False)
    s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=flags)


def test_account_baseline_role_allowed_with_charters_exemptions(sessions, small) -> None:
    from charter.landing_zone.builders.account_baseline import template

    root, account = organization(sessions)
    role = template_role(template(small), "BaselineFunctionRole", account)
    create_role(member(sessions, "iam", account), role, {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]})
    attach_scp(sessions, root, charter_scp(small))
    s3control = lambda_s3control(sessions, account, role["RoleName"])
    s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration={"BlockPublicAcls": True})


# -- 2. the protect-charter-roles guardrail without OrganizationAccountAccessRole ------------------

COLLECTOR_STACK = {"Resources": {"CollectorRole": {"Type": "AWS::IAM::Role", "Properties": {
    "RoleName": "CharterEvidenceCollector", "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}}}}


def stack_outcome(cfn: Any, name: str) -> tuple[str, str]:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
               if e["ResourceStatus"].endswith("FAILED")]
    return stack["StackStatus"], " ".join(reasons)


@pytest.mark.parametrize("exempt", [False, True], ids=["without-exemption", "with-exemption"])
def test_evidence_store_role_through_organization_account_access_role(sessions, small, monkeypatch, exempt) -> None:
    root, account = organization(sessions)
    attach_scp(sessions, root, charter_scp(small, monkeypatch, drop=None if exempt else MEMBER_ACCESS_ROLE))
    cfn = member(sessions, "cloudformation", account)
    cfn.create_stack(StackName="charter-evidence-store", TemplateBody=json.dumps(COLLECTOR_STACK),
                     Capabilities=["CAPABILITY_NAMED_IAM"])
    status, reason = stack_outcome(cfn, "charter-evidence-store")
    if exempt:
        assert status == "CREATE_COMPLETE", reason
    else:
        assert status == "ROLLBACK_COMPLETE"
        assert "AccessDenied" in reason and "iam:CreateRole" in reason
        assert "explicit deny in a service control policy" in reason and MEMBER_ACCESS_ROLE in reason


# -- 3. the workload pipeline's deploy role and Charter's stacks ----------------------------------

@pytest.mark.parametrize("exempt", [False, True], ids=["without-exemption", "with-exemption"])
def test_pipeline_deploy_role_updates_its_stacks(sessions, small, monkeypatch, exempt) -> None:
    root, account = organization(sessions)
    cfn = member(sessions, "cloudformation", account)
    body = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    cfn.create_stack(StackName="charter-optimizer-dev-data", TemplateBody=json.dumps(body))
    deploy_role = "acme-optimizer-deploy"
    member(sessions, "iam", account).create_role(RoleName=deploy_role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{LOCAL_MANAGEMENT_ACCOUNT}:root"}}]}))
    member(sessions, "iam", account).put_role_policy(RoleName=deploy_role, PolicyName="deploy", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"},
                                                {"Effect": "Allow", "Action": "sns:*", "Resource": "*"}]}))
    attach_scp(sessions, root, charter_scp(small, monkeypatch, drop=None if exempt else deploy_role))
    pipeline = member(sessions, "cloudformation", account, role=deploy_role)
    body["Resources"]["Other"] = {"Type": "AWS::SNS::Topic"}
    if exempt:
        pipeline.update_stack(StackName="charter-optimizer-dev-data", TemplateBody=json.dumps(body))
    else:
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            pipeline.update_stack(StackName="charter-optimizer-dev-data", TemplateBody=json.dumps(body))
        message = denied(exc)
        assert f"assumed-role/{deploy_role}/" in message and "cloudformation:UpdateStack" in message
        assert "explicit deny in a service control policy" in message


# -- 4. the management account's StackSet execution role -----------------------------------------

ACCESS_LOG_BUCKET = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {
    "BucketName": {"Fn::Sub": "acme-s3-access-logs-${AWS::AccountId}-${AWS::Region}"}}}}}


@pytest.mark.parametrize("with_s3", [False, True], ids=["without-s3", "with-s3"])
def test_management_execution_role_makes_the_access_log_bucket(sessions, small, with_s3) -> None:
    from charter.landing_zone.builders.identity import stackset_roles_template

    organization(sessions)
    props = template_role(stackset_roles_template(small), "StackSetExecutionRole", LOCAL_MANAGEMENT_ACCOUNT)
    if not with_s3:
        doc = props["Policies"][0]["PolicyDocument"]
        doc["Statement"] = [s for s in doc["Statement"] if not s.get("Sid", "").startswith("AccessLogBucket")]
    create_role(sessions.client("iam"), props, {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{LOCAL_MANAGEMENT_ACCOUNT}:root"}}]})
    cfn = sessions.client("cloudformation", region=REGION)
    cfn.create_stack_set(StackSetName="charter-account-baseline-management", TemplateBody=json.dumps(ACCESS_LOG_BUCKET),
                         PermissionModel="SELF_MANAGED")
    op = cfn.create_stack_instances(StackSetName="charter-account-baseline-management",
                                    Accounts=[LOCAL_MANAGEMENT_ACCOUNT], Regions=[REGION])["OperationId"]
    results = cfn.list_stack_set_operation_results(StackSetName="charter-account-baseline-management",
                                                   OperationId=op)["Summaries"]
    instance = cfn.list_stack_instances(StackSetName="charter-account-baseline-management")["Summaries"][0]
    detailed = instance.get("StackInstanceStatus", {}).get("DetailedStatus")
    if with_s3:
        assert detailed == "SUCCEEDED", instance
    else:
        assert detailed == "FAILED", (instance, results)
        reason = instance.get("StatusReason", "")
        assert "AccessDenied" in reason and "s3:CreateBucket" in reason
        assert "assumed-role/AWSCloudFormationStackSetExecutionRole" in reason or \
               "role/AWSCloudFormationStackSetExecutionRole" in reason


# -- 5. the evidence reader's trust chain ---------------------------------------------------------

def test_reader_trusts_the_operator_and_the_collector_only(sessions, small) -> None:
    from charter.landing_zone.builders.identity import operator_template, roles_template

    _, account = organization(sessions)
    reader = template_role(roles_template(small), "EvidenceReaderRole", account)
    reader["AssumeRolePolicyDocument"] = resolve(roles_template(small).to_dict()["Resources"]["EvidenceReaderRole"][
        "Properties"]["AssumeRolePolicyDocument"], {"AWS::Partition": "aws", "AuditAccountId": account,
                                                    "ManagementAccountId": LOCAL_MANAGEMENT_ACCOUNT})
    create_role(member(sessions, "iam", account), reader)
    operator = template_role(operator_template(small), "EvidenceOperatorRole", LOCAL_MANAGEMENT_ACCOUNT)
    create_role(sessions.client("iam"), operator)

    # the management profile itself is not trusted: it goes through the operator role
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        sessions.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/CharterEvidenceReader",
                                           RoleSessionName="direct")
    assert "sts:AssumeRole" in denied(exc)
    from charter.aws import acting_as

    via_operator = acting_as(sessions, "CharterEvidenceOperator")
    assert ":assumed-role/CharterEvidenceOperator/" in via_operator.caller_arn()
    iam = via_operator.client("iam", account_id=account, role_name="CharterEvidenceReader")
    assert iam.list_roles()["Roles"]


def test_reader_without_the_operator_in_its_trust_refuses_the_cli(sessions, small) -> None:
    from charter.landing_zone.builders.identity import operator_template, roles_template

    _, account = organization(sessions)
    reader = template_role(roles_template(small), "EvidenceReaderRole", account)
    trust = resolve(roles_template(small).to_dict()["Resources"]["EvidenceReaderRole"]["Properties"][
        "AssumeRolePolicyDocument"], {"AWS::Partition": "aws", "AuditAccountId": account,
                                      "ManagementAccountId": LOCAL_MANAGEMENT_ACCOUNT})
    trust["Statement"] = [s for s in trust["Statement"] if s["Sid"] == "EvidenceCollector"]
    create_role(member(sessions, "iam", account), reader, trust)
    create_role(sessions.client("iam"), template_role(operator_template(small), "EvidenceOperatorRole",
                                                      LOCAL_MANAGEMENT_ACCOUNT))
    from charter.aws import AwsError, acting_as

    with pytest.raises(AwsError) as exc:
        acting_as(sessions, "CharterEvidenceOperator").client("iam", account_id=account,
                                                              role_name="CharterEvidenceReader")
    assert "AccessDenied" in exc.value.message and "CharterEvidenceReader" in exc.value.message


# -- 6. a role the pipeline makes without the permissions boundary --------------------------------

@pytest.mark.parametrize("bounded", [False, True], ids=["without-boundary", "with-boundary"])
def test_pipeline_creates_roles_only_with_the_boundary(sessions, small, bounded) -> None:
    from charter.workloads.stacks import cicd
    from charter.workloads.stacks._common import Ctx

    _, account = organization(sessions)
    ctx = Ctx(small, "dev")
    target = cicd.build_target(ctx)
    deploy = template_role(target, "DeployRole", account)
    deploy["AssumeRolePolicyDocument"] = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{LOCAL_MANAGEMENT_ACCOUNT}:root"}}]}
    iam = member(sessions, "iam", account)
    create_role(iam, deploy)
    boundary = resolve(target.to_dict()["Resources"]["DeployBoundary"]["Properties"],
                       {"AWS::AccountId": account, "AWS::Partition": "aws"})
    arn = iam.create_policy(PolicyName=boundary["ManagedPolicyName"],
                            PolicyDocument=json.dumps(boundary["PolicyDocument"]))["Policy"]["Arn"]
    role: dict[str, Any] = {"RoleName": f"{ctx.prefix}-worker", "AssumeRolePolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}}
    if bounded:
        role["PermissionsBoundary"] = arn
    body = {"Resources": {"Worker": {"Type": "AWS::IAM::Role", "Properties": role}}}
    pipeline = member(sessions, "cloudformation", account, role=deploy["RoleName"])
    pipeline.create_stack(StackName="charter-optimizer-dev-compute", TemplateBody=json.dumps(body),
                          Capabilities=["CAPABILITY_NAMED_IAM"])
    status, reason = stack_outcome(pipeline, "charter-optimizer-dev-compute")
    if bounded:
        assert status == "CREATE_COMPLETE", reason
    else:
        assert status == "ROLLBACK_COMPLETE"
        assert "AccessDenied" in reason and "iam:CreateRole" in reason and deploy["RoleName"] in reason
