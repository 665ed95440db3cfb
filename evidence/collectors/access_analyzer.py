"""IAM Access Analyzer (regional): analyzers and their active findings."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item

#: The account type that holds the organization analyzer (delegated administrator).
ADMIN_ENVIRONMENTS = ("security",)


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    analyzers = []
    for a in rec.drain("accessanalyzer", "list_analyzers", "analyzers") or []:
        findings = rec.drain("accessanalyzer", "list_findings", "findings", analyzerArn=a["arn"],
                             filter={"status": {"eq": ["ACTIVE"]}}) or []
        analyzers.append({"arn": a["arn"], "name": a.get("name"), "type": a.get("type"), "status": a.get("status"),
                          "active_findings": len(findings),
                          "findings": [{"id": f.get("id"), "resource": f.get("resource"),
                                        "type": f.get("resourceType")} for f in findings]})
    return {"analyzers": analyzers}


def check_analyzers(snap: Snapshot, ctx: Context) -> list:
    aid = f"{ctx.target.account_id}/{ctx.region}/access-analyzer"
    out = [item(a["arn"], "IAM-10", a["status"] == "ACTIVE", f"{a['type']} analyzer {a['status']}",
                active_findings=a["active_findings"], findings=a["findings"]) for a in snap["analyzers"]]
    org = [a for a in snap["analyzers"] if a["type"] and a["type"].startswith("ORGANIZATION")]
    if ctx.target.environment in ADMIN_ENVIRONMENTS and not org:
        out.append(item(aid, "IAM-10", False, "no organization analyzer in the delegated administrator account"))
    elif not snap["analyzers"]:
        out.append(item(aid, "IAM-10", "not_applicable",
                        "no analyzer in this account; covered by the organization analyzer"))
    return out


COLLECTOR = register(Collector(
    calls=("access-analyzer:ListAnalyzers", "access-analyzer:ListFindings"),
    name="access_analyzer", scope="regional", services=("accessanalyzer",),
    description="IAM Access Analyzer analyzers and their active findings",
    fetch=fetch, checks=(("IAM-10", check_analyzers),),
))
