"""IAM-01, DAT-01, ENC-03 (+ NET-02): the account-baseline custom resource and its StackSet.

The handler runs as a plain function under moto's `mock_aws` (moto cannot run Lambda code);
CloudFormation's ResponseURL is captured by patching `urllib.request.urlopen`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from charter.landing_zone.builders import account_baseline as builder_module
from charter.landing_zone.config import load_config
from charter.landing_zone.custom_resources import account_baseline as handler_module

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"


class FakeContext:
    """The two LambdaContext members the handler reads, plus the log stream."""

    def __init__(self, remaining_ms: int = 120_000):
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:charter-account-baseline"
        self.log_stream_name = "2026/11/28/[$LATEST]abc"
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


@pytest.fixture
def responses(monkeypatch):
    """Every PUT the handler sends to the ResponseURL: (method, url, body dict, raw length)."""
    sent = []

    class _Resp:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b""

    def urlopen(req, timeout=None):
        sent.append((req.get_method(), req.full_url, json.loads(req.data), len(req.data)))
        return _Resp()

    monkeypatch.setattr(handler_module.urllib.request, "urlopen", urlopen)
    return sent


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def _event(request_type: str, key_arn: str | None = None, apply_global: str = "true", **extra) -> dict:
    event = {
        "RequestType": request_type, "ResponseURL": "https://cloudformation-custom-resource-response.example/abc",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/StackSet-charter-account-baseline/1",
        "RequestId": "req-1", "LogicalResourceId": "AccountBaseline", "ResourceType": "Custom::AccountBaseline",
        # CloudFormation hands every property value over as a string
        "ResourceProperties": {"ServiceToken": "arn", "ApplyGlobal": apply_global, "EbsKmsKeyId": key_arn,
                               "PasswordPolicy": {"MinimumPasswordLength": "16", "MaxPasswordAge": "90",
                                                  "PasswordReusePrevention": "24"}},
    }
    event.update(extra)
    return event


def _ebs_default_key() -> str:
    # moto implements ModifyEbsDefaultKmsKeyId but not GetEbsDefaultKmsKeyId: read its backend
    from moto.ec2.models import ec2_backends

    return ec2_backends[ACCOUNT][REGION].default_kms_key_id


def test_create_sets_password_policy_public_access_block_and_ebs_encryption(aws, responses):
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    handler_module.handler(_event("Create", key), FakeContext())

    policy = boto3.client("iam").get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 16
    assert policy["MaxPasswordAge"] == 90 and policy["PasswordReusePrevention"] == 24
    assert all(policy[k] for k in ("RequireSymbols", "RequireNumbers", "RequireUppercaseCharacters",
                                   "RequireLowercaseCharacters", "AllowUsersToChangePassword"))
    pab = boto3.client("s3control").get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"]
    assert pab == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                   "RestrictPublicBuckets": True}
    assert boto3.client("ec2").get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    assert _ebs_default_key() == key

    [(method, url, body, size)] = responses
    assert method == "PUT" and url.startswith("https://cloudformation-custom-resource-response")
    assert body["Status"] == "SUCCESS" and body["RequestId"] == "req-1"
    assert body["PhysicalResourceId"] == f"charter-AccountBaseline-{ACCOUNT}"
    assert size < 4096


def test_regional_instance_sets_only_ebs(aws, responses):
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    handler_module.handler(_event("Create", key, apply_global="false"), FakeContext())
    iam = boto3.client("iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_account_password_policy()
    assert _ebs_default_key() == key
    assert responses[0][2]["Data"]["Applied"] == "EbsEncryptionByDefault"


def test_update_is_idempotent_and_keeps_the_physical_id(aws, responses):
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    handler_module.handler(_event("Create", key), FakeContext())
    first_id = responses[0][2]["PhysicalResourceId"]
    event = _event("Update", key, PhysicalResourceId=first_id)
    event["ResourceProperties"]["PasswordPolicy"]["MinimumPasswordLength"] = "20"
    handler_module.handler(event, FakeContext())
    handler_module.handler(event, FakeContext())  # applying twice changes nothing
    assert [r[2]["Status"] for r in responses] == ["SUCCESS"] * 3
    assert {r[2]["PhysicalResourceId"] for r in responses} == {first_id}
    assert boto3.client("iam").get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 20


def test_delete_leaves_every_protection_on(aws, responses):
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    handler_module.handler(_event("Create", key), FakeContext())
    handler_module.handler(_event("Delete", key, PhysicalResourceId="charter-x"), FakeContext())
    assert responses[-1][2]["Status"] == "SUCCESS"
    assert responses[-1][2]["PhysicalResourceId"] == "charter-x"
    assert boto3.client("iam").get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 16
    assert boto3.client("ec2").get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    assert boto3.client("s3control").get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]


def test_failure_answers_failed_with_the_reason(aws, responses):
    event = _event("Create", None)
    event["ResourceProperties"]["PasswordPolicy"]["MinimumPasswordLength"] = "fourteen"
    handler_module.handler(event, FakeContext())
    [(_, _, body, size)] = responses
    assert body["Status"] == "FAILED"
    assert "ValueError" in body["Reason"] and "fourteen" in body["Reason"]
    assert size < 4096


def test_huge_error_message_still_fits_the_response_limit(aws, responses, monkeypatch):
    def boom(event, account):
        raise RuntimeError("x" * 20_000)

    monkeypatch.setattr(handler_module, "apply", boom)
    handler_module.handler(_event("Update", None), FakeContext())
    [(_, _, body, size)] = responses
    assert body["Status"] == "FAILED" and size < 4096


def test_answers_failed_before_the_lambda_time_limit(aws, responses, monkeypatch):
    def slow(event, account):
        # still running when the watchdog answers, however slow the machine: it returns only
        # after that answer (or, if none ever comes, after a hang guard)
        deadline = time.monotonic() + 300
        while not responses and time.monotonic() < deadline:
            time.sleep(0.01)
        return {}

    monkeypatch.setattr(handler_module, "apply", slow)
    # 6 s left and a 5 s safety margin: the watchdog answers after ~1 s, while apply still runs
    handler_module.handler(_event("Create", None), FakeContext(remaining_ms=6_000))
    assert [r[2]["Status"] for r in responses] == ["FAILED"]  # exactly one answer, never a late SUCCESS
    assert "timed out" in responses[0][2]["Reason"]


def test_closes_the_default_security_group(aws, responses):
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                               {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    assert sg["IpPermissionsEgress"]  # AWS opens egress (and self-ingress) on every default group
    event = _event("Create", None, ResourceType="Custom::DefaultSecurityGroupClosed", LogicalResourceId="DefaultSg")
    event["ResourceProperties"] = {"GroupId": sg["GroupId"]}
    handler_module.handler(event, FakeContext())
    after = ec2.describe_security_groups(GroupIds=[sg["GroupId"]])["SecurityGroups"][0]
    assert after["IpPermissions"] == [] and after["IpPermissionsEgress"] == []
    assert responses[0][2]["Status"] == "SUCCESS"


# -- the template ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


def test_inline_code_is_the_handler_and_fits_zipfile(cfg):
    code = builder_module.handler_code()
    assert len(code) <= builder_module.ZIPFILE_LIMIT
    namespace: dict = {}
    exec(compile(code, "index.py", "exec"), namespace)  # the minified code is still the handler
    assert callable(namespace["handler"]) and callable(namespace["apply"])
    data = builder_module.template(cfg).to_dict()
    fn = data["Resources"]["BaselineFunction"]["Properties"]
    assert fn["Code"]["ZipFile"] == code and fn["Handler"] == "index.handler"


def test_stacksets_reach_every_account_and_only_home_sets_global_settings(cfg):
    specs = {s.name: s for s in builder_module.build(cfg)}
    members = specs["account-baseline"].deployment
    assert (members.permission_model, members.target_ous, members.order) == ("SERVICE_MANAGED", ["Root"], 30)
    assert set(members.regions) >= set(cfg.organization.governed_regions)
    mgmt = specs["account-baseline-management"].deployment
    assert (mgmt.permission_model, mgmt.target_accounts) == ("SELF_MANAGED", ["management"])

    res = specs["account-baseline"].template.to_dict()["Resources"]
    cr = res["AccountBaseline"]
    assert cr["Type"] == "Custom::AccountBaseline"
    assert cr["Properties"]["ApplyGlobal"] == {"Fn::If": ["IsHomeRegion", "true", "false"]}
    pp = cfg.baseline.password_policy
    assert cr["Properties"]["PasswordPolicy"] == {"MinimumPasswordLength": pp.min_length,
                                                  "MaxPasswordAge": pp.max_age_days,
                                                  "PasswordReusePrevention": pp.reuse_prevention}
    assert {"IAM-01", "DAT-01", "ENC-03"} <= set(cr["Metadata"]["Charter"]["Controls"])
    logs = res["BaselineFunctionLogs"]["Properties"]
    assert logs["RetentionInDays"] == cfg.baseline.log_retention_days
    assert "LOG-04" in res["BaselineFunctionLogs"]["Metadata"]["Charter"]["Controls"]


def test_function_role_is_least_privilege(cfg):
    res = builder_module.template(cfg).to_dict()["Resources"]
    [policy] = res["BaselineFunctionRole"]["Properties"]["Policies"]
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert actions == {"iam:UpdateAccountPasswordPolicy", "s3:PutAccountPublicAccessBlock",
                       "ec2:EnableEbsEncryptionByDefault", "ec2:ModifyEbsDefaultKmsKeyId",
                       "ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupIngress",
                       "ec2:RevokeSecurityGroupEgress", "kms:DescribeKey", "logs:CreateLogStream", "backup:UpdateRegionSettings",
                       "logs:PutLogEvents"}
    assert not any(a.endswith("*") for a in actions)


def test_every_account_and_region_gets_its_access_log_bucket(small_config) -> None:
    """S3 logs only to a bucket in the same account and region; the log-archive home region
    already has one from the log-archive stack, so the baseline skips exactly that one."""
    from charter.landing_zone.builders.account_baseline import template

    data = template(small_config).to_dict()
    bucket = data["Resources"]["AccessLogBucket"]
    assert bucket["Condition"] == "OwnsAccessLogBucket"
    assert bucket["Properties"]["BucketName"] == {"Fn::Sub": "acme-s3-access-logs-${AWS::AccountId}-${AWS::Region}"}
    assert "LogArchiveAccountId" in data["Parameters"]
    condition = data["Conditions"]["OwnsAccessLogBucket"]
    assert "Fn::Not" in condition


def test_backup_region_settings_turn_on_advanced_dynamodb_features(aws, responses, monkeypatch):
    """Copying a DynamoDB table's backup to another region needs AWS Backup's advanced DynamoDB
    features, a regional setting (UpdateRegionSettings) that no CloudFormation resource sets.
    moto lacks the operation: botocore's Stubber checks the request against AWS's model."""
    from botocore.stub import Stubber

    backup = boto3.client("backup", region_name=REGION)
    stub = Stubber(backup)
    stub.add_response("update_region_settings", {},
                      {"ResourceTypeManagementPreference": {"DynamoDB": True}})
    real = handler_module._client
    monkeypatch.setattr(handler_module, "_client", lambda s: backup if s == "backup" else real(s))
    event = _event("Create", None, apply_global="false")
    event["ResourceProperties"]["BackupRegionSettings"] = "true"
    with stub:
        handler_module.handler(event, FakeContext())
    stub.assert_no_pending_responses()
    assert responses[0][2]["Status"] == "SUCCESS"
    assert responses[0][2]["Data"]["Applied"] == "BackupRegionSettings,EbsEncryptionByDefault"


def test_template_asks_for_backup_region_settings_where_backups_are_copied(small_config):
    props = builder_module.template(small_config).to_dict()["Resources"]["AccountBaseline"]["Properties"]
    assert small_config.baseline.backup.copy_to_dr and props["BackupRegionSettings"] == "true"
    off = small_config.model_copy(update={"baseline": small_config.baseline.model_copy(update={
        "backup": small_config.baseline.backup.model_copy(update={"copy_to_dr": False})})})
    assert builder_module.template(off).to_dict()["Resources"]["AccountBaseline"]["Properties"][
        "BackupRegionSettings"] == "false"
