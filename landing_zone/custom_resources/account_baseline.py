"""Custom resource: account settings CloudFormation has no resource for (IAM-01, DAT-01, ENC-03, NET-02).

Resource types handled (one Lambda per account and region serves them all):

- `Custom::AccountBaseline` with properties
  `PasswordPolicy` {MinimumPasswordLength, MaxPasswordAge, PasswordReusePrevention},
  `ApplyGlobal` ("true" only in the home region: the password policy and the S3 account
  public access block are account-wide, not regional) and `EbsKmsKeyId` (the environment
  key; EBS encryption by default is regional so it is set in every region) and
  `BackupRegionSettings` ("true" where Charter backs up): AWS Backup's full management of
  DynamoDB, the advanced features that cross-region copies of tables need (regional, and
  CloudFormation has no resource for it: `UpdateRegionSettings`). The backup selections name
  their resource types, so the service opt-in settings do not apply to them.
- `Custom::DefaultSecurityGroupClosed` with `GroupId`: revokes every rule of a VPC's
  default security group (CloudFormation cannot edit it).

Create and Update apply the desired state; every call is idempotent (a PUT of the same
settings). Delete deliberately restores nothing: deleting a stack must never weaken an
account's security, so the protections stay on and the custom resource simply forgets
them (the SCPs and Config rules keep watching them).

CloudFormation is always answered: a watchdog timer answers FAILED shortly before the
Lambda time limit, any exception answers FAILED with its reason, and only one answer is
ever sent. The code is stdlib + boto3 only and is inlined into the template (ZipFile).
CloudFormation passes every property value as a string, hence the int()/"true" parsing.
"""

import json
import threading
import urllib.request

import boto3
from botocore.config import Config

_CFG = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 4, "mode": "standard"})


def _client(service):
    return boto3.client(service, config=_CFG)


def _on(*names):
    return dict.fromkeys(names, True)


def _password_policy(props):
    p = props.get("PasswordPolicy") or {}
    _client("iam").update_account_password_policy(
        MinimumPasswordLength=int(p.get("MinimumPasswordLength", 14)),
        MaxPasswordAge=int(p.get("MaxPasswordAge", 90)),
        PasswordReusePrevention=int(p.get("PasswordReusePrevention", 24)),
        HardExpiry=False,  # the default; said so an expired password never locks out
        **_on("RequireSymbols", "RequireNumbers", "RequireUppercaseCharacters", "RequireLowercaseCharacters",
              "AllowUsersToChangePassword"),
    )


def _public_access_block(account):
    _client("s3control").put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=_on(
        "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))


def _ebs_encryption(key_id):
    ec2 = _client("ec2")
    ec2.enable_ebs_encryption_by_default()
    if key_id:
        ec2.modify_ebs_default_kms_key_id(KmsKeyId=key_id)


def _close_default_sg(group_id):
    ec2 = _client("ec2")
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    for direction, perms in (("ingress", group.get("IpPermissions")), ("egress", group.get("IpPermissionsEgress"))):
        if perms:
            getattr(ec2, f"revoke_security_group_{direction}")(GroupId=group_id, IpPermissions=perms)


def apply(event, account):
    """Bring the account to the desired state; returns the response Data."""
    props = event.get("ResourceProperties") or {}
    if event.get("ResourceType") == "Custom::DefaultSecurityGroupClosed":
        _close_default_sg(props["GroupId"])
        return {"GroupId": props["GroupId"]}
    applied = []
    if str(props.get("ApplyGlobal")).lower() == "true":
        _password_policy(props)
        _public_access_block(account)
        applied += ["PasswordPolicy", "S3PublicAccessBlock"]
    _ebs_encryption(props.get("EbsKmsKeyId"))
    if props.get("BackupRegionSettings") == "true":
        # a partial map: the other resource types keep their setting
        _client("backup").update_region_settings(ResourceTypeManagementPreference=_on("DynamoDB"))
        applied += ["BackupRegionSettings"]
    return {"Applied": ",".join(applied + ["EbsEncryptionByDefault"])}


class _Responder:
    """Sends exactly one answer to CloudFormation's pre-signed ResponseURL."""

    def __init__(self, event, context):
        self.event, self.context, self.lock, self.sent = event, context, threading.Lock(), False

    def send(self, status, reason="", data=None, physical_id=None):
        with self.lock:
            if self.sent:
                return
            self.sent = True
        e = self.event
        body = {"Status": status, "Reason": "", "StackId": e.get("StackId"), "RequestId": e.get("RequestId"),
                "LogicalResourceId": e.get("LogicalResourceId"),
                "PhysicalResourceId": physical_id or e.get("PhysicalResourceId") or e.get("LogicalResourceId"),
                "Data": data or {}}
        # the whole response must stay under 4,096 bytes: the reason is what gets cut
        room = 4000 - len(json.dumps(body))
        body["Reason"] = (reason + f" (log stream {self.context.log_stream_name})")[:max(room, 0)]
        raw = json.dumps(body).encode()
        req = urllib.request.Request(e["ResponseURL"], data=raw, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(raw))})
        for _ in range(3):
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
                return
            except Exception as exc:  # an unanswered stack hangs for an hour: retry, then log
                print("response failed:", exc)


def handler(event, context):
    print(json.dumps({k: v for k, v in event.items() if k != "ResponseURL"}))
    responder = _Responder(event, context)
    # answer 5 s before Lambda would kill us
    seconds = max(context.get_remaining_time_in_millis() - 5000, 1000) / 1000
    watchdog = threading.Timer(seconds, responder.send, ("FAILED", "timed out: Lambda limit"))
    watchdog.daemon = True
    watchdog.start()
    account = context.invoked_function_arn.split(":")[4]
    physical_id = event.get("PhysicalResourceId") or f"charter-{event.get('LogicalResourceId')}-{account}"
    try:
        if event["RequestType"] == "Delete":
            # leave every protection on: removing a stack must not weaken the account
            responder.send("SUCCESS", "left in place", physical_id=physical_id)
        else:
            responder.send("SUCCESS", "applied", apply(event, account), physical_id)
    except Exception as exc:
        responder.send("FAILED", f"{type(exc).__name__}: {exc}", physical_id=physical_id)
    finally:
        watchdog.cancel()
