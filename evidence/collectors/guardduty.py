"""GuardDuty (regional): detectors, protection plans, counts of active findings."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item

#: Config protection names -> GuardDuty detector feature names.
FEATURES = {"s3": ("S3_DATA_EVENTS",), "eks": ("EKS_AUDIT_LOGS",), "rds": ("RDS_LOGIN_EVENTS",),
            "lambda": ("LAMBDA_NETWORK_LOGS",), "malware": ("EBS_MALWARE_PROTECTION",),
            "runtime": ("RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING")}
#: GuardDuty's high band starts at 7.0.
HIGH = 7


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    detectors = []
    for detector_id in rec.drain("guardduty", "list_detectors", "DetectorIds") or []:
        det = rec.call("guardduty", "get_detector", DetectorId=detector_id) or {}
        high = rec.drain("guardduty", "list_findings", "FindingIds", DetectorId=detector_id,
                         FindingCriteria={"Criterion": {"severity": {"GreaterThanOrEqual": HIGH},
                                                        "service.archived": {"Eq": ["false"]}}}) or []
        detectors.append({"id": detector_id, "status": det.get("Status"),
                          "features": {f["Name"]: f.get("Status") for f in det.get("Features", [])},
                          "high_findings": len(high)})
    return {"detectors": detectors}


def check_detectors(snap: Snapshot, ctx: Context) -> list:
    did = f"{ctx.target.account_id}/{ctx.region}/guardduty"
    if not snap["detectors"]:
        return [item(did, "MON-05", False, "no GuardDuty detector")]
    out = []
    for det in snap["detectors"]:
        problems = [] if det["status"] == "ENABLED" else [f"detector {det['status']}"]
        for name in ctx.cfg.baseline.guardduty.protection:
            if not any(det["features"].get(f) == "ENABLED" for f in FEATURES[name]):
                problems.append(f"{name} protection off")
        out.append(item(f"{did}/{det['id']}", "MON-05", not problems,
                        "; ".join(problems) or "enabled with every configured protection plan",
                        high_findings=det["high_findings"], features=det["features"]))
    return out


COLLECTOR = register(Collector(
    calls=("guardduty:GetDetector", "guardduty:ListDetectors", "guardduty:ListFindings"),
    name="guardduty", scope="regional", services=("guardduty",),
    description="GuardDuty detectors, protection plans, active high-severity finding counts",
    fetch=fetch, checks=(("MON-05", check_detectors),),
))
