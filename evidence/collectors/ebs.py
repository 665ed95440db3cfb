"""EBS (regional): encryption by default."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    enabled = (rec.call("ec2", "get_ebs_encryption_by_default") or {}).get("EbsEncryptionByDefault")
    key = None
    if enabled:  # the key matters only when encryption by default is on
        key = (rec.call("ec2", "get_ebs_default_kms_key_id") or {}).get("KmsKeyId")
    return {"encryption_by_default": bool(enabled), "kms_key_id": key}


def check_default_encryption(snap: Snapshot, ctx: Context) -> list:
    on = snap["encryption_by_default"]
    return [item(f"{ctx.target.account_id}/{ctx.region}/ebs-encryption-by-default", "ENC-03", on,
                 f"EBS encryption by default is on (key {snap['kms_key_id'] or 'aws/ebs'})" if on
                 else "EBS encryption by default is off", kms_key_id=snap["kms_key_id"])]


COLLECTOR = register(Collector(
    calls=("ec2:GetEbsDefaultKmsKeyId", "ec2:GetEbsEncryptionByDefault"),
    name="ebs", scope="regional", services=("ec2",),
    description="EBS encryption by default and its KMS key",
    fetch=fetch, checks=(("ENC-03", check_default_encryption),),
))
