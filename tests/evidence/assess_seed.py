"""A plain AWS account with SOC 2 weaknesses (no organization, no Charter landing zone), and
the changes that fix every one of them, for `charter assess` tests on the embedded AWS.

`WEAKNESSES` lists what `seed_weak` breaks: (control, a criterion it serves, the resource the
finding names), so a test can check each is reported under its control and criterion.
"""

from __future__ import annotations

import json
from typing import Any

REGION = "us-east-1"
_PAB = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")

#: (control, criterion, resource the failing finding names (substring)) for each seeded weakness.
WEAKNESSES: list[tuple[str, str, str]] = [
    ("IAM-01", "CC6.1", "account-password-policy"),        # no password policy
    ("IAM-03", "CC6.1", "user/alice"),                     # console user without MFA
    ("IAM-05", "CC6.3", "policy/everything"),              # customer policy granting *:*
    ("DAT-01", "CC6.6", "account-public-access-block"),    # no account-level public access block
    ("DAT-01", "C1.1", "weak-data"),                       # bucket with public access not blocked
    ("ENC-02", "CC6.7", "weak-data"),                      # bucket without SSE-KMS
    ("ENC-04", "CC6.7", "weak-data"),                      # bucket without a TLS-only policy
    ("LOG-05", "CC7.2", "weak-data"),                      # bucket without access logging
    ("ENC-01", "CC6.7", ":key/"),                          # KMS key without rotation
    ("ENC-03", "CC6.7", "ebs-encryption-by-default"),      # EBS encryption by default off
    ("LOG-01", "CC7.2", "trail-coverage"),                 # no CloudTrail trail
    ("LOG-04", "C1.2", "/app/weak"),                       # log group that never expires
    ("LOG-06", "CC6.6", "vpc-"),                           # default VPC without flow logs
    ("NET-02", "CC6.6", "sg-"),                            # default security group with rules
    ("BCK-03", "A1.2", "weak"),                            # DynamoDB table without PITR
    ("MON-05", "CC7.2", "guardduty"),                      # no GuardDuty detector
    ("MON-04", "CC7.1", "securityhub"),                    # Security Hub off
]


def _enable_standards(sessions: Any) -> None:
    """The Security Hub standards MON-04 checks (AWS's defaults are FSBP and CIS 1.2, not CIS 3.0),
    enabled by a stack as a team's own IaC does: the embedded AWS keeps the subscriptions that
    AWS::SecurityHub::Standard makes (it has no BatchEnableStandards)."""
    from troposphere import Template
    from troposphere.securityhub import Standard

    template = Template()
    for logical, name in (("Fsbp", "aws-foundational-security-best-practices/v/1.0.0"),
                          ("Cis30", "cis-aws-foundations-benchmark/v/3.0.0")):
        template.add_resource(Standard(logical, StandardsArn=f"arn:aws:securityhub:{REGION}::standards/{name}"))
    cfn = sessions.client("cloudformation")
    cfn.create_stack(StackName="security-hub-standards", TemplateBody=template.to_json())
    cfn.get_waiter("stack_create_complete").wait(StackName="security-hub-standards",
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def seed_weak(sessions: Any) -> None:
    iam = sessions.client("iam")
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password="Passw0rd!Passw0rd!")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    arn = iam.create_policy(PolicyName="everything", PolicyDocument=doc)["Policy"]["Arn"]
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    s3 = sessions.client("s3")
    s3.create_bucket(Bucket="weak-data")
    s3.delete_bucket_encryption(Bucket="weak-data")
    sessions.client("logs").create_log_group(logGroupName="/app/weak")
    sessions.client("kms").create_key(Description="weak")
    sessions.client("dynamodb").create_table(
        TableName="weak", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


def _tls_only(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "AccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def fix_all(sessions: Any, account: str) -> None:
    """Every weakness of `WEAKNESSES` fixed as an operator would (and what the fixes need:
    a trail bucket and log group, an access-log sink, each compliant in turn)."""
    iam = sessions.client("iam")
    iam.update_account_password_policy(
        MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True, RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True, MaxPasswordAge=90, PasswordReusePrevention=24)
    mfa = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="alice", SerialNumber=mfa, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    for policy in iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"]:
        iam.detach_user_policy(UserName="alice", PolicyArn=policy["PolicyArn"])
        iam.delete_policy(PolicyArn=policy["PolicyArn"])
    ec2 = sessions.client("ec2")
    ec2.enable_ebs_encryption_by_default()
    # S3 Control's <account>.<host> endpoint reaches the embedded AWS's one host: the factory's
    # single_host capability (charter.aws._SingleHost) sends it there
    sessions.client("s3control").put_public_access_block(
        AccountId=account, PublicAccessBlockConfiguration=dict.fromkeys(_PAB, True))
    kms = sessions.client("kms")
    key = kms.create_key(Description="data")["KeyMetadata"]["Arn"]
    for k in kms.list_keys()["Keys"]:
        kms.enable_key_rotation(KeyId=k["KeyId"])
    s3 = sessions.client("s3")
    for bucket in ("access-logs-sink", "trail-bucket"):
        s3.create_bucket(Bucket=bucket)
    for bucket in ("weak-data", "access-logs-sink", "trail-bucket"):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
        s3.put_bucket_policy(Bucket=bucket, Policy=_tls_only(bucket))
    for bucket in ("weak-data", "trail-bucket"):
        s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": "access-logs-sink", "TargetPrefix": f"{bucket}/"}})
    logs = sessions.client("logs")
    logs.put_retention_policy(logGroupName="/app/weak", retentionInDays=2557)
    logs.create_log_group(logGroupName="/trail")
    logs.put_retention_policy(logGroupName="/trail", retentionInDays=2557)
    group = logs.describe_log_groups(logGroupNamePrefix="/trail")["logGroups"][0]["arn"]
    role = iam.create_role(RoleName="trail", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "cloudtrail.amazonaws.com"}}]}))["Role"]["Arn"]
    trail = sessions.client("cloudtrail")
    trail.create_trail(Name="main", S3BucketName="trail-bucket", IsMultiRegionTrail=True, EnableLogFileValidation=True,
                       KmsKeyId=key, CloudWatchLogsLogGroupArn=group, CloudWatchLogsRoleArn=role)
    trail.put_insight_selectors(TrailName="main", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    trail.start_logging(Name="main")
    sessions.client("guardduty").create_detector(Enable=True, Features=[
        {"Name": name, "Status": "ENABLED"} for name in ("S3_DATA_EVENTS", "EKS_AUDIT_LOGS", "RDS_LOGIN_EVENTS",
                                                         "LAMBDA_NETWORK_LOGS", "EBS_MALWARE_PROTECTION",
                                                         "RUNTIME_MONITORING")])
    sessions.client("securityhub").enable_security_hub(EnableDefaultStandards=False)
    _enable_standards(sessions)
    # AWS Config records every resource (MON-01) and runs a managed rule (MON-09)
    config_role = iam.create_role(RoleName="config", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "config.amazonaws.com"}}]}))["Role"]["Arn"]
    config = sessions.client("config")
    config.put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": config_role,
        "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}})
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "trail-bucket"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    config.put_config_rule(ConfigRule={"ConfigRuleName": "access-keys-rotated", "InputParameters": '{"maxAccessKeyAge": "90"}',
                                       "Source": {"Owner": "AWS", "SourceIdentifier": "ACCESS_KEYS_ROTATED"}})
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        ec2.create_flow_logs(ResourceIds=[vpc["VpcId"]], ResourceType="VPC", TrafficType="ALL",
                             LogDestinationType="s3", LogDestination="arn:aws:s3:::trail-bucket")
    for group_ in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]:
        if group_["IpPermissionsEgress"]:
            ec2.revoke_security_group_egress(GroupId=group_["GroupId"], IpPermissions=group_["IpPermissionsEgress"])
        if group_["IpPermissions"]:
            ec2.revoke_security_group_ingress(GroupId=group_["GroupId"], IpPermissions=group_["IpPermissions"])
    sessions.client("dynamodb").update_continuous_backups(
        TableName="weak", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
