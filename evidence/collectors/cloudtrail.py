"""CloudTrail (regional): trails seen in the region, their status, multi-region coverage,
log-file validation, KMS, CloudWatch Logs and Insights."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    trails = []
    # Shadow trails included: the organization trail lives in the management account's
    # home region and is what covers a member account's region.
    for t in (rec.call("cloudtrail", "describe_trails", includeShadowTrails=True) or {}).get("trailList", []):
        home = t.get("HomeRegion") or ctx.region
        status = rec.call("cloudtrail", "get_trail_status", region=home, Name=t["TrailARN"],
                          expected=("TrailNotFoundException", "AccessDeniedException")) or {}
        insights = None
        if t.get("HasInsightSelectors"):
            insights = rec.call("cloudtrail", "get_insight_selectors", region=home, TrailName=t["TrailARN"],
                                expected=("InsightNotEnabledException", "TrailNotFoundException",
                                          "AccessDeniedException"))
        trails.append({
            "arn": t["TrailARN"], "name": t.get("Name"), "home_region": home,
            "multi_region": t.get("IsMultiRegionTrail", False), "organization": t.get("IsOrganizationTrail", False),
            "validation": t.get("LogFileValidationEnabled", False), "kms_key_id": t.get("KmsKeyId"),
            "cloudwatch_logs": t.get("CloudWatchLogsLogGroupArn"), "bucket": t.get("S3BucketName"),
            "logging": status.get("IsLogging"), "latest_delivery_error": status.get("LatestDeliveryError"),
            "insights": [s.get("InsightType") for s in (insights or {}).get("InsightSelectors", [])],
        })
    return {"trails": trails}


def _problems(trail: dict, ctx: Context) -> list[str]:
    problems = []
    if trail["logging"] is not True:
        problems.append("not logging" if trail["logging"] is False else "status unreadable")
    if not trail["multi_region"] and trail["home_region"] != ctx.region:
        problems.append("single-region trail of another region")
    elif not trail["multi_region"]:
        problems.append("not multi-region")
    if not trail["validation"]:
        problems.append("log-file validation off")
    if not trail["kms_key_id"]:
        problems.append("not encrypted with KMS")
    if not trail["cloudwatch_logs"]:
        problems.append("not delivered to CloudWatch Logs")
    if ctx.cfg.baseline.cloudtrail.insights and not trail["insights"]:
        problems.append("Insights off")
    return problems


def check_trails(snap: Snapshot, ctx: Context) -> list:
    out = []
    covered = False
    for trail in snap["trails"]:
        problems = _problems(trail, ctx)
        covered = covered or not problems
        out.append(item(trail["arn"], "LOG-01", not problems, "; ".join(problems) or
                        "logging, multi-region, validated, KMS, CloudWatch Logs"
                        + (", Insights" if trail["insights"] else ""),
                        organization_trail=trail["organization"], bucket=trail["bucket"],
                        home_region=trail["home_region"]))
    out.insert(0, item(f"{ctx.target.account_id}/{ctx.region}/trail-coverage", "LOG-01", covered,
                       "covered by a compliant logging trail" if covered else
                       "no trail in this region meets LOG-01" if snap["trails"] else "no trail covers this region"))
    return out


COLLECTOR = register(Collector(
    calls=("cloudtrail:DescribeTrails", "cloudtrail:GetInsightSelectors", "cloudtrail:GetTrailStatus"),
    name="cloudtrail", scope="regional", services=("cloudtrail",),
    description="Trail status, multi-region, log-file validation, KMS, CloudWatch Logs, Insights",
    fetch=fetch, checks=(("LOG-01", check_trails),),
))
