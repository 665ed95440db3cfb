"""Custom resource: account settings CloudFormation has no resource for (IAM-01, DAT-01, ENC-03, NET-02).

Resource types handled (one Lambda per account and region serves them all):

- `Custom::AccountBaseline` with properties
  `PasswordPolicy` {MinimumPasswordLength, MaxPasswordAge, PasswordReusePrevention},
  `ApplyGlobal` ("true" only in the home region: the password policy and the S3 account
  public access block are account-wide, not regional) and `EbsKmsKeyId` (the environment
  key; EBS encryption by default is regional so it is set in every region).
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
_SAFETY_MS = 5000  # answer this long before Lambda would kill us


def _password_policy(props):
    p = props.get("PasswordPolicy") or {}
    boto3.client("iam", config=_CFG).update_account_password_policy(
        MinimumPasswordLength=int(p.get("MinimumPasswordLength", 14)),
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True,
        MaxPasswordAge=int(p.get("MaxPasswordAge", 90)),
        PasswordReusePrevention=int(p.get("PasswordReusePrevention", 24)),
        HardExpiry=False,
    )


def _public_access_block(account):
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    boto3.client("s3control", config=_CFG).put_public_access_block(
        AccountId=account, PublicAccessBlockConfiguration={f: True for f in flags})


def _ebs_encryption(key_id):
    ec2 = boto3.client("ec2", config=_CFG)
    ec2.enable_ebs_encryption_by_default()
    if key_id:
        ec2.modify_ebs_default_kms_key_id(KmsKeyId=key_id)


def _close_default_sg(group_id):
    ec2 = boto3.client("ec2", config=_CFG)
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
    if str(props.get("ApplyGlobal", "false")).lower() == "true":
        _password_policy(props)
        _public_access_block(account)
        applied += ["PasswordPolicy", "S3PublicAccessBlock"]
    _ebs_encryption(props.get("EbsKmsKeyId"))
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
        for attempt in range(3):
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
                return
            except Exception as exc:  # an unanswered stack hangs for an hour: retry, then log
                print(f"response attempt {attempt + 1} failed: {exc}")


def handler(event, context):
    print(json.dumps({k: v for k, v in event.items() if k != "ResponseURL"}))
    responder = _Responder(event, context)
    seconds = max(context.get_remaining_time_in_millis() - _SAFETY_MS, 1000) / 1000
    watchdog = threading.Timer(seconds, responder.send, ("FAILED", "timed out before the Lambda time limit"))
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
