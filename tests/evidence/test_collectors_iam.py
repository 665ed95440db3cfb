"""IAM collector against in-process moto: credential report incl. root, password policy,
MFA per console user, access key age and use, admin policies; plus the recording rules."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from collectors_testkit import ACCOUNT, results, run_collector
from moto import mock_aws

from charter.evidence.artifact import utcnow
from charter.evidence.collectors import all_collectors, collectors_for, get
from charter.evidence.collectors.base import Context, Target
from charter.evidence.collectors.iam import check_password_policy


@pytest.fixture()
def aws(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("iam")


def _seed(iam):
    iam.create_user(UserName="alice")  # console, no MFA
    iam.create_login_profile(UserName="alice", Password="Xx1!" * 5)
    iam.create_user(UserName="bob")  # console + MFA
    iam.create_login_profile(UserName="bob", Password="Xx1!" * 5)
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="bob")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="bob", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    iam.create_user(UserName="svc")  # programmatic only
    key = iam.create_access_key(UserName="svc")["AccessKey"]["AccessKeyId"]
    admin = iam.create_policy(PolicyName="too-broad", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    iam.attach_user_policy(UserName="svc", PolicyArn=admin["Policy"]["Arn"])
    narrow = iam.create_policy(PolicyName="narrow", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    iam.attach_user_policy(UserName="svc", PolicyArn=narrow["Policy"]["Arn"])
    return key, admin["Policy"]["Arn"], narrow["Policy"]["Arn"]


def test_iam_population_and_results(aws):
    key, admin_arn, narrow_arn = _seed(aws)
    aws.update_account_password_policy(MinimumPasswordLength=8, RequireSymbols=True)
    art = run_collector("iam")
    assert art.kind == "evidence" and art.collector == "iam"
    assert art.controls == ["IAM-01", "IAM-02", "IAM-03", "IAM-04", "IAM-05"]
    assert "CC6.1" in art.criteria

    mfa = {k.rsplit("/", 1)[-1]: v for k, v in results(art, "IAM-03").items()}
    assert mfa == {"alice": "fail", "bob": "pass", "svc": "not_applicable"}
    assert results(art, "IAM-01") == {"account-password-policy": "fail"}
    reason = next(p.reason for p in art.population if p.control == "IAM-01")
    assert "minimum length 8 < 14" in reason and "max age unset" in reason
    # root row of the credential report is evaluated (moto's root has no MFA)
    root = [p for p in art.population if p.control == "IAM-02"]
    assert len(root) == 1 and root[0].id.endswith(":root")
    assert results(art, "IAM-05") == {admin_arn: "fail", narrow_arn: "pass"}
    # a fresh key passes; the same key seen 120 days later is unrotated and unused
    assert results(art, "IAM-04")[f"svc/{key}"] == "pass"
    later = run_collector("iam", now=utcnow() + timedelta(days=120, hours=1))  # whole days, not 119.99
    item = next(p for p in later.population if p.id == f"svc/{key}")
    assert item.result == "fail" and "not rotated for 120 days" in item.reason


def test_iam_recording_is_complete_and_json_safe(aws):
    _seed(aws)
    art = run_collector("iam")
    report = art.raw["responses"]["iam:GetCredentialReport"]
    assert report["Content"].startswith("user,arn,")  # the CSV, decoded
    assert len(art.raw["snapshot"]["credential_report"]) == 3  # one row per user (moto omits root)
    assert any(c.operation == "GenerateCredentialReport" for c in art.calls)
    # every paginated call drained and no call made twice with the same parameters
    assert art.all_drained
    keyed = [(c.service, c.operation, json.dumps(c.parameters, sort_keys=True)) for c in art.calls
             if c.operation != "GenerateCredentialReport"]
    assert len(keyed) == len(set(keyed))
    list_users = next(c for c in art.calls if c.operation == "ListUsers")
    assert list_users.pages >= 1 and list_users.region == "us-east-1"
    text = art.canonical_json().decode()
    assert "ResponseMetadata" not in text and "RequestId" not in text
    assert len(art.sha256) == 64


def test_strong_password_policy_passes_pure_check():
    from collectors_testkit import small_config

    cfg = small_config()
    ctx = Context(cfg, Target(ACCOUNT, "prod", "us-east-1", "prod"))
    good = {"MinimumPasswordLength": 14, "RequireSymbols": True, "RequireNumbers": True,
            "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True, "MaxPasswordAge": 90,
            "PasswordReusePrevention": 24}
    assert check_password_policy({"password_policy": good}, ctx)[0].result == "pass"
    assert check_password_policy({"password_policy": {**good, "MaxPasswordAge": 365}}, ctx)[0].result == "fail"
    assert check_password_policy({"password_policy": None}, ctx)[0].result == "fail"


def test_root_row_of_credential_report():
    from collectors_testkit import small_config

    from charter.evidence.collectors.iam import check_root

    ctx = Context(small_config(), Target(ACCOUNT, "prod", "us-east-1", "prod"))
    row = {"user": "<root_account>", "arn": f"arn:aws:iam::{ACCOUNT}:root", "mfa_active": "true",
           "access_key_1_active": "false", "access_key_2_active": "false", "password_last_used": "N/A"}
    assert check_root({"credential_report": [row], "summary": {}}, ctx)[0].result == "pass"
    keyed = check_root({"credential_report": [{**row, "access_key_1_active": "true"}], "summary": {}}, ctx)[0]
    assert keyed.result == "fail" and "access keys" in keyed.reason
    no_mfa = check_root({"credential_report": [{**row, "mfa_active": "false"}], "summary": {}}, ctx)[0]
    assert no_mfa.result == "fail" and "MFA" in no_mfa.reason
    # no root row at all is never a pass, and not a failure of root's settings either: a gap, with why
    unread = check_root({"credential_report": [], "summary": {}}, ctx)[0]
    assert unread.result == "gap" and "could not be read" in unread.reason
    assert "iam:GetCredentialReport" in unread.reason
    rootless = check_root({"credential_report": [{**row, "user": "alice"}], "summary": {}}, ctx)[0]
    assert rootless.result == "gap" and "no <root_account> row" in rootless.reason


@pytest.mark.parametrize(("last_used", "created_days_ago", "result", "reason"), [
    (None, 0, "pass", "console password never used (user created today)"),
    (None, 30, "pass", "console password never used (user created 30 days ago)"),
    (None, 120, "fail", "console password never used in the 120 days since the user was created (> 90)"),
    (0, 200, "pass", "console password last used today"),
    (1, 200, "pass", "console password last used 1 day ago"),
    (95, 200, "fail", "console password unused for 95 days (> 90)"),
])
def test_console_password_use_is_worded_as_it_happened(last_used, created_days_ago, result, reason):
    from collectors_testkit import small_config

    from charter.evidence.collectors.iam import check_credentials

    now = utcnow()
    ctx = Context(small_config(), Target(ACCOUNT, "prod", "us-east-1", "prod"), now=now)
    user = {"name": "alice", "arn": "arn:aws:iam::1:user/alice", "console": True, "access_keys": [],
            "created": (now - timedelta(days=created_days_ago, hours=1)).isoformat(),
            "password_last_used": None if last_used is None else (now - timedelta(days=last_used, hours=1)).isoformat()}
    got = check_credentials({"users": [user]}, ctx)[0]
    assert (got.result, got.reason) == (result, reason)


def test_registry_lists_every_collector_with_controls():
    names = [c.name for c in all_collectors()]
    for expected in ("iam", "cloudtrail", "config", "securityhub", "guardduty", "kms", "s3", "ebs", "vpc", "logs",
                     "backup", "dynamodb", "organizations", "stacksets", "identity_center", "access_analyzer"):
        assert expected in names
    assert {c.name for c in collectors_for("ENC-04")} >= {"s3", "organizations"}
    assert get("organizations").management_only and get("iam").scope == "global"
    from charter.errors import CharterError

    with pytest.raises(CharterError, match="unknown evidence collector"):
        get("nope")
