"""S3 listings carry the `s3:prefix` condition key on the embedded AWS, as on AWS: a role
allowed to list one prefix of a bucket may list it, and nothing else (before, the key was
missing and every such listing was refused, which AWS would have served)."""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest
from awacs import s3
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringLike
from awacs.sts import AssumeRole

from charter.local import LocalAws

pytestmark = pytest.mark.e2e


def _doc(*statements: Statement) -> str:
    return PolicyDocument(Version="2012-10-17", Statement=list(statements)).to_json()


def test_a_listing_is_allowed_by_the_prefix_it_names_and_only_that_one() -> None:
    with LocalAws(enforce=True) as aws:
        sessions = aws.sessions()
        iam, admin_s3 = sessions.client("iam"), sessions.client("s3")
        account = sessions.client("sts").get_caller_identity()["Account"]
        admin_s3.create_bucket(Bucket="listed")
        admin_s3.put_object(Bucket="listed", Key="results/job/parts/algo-1/summary.json", Body=b"{}")
        admin_s3.put_object(Bucket="listed", Key="private/key", Body=b"x")
        arn = iam.create_role(RoleName="lister", AssumeRolePolicyDocument=_doc(
            Statement(Effect=Allow, Action=[AssumeRole], Principal=Principal("AWS", f"arn:aws:iam::{account}:root"))
        ))["Role"]["Arn"]
        iam.put_role_policy(RoleName="lister", PolicyName="results-only", PolicyDocument=_doc(
            Statement(Effect=Allow, Action=[s3.ListBucket], Resource=["arn:aws:s3:::listed"],
                      Condition=Condition(StringLike("s3:prefix", "results/*")))))
        creds = sessions.client("sts").assume_role(RoleArn=arn, RoleSessionName="lister")["Credentials"]
        client = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"], region_name="us-east-1"
                               ).client("s3", endpoint_url=aws.endpoint_url)
        listed = client.list_objects_v2(Bucket="listed", Prefix="results/job/parts/")
        assert [o["Key"] for o in listed["Contents"]] == ["results/job/parts/algo-1/summary.json"]
        for kwargs in ({"Prefix": "private/"}, {}):  # another prefix, or none: the condition does not match
            with pytest.raises(botocore.exceptions.ClientError) as info:
                client.list_objects_v2(Bucket="listed", **kwargs)
            assert info.value.response["Error"]["Code"] == "AccessDenied"
