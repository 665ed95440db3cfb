"""A role's permissions boundary limits its requests on the embedded AWS, as on AWS (a role
with a boundary, as every role the workload stacks make, was answered 500 before)."""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest
from awacs import s3, sqs
from awacs.aws import Allow, PolicyDocument, Principal, Statement
from awacs.sts import AssumeRole

from charter.local import LocalAws

pytestmark = pytest.mark.e2e


def _doc(*statements: Statement) -> str:
    return PolicyDocument(Version="2012-10-17", Statement=list(statements)).to_json()


def test_a_roles_permissions_boundary_limits_its_requests() -> None:
    with LocalAws() as aws:
        sessions = aws.sessions()
        iam = sessions.client("iam")
        account = sessions.client("sts").get_caller_identity()["Account"]
        boundary = iam.create_policy(PolicyName="only-sqs", PolicyDocument=_doc(
            Statement(Effect=Allow, Action=[sqs.ListQueues], Resource=["*"])))["Policy"]["Arn"]
        arn = iam.create_role(RoleName="bounded", PermissionsBoundary=boundary, AssumeRolePolicyDocument=_doc(
            Statement(Effect=Allow, Action=[AssumeRole], Principal=Principal("AWS", f"arn:aws:iam::{account}:root"))
        ))["Role"]["Arn"]
        iam.put_role_policy(RoleName="bounded", PolicyName="both", PolicyDocument=_doc(
            Statement(Effect=Allow, Action=[s3.ListAllMyBuckets, sqs.ListQueues], Resource=["*"])))
        creds = sessions.client("sts").assume_role(RoleArn=arn, RoleSessionName="bounded-test")["Credentials"]
        session = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                aws_session_token=creds["SessionToken"], region_name="us-east-1")
        session.client("sqs", endpoint_url=aws.endpoint_url).list_queues()  # in both: allowed
        with pytest.raises(botocore.exceptions.ClientError) as info:  # outside the boundary: refused
            session.client("s3", endpoint_url=aws.endpoint_url).list_buckets()
        assert info.value.response["Error"]["Code"] == "AccessDenied"
