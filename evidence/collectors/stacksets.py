"""StackSets (management account, home region): drift status of every stack set and
stack instance (read only; drift detection itself runs in `charter deploy`)."""

from __future__ import annotations

from datetime import timedelta

from charter.evidence.collectors import register
from charter.evidence.collectors.base import (
    Collector,
    Context,
    Recorder,
    Snapshot,
    item,
    parse_time,
)

#: Drift results older than this are stale evidence.
DRIFT_MAX_AGE = timedelta(days=7)


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    stack_sets = []
    for s in rec.drain("cloudformation", "list_stack_sets", "Summaries", Status="ACTIVE") or []:
        name = s["StackSetName"]
        detail = (rec.call("cloudformation", "describe_stack_set", StackSetName=name) or {}).get("StackSet", {})
        drift = detail.get("StackSetDriftDetectionDetails") or {}
        instances = rec.drain("cloudformation", "list_stack_instances", "Summaries", StackSetName=name) or []
        stack_sets.append({
            "name": name, "arn": detail.get("StackSetARN"), "drift": drift.get("DriftStatus") or s.get("DriftStatus"),
            "last_check": drift.get("LastDriftCheckTimestamp") or s.get("LastDriftCheckTimestamp"),
            "instances": [{"account": i.get("Account"), "region": i.get("Region"), "status": i.get("Status"),
                           "drift": i.get("DriftStatus"), "last_check": i.get("LastDriftCheckTimestamp")}
                          for i in instances]})
    return {"stack_sets": stack_sets}


def check_drift(snap: Snapshot, ctx: Context) -> list:
    out = []
    for ss in snap["stack_sets"]:
        checked = parse_time(ss["last_check"])
        if ss["drift"] in (None, "NOT_CHECKED") or checked is None:
            out.append(item(ss["arn"] or ss["name"], "CHG-02", False, "drift has never been detected"))
        elif ctx.now - checked > DRIFT_MAX_AGE:
            out.append(item(ss["arn"] or ss["name"], "CHG-02", False,
                            f"last drift check {checked:%Y-%m-%d} is older than {DRIFT_MAX_AGE.days} days"))
        else:
            out.append(item(ss["arn"] or ss["name"], "CHG-02", ss["drift"] == "IN_SYNC",
                            f"stack set {ss['drift']} at {checked:%Y-%m-%d %H:%M}Z"))
        for inst in ss["instances"]:
            iid = f"{ss['name']}/{inst['account']}/{inst['region']}"
            if inst["drift"] == "IN_SYNC":
                out.append(item(iid, "CHG-02", True, "instance IN_SYNC"))
            elif inst["drift"] == "DRIFTED":
                out.append(item(iid, "CHG-02", False, "instance DRIFTED"))
            else:
                out.append(item(iid, "CHG-02", False, f"instance drift {inst['drift'] or 'unknown'}"))
    return out


COLLECTOR = register(Collector(
    calls=("cloudformation:DescribeStackSet", "cloudformation:ListStackInstances",
           "cloudformation:ListStackSets"),
    name="stacksets", scope="global", management_only=True, services=("cloudformation",),
    description="Drift status of every StackSet and stack instance",
    fetch=fetch, checks=(("CHG-02", check_drift),), landing_zone=("CHG-02",),
))
