"""DynamoDB (regional): point-in-time recovery of every table."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    tables = []
    for name in rec.drain("dynamodb", "list_tables", "TableNames") or []:
        backups = (rec.call("dynamodb", "describe_continuous_backups", TableName=name) or {}).get(
            "ContinuousBackupsDescription", {})
        pitr = backups.get("PointInTimeRecoveryDescription") or {}
        tables.append({"name": name, "pitr": pitr.get("PointInTimeRecoveryStatus"),
                       "earliest": pitr.get("EarliestRestorableDateTime")})
    return {"tables": tables}


def check_pitr(snap: Snapshot, ctx: Context) -> list:
    return [item(t["name"], "BCK-03", t["pitr"] == "ENABLED",
                 "point-in-time recovery enabled" if t["pitr"] == "ENABLED" else f"PITR {t['pitr'] or 'off'}",
                 earliest_restorable=t["earliest"]) for t in snap["tables"]]


COLLECTOR = register(Collector(
    calls=("dynamodb:DescribeContinuousBackups", "dynamodb:ListTables"),
    name="dynamodb", scope="regional", services=("dynamodb",),
    description="Point-in-time recovery of every DynamoDB table",
    fetch=fetch, checks=(("BCK-03", check_pitr),),
))
