"""KMS (regional): rotation of every customer-managed key."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    aliases: dict[str, list[str]] = {}
    for alias in rec.drain("kms", "list_aliases", "Aliases") or []:
        if alias.get("TargetKeyId"):
            aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
    keys = []
    for key in rec.drain("kms", "list_keys", "Keys") or []:
        meta = (rec.call("kms", "describe_key", KeyId=key["KeyId"]) or {}).get("KeyMetadata", {})
        entry = {"id": key["KeyId"], "arn": meta.get("Arn", key.get("KeyArn")), "manager": meta.get("KeyManager"),
                 "state": meta.get("KeyState"), "spec": meta.get("KeySpec", "SYMMETRIC_DEFAULT"),
                 "origin": meta.get("Origin"), "aliases": aliases.get(key["KeyId"], []), "rotation": None}
        # Rotation exists only for enabled, symmetric, KMS-generated customer keys.
        if (entry["manager"] == "CUSTOMER" and entry["state"] == "Enabled" and entry["spec"] == "SYMMETRIC_DEFAULT"
                and entry["origin"] in (None, "AWS_KMS")):
            entry["rotation"] = rec.call("kms", "get_key_rotation_status", KeyId=key["KeyId"])
        keys.append(entry)
    return {"keys": keys}


def check_rotation(snap: Snapshot, ctx: Context) -> list:
    max_days = ctx.cfg.baseline.kms_rotation_days
    out = []
    for key in snap["keys"]:
        if key["manager"] != "CUSTOMER":
            continue  # AWS-managed keys rotate yearly by AWS; not in the population
        attrs = {"aliases": key["aliases"], "state": key["state"], "spec": key["spec"]}
        if key["rotation"] is None:
            out.append(item(key["arn"], "ENC-01", "not_applicable",
                            f"rotation does not apply ({key['state']}, {key['spec']}, origin {key['origin']})", **attrs))
            continue
        enabled = bool(key["rotation"].get("KeyRotationEnabled"))
        period = key["rotation"].get("RotationPeriodInDays")
        if not enabled:
            out.append(item(key["arn"], "ENC-01", False, "automatic rotation is disabled", **attrs))
        elif period and period > max_days:
            out.append(item(key["arn"], "ENC-01", False, f"rotates every {period} days (> {max_days})", **attrs))
        else:
            out.append(item(key["arn"], "ENC-01", True, f"rotation enabled every {period or 365} days", **attrs))
    return out


COLLECTOR = register(Collector(
    calls=("kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListKeys"),
    name="kms", scope="regional", services=("kms",),
    description="Rotation of every customer-managed KMS key",
    fetch=fetch, checks=(("ENC-01", check_rotation),),
))
