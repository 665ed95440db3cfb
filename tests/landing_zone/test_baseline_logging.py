"""Log archive and organization trail: the properties auditors check, read from the templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from charter.config.model import OrgConfig
from charter.landing_zone.builders import cloudtrail, log_archive
from charter.landing_zone.config import load_config_text
from charter.landing_zone.lint import Linter
from charter.landing_zone.registry import builders
from charter.landing_zone.synth import dump_yaml, synthesize

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
#: The builders of the logging/detection baseline (part A of issue 3).
MY_BUILDERS = ("log_archive", "cloudtrail", "config_rules", "detection")


def variant(**baseline: Any) -> OrgConfig:
    """The small example with `baseline` keys replaced (one level deep merge)."""
    data = yaml.safe_load(EXAMPLE.read_text())
    for key, value in baseline.items():
        if isinstance(value, dict) and isinstance(data["baseline"].get(key), dict):
            data["baseline"][key].update(value)
        else:
            data["baseline"][key] = value
    return load_config_text(yaml.safe_dump(data), "org.yaml")


def stacks(cfg: OrgConfig, names=MY_BUILDERS) -> dict[str, dict]:
    selected = {n: b for n, b in builders().items() if n in names}
    return {s.name: s.data for s in synthesize(cfg, selected)}


@pytest.fixture(scope="session")
def logging_linter() -> Linter:
    return Linter(["us-east-1", "us-west-2"])


@pytest.fixture(scope="module")
def archive(small_config) -> dict:
    return log_archive.build(small_config)[0].template.to_dict()


@pytest.fixture(scope="module")
def trail_stack(small_config) -> dict:
    return cloudtrail.build(small_config)[0].template.to_dict()


def _of_type(data: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in data["Resources"].items() if r["Type"] == kind}


def _policy_of(data: dict, bucket: str) -> list[dict]:
    for res in _of_type(data, "AWS::S3::BucketPolicy").values():
        if res["Properties"]["Bucket"] == {"Ref": bucket}:
            return res["Properties"]["PolicyDocument"]["Statement"]
    raise AssertionError(f"no policy for {bucket}")


# -- organization trail ---------------------------------------------------------------

def test_trail_is_organization_wide_validated_and_encrypted(small_config, trail_stack) -> None:
    (trail,) = _of_type(trail_stack, "AWS::CloudTrail::Trail").values()
    p = trail["Properties"]
    assert p["IsOrganizationTrail"] and p["IsMultiRegionTrail"] and p["IncludeGlobalServiceEvents"]
    assert p["EnableLogFileValidation"] is True
    assert p["IsLogging"] is True
    assert p["KMSKeyId"] == {"Fn::Sub": log_archive.logs_key_arn(small_config)}
    assert "${LogArchiveAccountId}" in p["KMSKeyId"]["Fn::Sub"]
    assert "LogArchiveAccountId" in trail_stack["Parameters"]
    assert p["S3BucketName"] == {"Fn::Sub": "acme-cloudtrail-${LogArchiveAccountId}-us-east-1"}
    assert p["TrailName"] == log_archive.trail_name(small_config)
    assert "LOG-01" in trail["Metadata"]["Charter"]["Controls"]


@pytest.mark.parametrize("days", [365, 2557])
def test_cloudwatch_retention_equals_config_and_group_is_encrypted(days: int) -> None:
    data = cloudtrail.build(variant(log_retention_days=days))[0].template.to_dict()
    (group,) = _of_type(data, "AWS::Logs::LogGroup").values()
    assert group["Properties"]["RetentionInDays"] == days
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["TrailLogGroupKey", "Arn"]}
    assert {"LOG-01", "LOG-04"} <= set(group["Metadata"]["Charter"]["Controls"])
    trail = data["Resources"]["OrganizationTrail"]["Properties"]
    assert trail["CloudWatchLogsLogGroupArn"] == {"Fn::GetAtt": ["TrailLogGroup", "Arn"]}
    assert trail["CloudWatchLogsRoleArn"] == {"Fn::GetAtt": ["TrailLogsRole", "Arn"]}


def test_trail_logs_role_is_trusted_only_by_this_trail(trail_stack) -> None:
    role = trail_stack["Resources"]["TrailLogsRole"]["Properties"]
    (stmt,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert stmt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert "trail/acme-organization-trail" in stmt["Condition"]["StringEquals"]["aws:SourceArn"]["Fn::Sub"]
    (policy,) = role["Policies"]
    (write,) = policy["PolicyDocument"]["Statement"]
    assert write["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert write["Resource"][0]["Fn::Sub"].endswith("log-group:/charter/acme/organization-trail:log-stream:*")


def test_insights_and_data_events_follow_config() -> None:
    on = variant(cloudtrail={"insights": True, "data_events": ["s3", "lambda"]})
    p = cloudtrail.build(on)[0].template.to_dict()["Resources"]["OrganizationTrail"]["Properties"]
    assert {s["InsightType"] for s in p["InsightSelectors"]} == {"ApiCallRateInsight", "ApiErrorRateInsight"}
    names = [s["Name"] for s in p["AdvancedEventSelectors"]]
    assert names == ["ManagementEvents", "DataEventsS3", "DataEventsLambda"]
    s3 = p["AdvancedEventSelectors"][1]["FieldSelectors"]
    assert {"Field": "resources.type", "Equals": ["AWS::S3::Object"]} in s3
    # the trail's own deliveries to the archive bucket are not logged again
    assert any(f["Field"] == "resources.ARN" and "NotStartsWith" in f for f in s3)

    off = variant(cloudtrail={"insights": False, "data_events": []})
    p = cloudtrail.build(off)[0].template.to_dict()["Resources"]["OrganizationTrail"]["Properties"]
    assert "InsightSelectors" not in p
    assert [s["Name"] for s in p["AdvancedEventSelectors"]] == ["ManagementEvents"]


def test_cloudtrail_disabled_emits_nothing_and_log01_becomes_a_gap() -> None:
    cfg = variant(cloudtrail={"enabled": False})
    assert cloudtrail.build(cfg) == []
    archive = log_archive.build(cfg)[0].template.to_dict()
    assert "CloudTrailBucket" not in archive["Resources"]
    controls = {c for s in synthesize(cfg, {n: b for n, b in builders().items() if n in MY_BUILDERS})
                for c in s.controls}
    assert "LOG-01" not in controls


def test_deployments(small_config) -> None:
    (arch, _replica) = log_archive.build(small_config)
    assert arch.deployment.kind == "stack" and arch.deployment.account == "log-archive"
    assert arch.deployment.order == 10 and arch.deployment.regions == ["us-east-1"]
    (trail,) = cloudtrail.build(small_config)
    assert trail.deployment.account == "management" and trail.deployment.order == 20
    assert trail.deployment.depends_on == ["log-archive"]


# -- log archive ------------------------------------------------------------------------

def test_every_archive_bucket_is_private_encrypted_tls_only_and_logged(archive) -> None:
    buckets = _of_type(archive, "AWS::S3::Bucket")
    assert set(buckets) == {"AccessLogBucket", "CloudTrailBucket", "ConfigBucket", "FlowLogsBucket"}
    for name, res in buckets.items():
        p = res["Properties"]
        assert all(p["PublicAccessBlockConfiguration"].values()), name
        assert len(p["PublicAccessBlockConfiguration"]) == 4, name
        assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
        assert p["VersioningConfiguration"] == {"Status": "Enabled"}, name
        assert res["DeletionPolicy"] == "Retain", name
        tls = _policy_of(archive, name)[0]
        assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        if name != "AccessLogBucket":
            assert p["LoggingConfiguration"]["DestinationBucketName"] == {
                "Fn::Sub": "acme-s3-access-logs-${AWS::AccountId}-${AWS::Region}"}
            sse = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            assert sse["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": ["LogsKey", "Arn"]}
            deny = [s for s in _policy_of(archive, name) if s.get("Sid") == "DenyLogDeletion"]
            assert deny and "s3:DeleteObjectVersion" in deny[0]["Action"], name


@pytest.mark.parametrize("days", [365, 3650])
def test_cloudtrail_bucket_object_lock_retention_from_config(days: int) -> None:
    data = log_archive.build(variant(object_lock_days=days))[0].template.to_dict()
    p = data["Resources"]["CloudTrailBucket"]["Properties"]
    assert p["ObjectLockEnabled"] is True
    assert p["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": days}
    (rule,) = [r for r in p["LifecycleConfiguration"]["Rules"] if r["Id"] == "ArchiveThenExpire"]
    assert rule["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 90}]
    # logs are never expired before the lock and the retention period both end
    assert rule["ExpirationInDays"] >= max(days, 2557)
    assert {"LOG-03"} <= set(data["Resources"]["CloudTrailBucket"]["Metadata"]["Charter"]["Controls"])


def test_cloudtrail_bucket_accepts_only_the_org_trail(archive) -> None:
    stmts = {s["Sid"]: s for s in _policy_of(archive, "CloudTrailBucket")}
    write = stmts["CloudTrailOrganizationWrite"]
    assert write["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    cond = write["Condition"]["StringEquals"]
    # both conditions survive (awacs keeps one element per operator)
    assert cond["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert "trail/acme-organization-trail" in cond["aws:SourceArn"]["Fn::Sub"]
    paths = [r["Fn::Sub"] for r in write["Resource"]]
    assert any(p.endswith("/AWSLogs/${OrganizationId}/*") for p in paths)
    assert "aws:SourceArn" in stmts["CloudTrailAclCheck"]["Condition"]["StringEquals"]


@pytest.mark.parametrize("bucket,service", [("ConfigBucket", "config.amazonaws.com"),
                                            ("FlowLogsBucket", "delivery.logs.amazonaws.com")])
def test_org_delivery_buckets_pinned_to_the_organization(archive, bucket: str, service: str) -> None:
    allows = [s for s in _policy_of(archive, bucket) if s["Effect"] == "Allow"]
    assert allows
    for s in allows:
        assert s["Principal"] == {"Service": service}
        assert s["Condition"]["StringEquals"]["aws:SourceOrgID"] == {"Ref": "OrganizationId"}
    puts = [s for s in allows if s["Action"] == ["s3:PutObject"]]
    assert puts[0]["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"


def test_logs_key_rotates_and_separates_admins_from_users(small_config, archive) -> None:
    key = archive["Resources"]["LogsKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert key["RotationPeriodInDays"] == small_config.baseline.kms_rotation_days
    stmts = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    admin_actions = stmts["KeyAdministration"]["Action"]
    for crypto in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:*"):
        assert crypto not in admin_actions
    assert stmts["CloudTrailEncrypt"]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert "aws:SourceArn" in stmts["CloudTrailEncrypt"]["Condition"]["StringEquals"]
    for sid, service in (("ConfigDelivery", "config.amazonaws.com"), ("FlowLogDelivery", "delivery.logs.amazonaws.com")):
        assert stmts[sid]["Principal"] == {"Service": service}
        assert stmts[sid]["Condition"]["StringEquals"]["aws:SourceOrgID"] == {"Ref": "OrganizationId"}
    assert archive["Resources"]["LogsKeyAlias"]["Properties"]["AliasName"] == log_archive.logs_key_alias(small_config)
    assert "LogsKeyArn" in archive["Outputs"]


# -- all of this builder family's stacks -----------------------------------------------

def _principal_values(principal: Any) -> list[Any]:
    if isinstance(principal, dict):
        return [v for vs in principal.values() for v in (vs if isinstance(vs, list) else [vs])]
    return [principal]


def _policies(data: dict):
    """(resource, document, is_trust) of every bucket/topic/key policy and IAM trust policy."""
    for name, res in data["Resources"].items():
        p = res.get("Properties", {})
        if res["Type"] in ("AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy"):
            yield name, p["PolicyDocument"], False
        elif res["Type"] == "AWS::KMS::Key":
            yield name, p["KeyPolicy"], False
        elif res["Type"] == "AWS::IAM::Role":
            yield name, p["AssumeRolePolicyDocument"], True


ALL_ON = dict(cloudtrail={"data_events": ["s3", "lambda", "dynamodb"]}, inspector={"enabled": True})


@pytest.mark.parametrize("overrides", [{}, ALL_ON], ids=["small", "everything-on"])
def test_no_policy_allows_an_unconditioned_star_and_trusts_name_principals(overrides) -> None:
    checked = 0
    for stack, data in stacks(variant(**overrides)).items():
        for name, doc, is_trust in _policies(data):
            for stmt in doc["Statement"]:
                checked += 1
                where = f"{stack}/{name}/{stmt.get('Sid', '?')}"
                if stmt["Effect"] != "Allow":
                    continue
                assert "NotPrincipal" not in stmt, where
                if "*" in _principal_values(stmt["Principal"]):
                    assert stmt.get("Condition"), f"{where}: Allow to * without a condition"
                if is_trust:
                    values = _principal_values(stmt["Principal"])
                    assert values and "*" not in values, f"{where}: trust policy must name its principals"
    assert checked > 20


@pytest.mark.parametrize("overrides", [{}, ALL_ON], ids=["small", "everything-on"])
@pytest.mark.slow
def test_all_stacks_lint_clean(overrides, logging_linter: Linter, tmp_path: Path) -> None:
    files, findings = [], []
    for name, data in stacks(variant(**overrides)).items():
        findings += [f.render() for f in logging_linter.cfn_lint(name, data)]
        path = tmp_path / f"{name}.yaml"
        path.write_text(dump_yaml(data))
        files.append(path)
    checkov_findings, passed = logging_linter.checkov(files)
    assert findings + [f.render() for f in checkov_findings] == []
    assert passed > 50
    assert {f.stem for f in files} >= {"log-archive", "cloudtrail", "config-recorder", "detection"}
