"""KMS, S3, EBS, CloudWatch Logs, VPC, DynamoDB and CloudTrail collectors against moto."""

from __future__ import annotations

import json

import boto3
import pytest
from collectors_testkit import ACCOUNT, results, run_collector
from moto import mock_aws


@pytest.fixture()
def aws(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def test_kms_key_without_rotation_fails_enc01(aws):
    kms = boto3.client("kms")
    rotated = kms.create_key()["KeyMetadata"]
    kms.enable_key_rotation(KeyId=rotated["KeyId"])
    kms.create_alias(AliasName="alias/acme-prod", TargetKeyId=rotated["KeyId"])
    plain = kms.create_key()["KeyMetadata"]
    asym = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    art = run_collector("kms")
    got = results(art, "ENC-01")
    assert got[rotated["Arn"]] == "pass" and got[plain["Arn"]] == "fail"
    assert got[asym["Arn"]] == "not_applicable"
    assert next(p for p in art.population if p.id == rotated["Arn"]).attributes["aliases"] == ["alias/acme-prod"]
    # rotation status read only for the keys it applies to, each once
    assert [c.parameters["KeyId"] for c in art.calls if c.operation == "GetKeyRotationStatus"] == sorted(
        [rotated["KeyId"], plain["KeyId"]], key=[rotated["KeyId"], plain["KeyId"]].index)


TLS_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "ENC04DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
    "Resource": ["arn:aws:s3:::good", "arn:aws:s3:::good/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def test_s3_bucket_controls(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="good")
    s3.put_bucket_policy(Bucket="good", Policy=json.dumps(TLS_POLICY))
    s3.put_bucket_encryption(Bucket="good", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/acme-prod"}}]})
    s3.put_public_access_block(Bucket="good", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.create_bucket(Bucket="acme-s3-access-logs-123456789012-us-east-1")
    s3.put_bucket_acl(Bucket="acme-s3-access-logs-123456789012-us-east-1", GrantWrite=(
        "uri=http://acs.amazonaws.com/groups/s3/LogDelivery"), GrantReadACP="uri=http://acs.amazonaws.com/groups/s3/LogDelivery")
    s3.put_bucket_logging(Bucket="good", BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": "acme-s3-access-logs-123456789012-us-east-1", "TargetPrefix": "good/"}})
    s3.create_bucket(Bucket="bad", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})

    art = run_collector("s3")
    assert results(art, "ENC-04")["good"] == "pass"
    assert results(art, "ENC-04")["bad"] == "fail"  # a bucket without a TLS policy fails ENC-04
    assert results(art, "ENC-02")["good"] == "pass" and results(art, "ENC-02")["bad"] == "fail"
    dat = results(art, "DAT-01")
    assert dat[f"{ACCOUNT}/account-public-access-block"] == "fail" and dat["good"] == "pass" and dat["bad"] == "fail"
    logging = results(art, "LOG-05")
    assert logging == {"good": "pass", "bad": "fail",
                       "acme-s3-access-logs-123456789012-us-east-1": "not_applicable"}
    # bucket-level calls go to the bucket's own region
    assert {c.region for c in art.calls if c.parameters.get("Bucket") == "bad" and c.operation != "GetBucketLocation"} \
        == {"us-west-2"}

    boto3.client("s3control").put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    again = run_collector("s3")
    assert results(again, "DAT-01")["bad"] == "pass"  # covered by the account-level block
    assert results(again, "DAT-01")[f"{ACCOUNT}/account-public-access-block"] == "pass"


def test_log_archive_bucket_needs_object_lock(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="acme-cloudtrail-111122223333-us-east-1", ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket="acme-cloudtrail-111122223333-us-east-1", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2557}}})
    s3.put_bucket_policy(Bucket="acme-cloudtrail-111122223333-us-east-1", Policy=json.dumps(TLS_POLICY))
    s3.create_bucket(Bucket="acme-config-111122223333-us-east-1")
    art = run_collector("s3", environment="log-archive")
    got = results(art, "LOG-03")
    assert got == {"acme-cloudtrail-111122223333-us-east-1": "pass", "acme-config-111122223333-us-east-1": "fail"}


def test_log_group_with_wrong_retention_fails_log04(aws):
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/charter/app")
    logs.put_retention_policy(logGroupName="/charter/app", retentionInDays=2557)
    logs.create_log_group(logGroupName="/charter/short")
    logs.put_retention_policy(logGroupName="/charter/short", retentionInDays=30)
    logs.create_log_group(logGroupName="/charter/forever")
    logs.create_log_group(logGroupName="/acme/vpc-flow-logs")
    logs.put_retention_policy(logGroupName="/acme/vpc-flow-logs", retentionInDays=365)
    art = run_collector("logs")
    assert results(art, "LOG-04") == {"/charter/app": "pass", "/charter/short": "fail", "/charter/forever": "fail",
                                      "/acme/vpc-flow-logs": "pass"}
    short = next(p for p in art.population if p.id == "/charter/short")
    assert "30 days" in short.reason and "2557" in short.reason


def test_vpc_without_flow_logs_fails_log06_and_default_sg(aws):
    ec2 = boto3.client("ec2")
    logged = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    bare = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    boto3.client("s3").create_bucket(Bucket="acme-flow-logs-111122223333-us-east-1")  # moto needs it to exist
    ec2.create_flow_logs(ResourceIds=[logged], ResourceType="VPC", TrafficType="ALL", LogDestinationType="s3",
                         LogDestination="arn:aws:s3:::acme-flow-logs-111122223333-us-east-1")
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]},
                                                   {"Name": "vpc-id", "Values": [logged]}])["SecurityGroups"]
    ec2.revoke_security_group_egress(GroupId=groups[0]["GroupId"], IpPermissions=groups[0]["IpPermissionsEgress"])
    ec2.revoke_security_group_ingress(GroupId=groups[0]["GroupId"], IpPermissions=groups[0]["IpPermissions"])
    art = run_collector("vpc")
    flow = results(art, "LOG-06")
    assert flow[logged] == "pass" and flow[bare] == "fail"
    assert "log archive" in next(p.reason for p in art.population if p.id == logged)
    sgs = results(art, "NET-02")
    assert sgs[groups[0]["GroupId"]] == "pass"
    assert list(sgs.values()).count("fail") >= 1  # moto's other default groups allow egress


def test_ebs_default_encryption(aws):
    assert results(run_collector("ebs"), "ENC-03") == {f"{ACCOUNT}/us-east-1/ebs-encryption-by-default": "fail"}


def test_dynamodb_pitr(aws):
    ddb = boto3.client("dynamodb")
    for name in ("orders", "sessions"):
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    ddb.update_continuous_backups(TableName="orders",
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    assert results(run_collector("dynamodb"), "BCK-03") == {"orders": "pass", "sessions": "fail"}


def test_cloudtrail_trail_without_kms_fails_log01(aws):
    boto3.client("s3").create_bucket(Bucket="trail-bucket")
    ct = boto3.client("cloudtrail")
    arn = ct.create_trail(Name="org", S3BucketName="trail-bucket", IsMultiRegionTrail=True,
                          EnableLogFileValidation=True)["TrailARN"]
    ct.start_logging(Name="org")
    art = run_collector("cloudtrail")
    got = results(art, "LOG-01")
    assert got[arn] == "fail" and got[f"{ACCOUNT}/us-east-1/trail-coverage"] == "fail"
    reason = next(p.reason for p in art.population if p.id == arn)
    assert "not encrypted with KMS" in reason and "not logging" not in reason
