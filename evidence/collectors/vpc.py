"""VPC (regional): flow logs per VPC, default security groups closed."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    # Largest pages (1,000): fewest calls for big estates.
    vpcs = rec.drain("ec2", "describe_vpcs", "Vpcs", MaxResults=1000) or []
    flow_logs = rec.drain("ec2", "describe_flow_logs", "FlowLogs", MaxResults=1000) or []
    groups = rec.drain("ec2", "describe_security_groups", "SecurityGroups", MaxResults=1000,
                       Filters=[{"Name": "group-name", "Values": ["default"]}]) or []
    return {
        "vpcs": [{"id": v["VpcId"], "default": v.get("IsDefault", False), "cidr": v.get("CidrBlock")} for v in vpcs],
        "flow_logs": [{"id": f.get("FlowLogId"), "resource": f.get("ResourceId"), "status": f.get("FlowLogStatus"),
                       "traffic": f.get("TrafficType"), "destination_type": f.get("LogDestinationType"),
                       "destination": f.get("LogDestination") or f.get("LogGroupName")} for f in flow_logs],
        "default_groups": [{"id": g["GroupId"], "vpc": g.get("VpcId"), "ingress": len(g.get("IpPermissions", [])),
                            "egress": len(g.get("IpPermissionsEgress", []))} for g in groups],
    }


def check_flow_logs(snap: Snapshot, ctx: Context) -> list:
    archive = f"{ctx.cfg.organization.name}-flow-logs-"
    out = []
    for vpc in snap["vpcs"]:
        logs = [f for f in snap["flow_logs"] if f["resource"] == vpc["id"] and f["status"] == "ACTIVE"]
        if not logs:
            out.append(item(vpc["id"], "LOG-06", False, "no active flow log", default_vpc=vpc["default"]))
            continue
        to_archive = [f for f in logs if archive in str(f["destination"])]
        out.append(item(vpc["id"], "LOG-06", True,
                        "flow log to the log archive" if to_archive else "active flow log (not to the log-archive bucket)",
                        destinations=[f["destination"] for f in logs], traffic=[f["traffic"] for f in logs],
                        default_vpc=vpc["default"]))
    return out


def check_default_sg(snap: Snapshot, ctx: Context) -> list:
    return [item(g["id"], "NET-02", not (g["ingress"] or g["egress"]),
                 "default security group has no rules" if not (g["ingress"] or g["egress"])
                 else f"default security group has {g['ingress']} ingress and {g['egress']} egress rules",
                 vpc=g["vpc"]) for g in snap["default_groups"]]


COLLECTOR = register(Collector(
    calls=("ec2:DescribeFlowLogs", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"),
    name="vpc", scope="regional", services=("ec2",),
    description="Flow logs per VPC; default security groups closed",
    fetch=fetch, checks=(("LOG-06", check_flow_logs), ("NET-02", check_default_sg)),
))
