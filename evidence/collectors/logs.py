"""CloudWatch Logs (regional): retention of every log group against the config."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    groups = rec.drain("logs", "describe_log_groups", "logGroups") or []
    return {"log_groups": [{"name": g["logGroupName"], "arn": g.get("arn"), "retention": g.get("retentionInDays"),
                            "kms_key_id": g.get("kmsKeyId")} for g in groups]}


def expected_retention(name: str, ctx: Context) -> int:
    """Flow-log groups keep `network.flow_log_retention_days`; every other group `log_retention_days`."""
    if "flow-log" in name.lower():
        return ctx.cfg.baseline.network.flow_log_retention_days
    return ctx.cfg.baseline.log_retention_days


def check_retention(snap: Snapshot, ctx: Context) -> list:
    out = []
    for group in snap["log_groups"]:
        want = expected_retention(group["name"], ctx)
        have = group["retention"]
        if have is None:
            out.append(item(group["name"], "LOG-04", False, f"never expires; config says {want} days"))
        elif have != want:
            out.append(item(group["name"], "LOG-04", False,
                            f"retention {have} days, config says {want} ({'too short' if have < want else 'kept longer than the retention policy'})",
                            retention_days=have))
        else:
            out.append(item(group["name"], "LOG-04", True, f"retention {have} days as configured", retention_days=have))
    return out


COLLECTOR = register(Collector(
    calls=("logs:DescribeLogGroups",),
    name="logs", scope="regional", services=("logs",),
    description="CloudWatch Logs retention of every log group vs the config",
    fetch=fetch, checks=(("LOG-04", check_retention),),
))
