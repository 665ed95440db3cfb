"""The compliant-by-construction S3 bucket: every baseline property, and it lints clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from troposphere import Template

from charter.landing_zone.components.s3 import (
    BUCKET_CONTROLS,
    OBJECT_LOCK_TAG,
    access_log_bucket,
    secure_bucket,
)
from charter.landing_zone.lint import Linter
from charter.landing_zone.synth import dump_yaml
from charter.naming import access_log_bucket_name

KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="session")
def s3_linter() -> Linter:
    return Linter(["us-east-1", "us-west-2"])


def _props(data: dict, logical_id: str) -> dict:
    return data["Resources"][logical_id]["Properties"]


def _statements(data: dict, logical_id: str) -> list[dict]:
    return _props(data, logical_id + "Policy")["PolicyDocument"]["Statement"]


def _template(small_config) -> dict:
    t = Template()
    access_log_bucket(t, small_config)
    logs = access_log_bucket_name(small_config)
    secure_bucket(t, "KmsBucket", controls=["LOG-03"], bucket_name="acme-data-${AWS::AccountId}",
                  kms_key_arn=KEY, access_log_bucket=logs)
    secure_bucket(t, "S3ManagedBucket", access_log_bucket=logs)
    secure_bucket(t, "LockedBucket", kms_key_arn=KEY, access_log_bucket=logs, object_lock_days=400)
    return t.to_dict()


def test_bucket_has_every_baseline_property(small_config) -> None:
    data = _template(small_config)
    props = _props(data, "KmsBucket")
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}
    assert rule["BucketKeyEnabled"] is True
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Fn::Sub": access_log_bucket_name(small_config)}
    assert props["BucketName"] == {"Fn::Sub": "acme-data-${AWS::AccountId}"}
    res = data["Resources"]["KmsBucket"]
    assert res["DeletionPolicy"] == res["UpdateReplacePolicy"] == "Retain"
    assert res["Metadata"]["Charter"]["Controls"] == [*BUCKET_CONTROLS, "LOG-03"]
    assert data["Resources"]["KmsBucketPolicy"]["Metadata"]["Charter"]["Controls"] == [*BUCKET_CONTROLS, "LOG-03"]
    # the log target exists before S3 validates the logging configuration
    assert res["DependsOn"] == ["AccessLogBucket"]


def test_policy_denies_non_tls_on_bucket_and_objects(small_config) -> None:
    data = _template(small_config)
    for bucket in ("KmsBucket", "S3ManagedBucket", "LockedBucket", "AccessLogBucket"):
        deny = _statements(data, bucket)[0]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
        assert deny["Action"] == ["s3:*"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert len(deny["Resource"]) == 2  # the bucket and every object


def test_without_key_falls_back_to_sse_s3(small_config) -> None:
    props = _props(_template(small_config), "S3ManagedBucket")
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "S3ManagedBucket/"


def test_object_lock_is_compliance_mode_and_tagged(small_config) -> None:
    props = _props(_template(small_config), "LockedBucket")
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 400}}}
    assert {"Key": OBJECT_LOCK_TAG, "Value": "compliance"} in props["Tags"]


def test_object_lock_without_versioning_is_refused() -> None:
    with pytest.raises(ValueError, match="versioning"):
        secure_bucket(Template(), "Bad", versioning=False, object_lock_days=1)


def test_access_log_bucket_accepts_only_this_accounts_s3_logs(small_config) -> None:
    data = _template(small_config)
    props = _props(data, "AccessLogBucket")
    assert "LoggingConfiguration" not in props  # cannot log to itself
    assert props["BucketName"] == {"Fn::Sub": access_log_bucket_name(small_config)}
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "AES256"}
    expiry = props["LifecycleConfiguration"]["Rules"][0]
    assert expiry["ExpirationInDays"] == small_config.baseline.log_retention_days
    allow = _statements(data, "AccessLogBucket")[1]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == ["s3:PutObject"]
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    suppressions = data["Resources"]["AccessLogBucket"]["Metadata"]["Charter"]["Suppressions"]
    assert [s["Id"] for s in suppressions] == ["CKV_AWS_18"]
    assert "itself" in suppressions[0]["Reason"]


def test_buckets_pass_cfn_lint_and_checkov(small_config, s3_linter: Linter, tmp_path: Path) -> None:
    data = _template(small_config)
    assert [f.render() for f in s3_linter.cfn_lint("buckets", data)] == []
    path = tmp_path / "buckets.yaml"
    path.write_text(dump_yaml(data))
    findings, passed = s3_linter.checkov([path])
    assert [f.render() for f in findings] == []
    assert passed >= 4 * 8  # the S3 checks (access logging, encryption, PAB, versioning...) ran on all four
