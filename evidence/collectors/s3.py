"""S3 (global, once per account): account and bucket public access block, encryption,
TLS-only policy, server access logging, versioning and Object Lock of every bucket."""

from __future__ import annotations

import json
from typing import Any

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item

PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_LOG_KINDS = ("cloudtrail", "config", "flow-logs")


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    account_pab = rec.call("s3control", "get_public_access_block", AccountId=ctx.target.account_id,
                           expected=("NoSuchPublicAccessBlockConfiguration",))
    buckets = []
    for bucket in rec.drain("s3", "list_buckets", "Buckets") or []:
        name = bucket["Name"]
        location = (rec.call("s3", "get_bucket_location", Bucket=name) or {}).get("LocationConstraint")
        region = location or "us-east-1"
        if region == "EU":
            region = "eu-west-1"

        def get(method: str, expected: tuple[str, ...], region: str = region, name: str = name) -> Any:
            return rec.call("s3", method, region=region, expected=expected, Bucket=name)

        pab = get("get_public_access_block", ("NoSuchPublicAccessBlockConfiguration",))
        enc = get("get_bucket_encryption", ("ServerSideEncryptionConfigurationNotFoundError",))
        policy = get("get_bucket_policy", ("NoSuchBucketPolicy",))
        versioning = get("get_bucket_versioning", ())
        lock = get("get_object_lock_configuration", ("ObjectLockConfigurationNotFoundError",))
        logging = get("get_bucket_logging", ())
        rules = ((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules", [])
        buckets.append({
            "name": name, "region": region,
            "public_access_block": (pab or {}).get("PublicAccessBlockConfiguration"),
            "encryption": [r.get("ApplyServerSideEncryptionByDefault", {}) for r in rules],
            "policy": json.loads(policy["Policy"]) if policy and policy.get("Policy") else None,
            "versioning": (versioning or {}).get("Status"),
            "object_lock": (lock or {}).get("ObjectLockConfiguration"),
            "logging": (logging or {}).get("LoggingEnabled"),
        })
    return {"account_public_access_block": (account_pab or {}).get("PublicAccessBlockConfiguration"),
            "buckets": buckets}


def _pab_on(config: dict | None) -> bool:
    return bool(config) and all(config.get(flag) for flag in PAB_FLAGS)


def check_public_access(snap: Snapshot, ctx: Context) -> list:
    account_on = _pab_on(snap["account_public_access_block"])
    out = [item(f"{ctx.target.account_id}/account-public-access-block", "DAT-01", account_on,
                "all four account-level settings on" if account_on
                else "account-level public access block is missing or partial",
                **(snap["account_public_access_block"] or {}))]
    for b in snap["buckets"]:
        on = _pab_on(b["public_access_block"])
        out.append(item(b["name"], "DAT-01", on or account_on,
                        "bucket public access block on" if on else
                        "covered by the account-level block only" if account_on else "public access not blocked",
                        **(b["public_access_block"] or {})))
    return out


def check_encryption(snap: Snapshot, ctx: Context) -> list:
    out = []
    for b in snap["buckets"]:
        algos = [e.get("SSEAlgorithm") for e in b["encryption"]]
        kms = any(a in ("aws:kms", "aws:kms:dsse") for a in algos)
        out.append(item(b["name"], "ENC-02", kms,
                        "default encryption SSE-KMS" if kms else
                        f"default encryption {algos[0]} (SSE-KMS required)" if algos else "no default encryption",
                        algorithms=algos, kms_keys=[e.get("KMSMasterKeyID") for e in b["encryption"]],
                        versioning=b["versioning"]))
    return out


def denies_insecure_transport(policy: dict | None) -> bool:
    """A Deny on all principals when aws:SecureTransport is false (the S3_BUCKET_SSL_REQUESTS_ONLY shape)."""
    statements = (policy or {}).get("Statement", [])
    for st in statements if isinstance(statements, list) else [statements]:
        if st.get("Effect") != "Deny" or st.get("Principal") not in ("*", {"AWS": "*"}, {"AWS": ["*"]}):
            continue
        cond = st.get("Condition", {}).get("Bool", {})
        if str(cond.get("aws:SecureTransport", "")).lower() == "false":
            actions = st.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if any(a in ("s3:*", "*") for a in actions):
                return True
    return False


def check_tls(snap: Snapshot, ctx: Context) -> list:
    return [item(b["name"], "ENC-04", denies_insecure_transport(b["policy"]),
                 "bucket policy denies requests without TLS" if denies_insecure_transport(b["policy"])
                 else "no bucket policy statement denies aws:SecureTransport=false" if b["policy"]
                 else "no bucket policy (TLS not enforced)") for b in snap["buckets"]]


def check_access_logging(snap: Snapshot, ctx: Context) -> list:
    sink = f"{ctx.cfg.organization.name}-s3-access-logs-"
    # a bucket that receives other buckets' access logs would log its own log deliveries
    # (AWS advises against it): Charter's sink by name, or any bucket another one logs to
    targets = {(b["logging"] or {}).get("TargetBucket") for b in snap["buckets"]} - {None}
    out = []
    for b in snap["buckets"]:
        if b["name"].startswith(sink) or (b["name"] in targets and not b["logging"]):
            out.append(item(b["name"], "LOG-05", "not_applicable", "this is an access-log destination bucket"))
        elif b["logging"]:
            out.append(item(b["name"], "LOG-05", True, f"access logs to {b['logging'].get('TargetBucket')}",
                            target=b["logging"].get("TargetBucket")))
        else:
            out.append(item(b["name"], "LOG-05", False, "server access logging is off"))
    return out


def check_log_archive(snap: Snapshot, ctx: Context) -> list:
    """Log-archive buckets: Object Lock in COMPLIANCE mode for the configured days, versioning on."""
    org = ctx.cfg.organization.name
    days = ctx.cfg.baseline.object_lock_days
    out = []
    for b in snap["buckets"]:
        if not any(b["name"].startswith(f"{org}-{kind}-") for kind in _LOG_KINDS):
            continue
        lock = b["object_lock"] or {}
        retention = ((lock.get("Rule") or {}).get("DefaultRetention") or {})
        kept = retention.get("Days") or (retention.get("Years") or 0) * 365
        problems = []
        if lock.get("ObjectLockEnabled") != "Enabled" or retention.get("Mode") != "COMPLIANCE":
            problems.append("Object Lock in COMPLIANCE mode is not the default")
        elif kept < days:
            problems.append(f"default retention {kept} days < {days}")
        if b["versioning"] != "Enabled":
            problems.append("versioning is not enabled")
        if not denies_insecure_transport(b["policy"]):
            problems.append("TLS is not enforced")
        out.append(item(b["name"], "LOG-03", not problems, "; ".join(problems) or
                        f"Object Lock COMPLIANCE {kept} days, versioned, TLS-only", object_lock=lock))
    if not out and ctx.target.environment == "log-archive":
        out.append(item(f"{ctx.target.account_id}/log-archive-buckets", "LOG-03", False,
                        f"no {org}-cloudtrail/config/flow-logs bucket in the log-archive account"))
    return out


COLLECTOR = register(Collector(
    calls=("s3:GetAccountPublicAccessBlock", "s3:GetBucketLocation", "s3:GetBucketLogging",
           "s3:GetBucketObjectLockConfiguration", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock",
           "s3:GetBucketVersioning", "s3:GetEncryptionConfiguration", "s3:ListAllMyBuckets"),
    name="s3", scope="global", services=("s3", "s3control"),
    description="Account and bucket public access block, SSE-KMS, TLS-only policy, access logging, "
                "versioning and Object Lock",
    fetch=fetch,
    checks=(("DAT-01", check_public_access), ("ENC-02", check_encryption), ("ENC-04", check_tls),
            ("LOG-05", check_access_logging), ("LOG-03", check_log_archive)),
    landing_zone=("LOG-03",),
))
