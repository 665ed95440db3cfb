"""Security Hub (regional): hub enabled, standards enabled, counts of active critical and
high findings."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item

#: Config names of standards -> the fragment of their StandardsArn.
STANDARDS = {"fsbp": "aws-foundational-security-best-practices/v/1.0.0",
             "cis-3.0": "cis-aws-foundations-benchmark/v/3.0.0"}
_NOT_ENABLED = ("InvalidAccessException",)
FINDING_FILTERS = {
    "SeverityLabel": [{"Value": "CRITICAL", "Comparison": "EQUALS"}, {"Value": "HIGH", "Comparison": "EQUALS"}],
    "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    "WorkflowStatus": [{"Value": "NEW", "Comparison": "EQUALS"}, {"Value": "NOTIFIED", "Comparison": "EQUALS"}],
}


def _trim(finding: dict) -> dict:
    """Findings are large; the evidence keeps what identifies and ranks them."""
    return {"Id": finding.get("Id"), "Title": finding.get("Title"), "GeneratorId": finding.get("GeneratorId"),
            "Severity": (finding.get("Severity") or {}).get("Label"),
            "Resources": [r.get("Id") for r in finding.get("Resources", [])],
            "UpdatedAt": finding.get("UpdatedAt")}


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    hub = rec.call("securityhub", "describe_hub", expected=_NOT_ENABLED)
    if hub is None:
        return {"enabled": False, "standards": [], "findings": {}}
    standards = rec.drain("securityhub", "get_enabled_standards", "StandardsSubscriptions") or []
    findings = rec.drain("securityhub", "get_findings", "Findings", trim=_trim, Filters=FINDING_FILTERS,
                         MaxResults=100) or []
    counts = {"CRITICAL": 0, "HIGH": 0}
    for f in findings:
        label = (f.get("Severity") or {}).get("Label")
        if label in counts:
            counts[label] += 1
    return {"enabled": True, "hub_arn": hub.get("HubArn"), "subscribed_at": hub.get("SubscribedAt"),
            "standards": [{"arn": s["StandardsArn"], "status": s.get("StandardsStatus")} for s in standards],
            "findings": counts}


def check_hub(snap: Snapshot, ctx: Context) -> list:
    hid = f"{ctx.target.account_id}/{ctx.region}/securityhub"
    if not snap["enabled"]:
        return [item(hid, "MON-04", False, "Security Hub is not enabled")]
    out = [item(snap["hub_arn"] or hid, "MON-04", True, "Security Hub enabled",
                critical_findings=snap["findings"].get("CRITICAL", 0), high_findings=snap["findings"].get("HIGH", 0))]
    for name in ctx.cfg.baseline.security_hub.standards:
        found = [s for s in snap["standards"] if STANDARDS[name] in s["arn"]]
        ready = [s for s in found if s["status"] == "READY"]
        out.append(item(f"{hid}/standard/{name}", "MON-04", bool(ready),
                        "enabled (READY)" if ready else f"enabled but {found[0]['status']}" if found else "not enabled",
                        arns=[s["arn"] for s in found]))
    return out


COLLECTOR = register(Collector(
    calls=("securityhub:DescribeHub", "securityhub:GetEnabledStandards", "securityhub:GetFindings"),
    name="securityhub", scope="regional", services=("securityhub",),
    description="Security Hub enabled, FSBP/CIS standards enabled, active critical/high finding counts",
    fetch=fetch, checks=(("MON-04", check_hub),),
))
