"""AWS Backup (regional): plans and their schedules vs the RPO, DR copies, vault lock,
success of the last day's jobs."""

from __future__ import annotations

from datetime import timedelta

from charter.config.model import WORKLOAD_ENVIRONMENTS
from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item

_BAD_JOBS = ("FAILED", "ABORTED", "EXPIRED", "PARTIAL")


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    plans = []
    for p in rec.drain("backup", "list_backup_plans", "BackupPlansList") or []:
        plan = (rec.call("backup", "get_backup_plan", BackupPlanId=p["BackupPlanId"]) or {}).get("BackupPlan", {})
        plans.append({"id": p["BackupPlanId"], "name": p.get("BackupPlanName"), "arn": p.get("BackupPlanArn"),
                      "rules": [{"name": r.get("RuleName"), "schedule": r.get("ScheduleExpression"),
                                 "vault": r.get("TargetBackupVaultName"),
                                 "copies": [c.get("DestinationBackupVaultArn") for c in r.get("CopyActions", [])]}
                                for r in plan.get("Rules", [])]})
    vaults = [{"name": v["BackupVaultName"], "arn": v.get("BackupVaultArn"), "locked": v.get("Locked", False),
               "min_retention": v.get("MinRetentionDays")}
              for v in rec.drain("backup", "list_backup_vaults", "BackupVaultList") or []]
    since = ctx.now - timedelta(days=1)
    jobs = rec.drain("backup", "list_backup_jobs", "BackupJobs", ByCreatedAfter=since) or []
    return {"plans": plans, "vaults": vaults, "jobs_since": since.isoformat(),
            "jobs": [{"id": j.get("BackupJobId"), "state": j.get("State"), "resource": j.get("ResourceArn"),
                      "message": j.get("StatusMessage")} for j in jobs]}


def schedule_hours(expression: str | None) -> float | None:
    """Hours between runs of a Backup schedule: cron(m h dom mon dow yr) or rate(n unit)."""
    if not expression:
        return None
    expr = expression.strip()
    if expr.startswith("rate(") and expr.endswith(")"):
        amount, _, unit = expr[5:-1].partition(" ")
        scale = {"minute": 1 / 60, "hour": 1, "day": 24}.get(unit.rstrip("s"), None)
        return float(amount) * scale if scale else None
    if expr.startswith("cron(") and expr.endswith(")"):
        fields = expr[5:-1].split()
        if len(fields) < 5:
            return None
        hour, dom, dow = fields[1], fields[2], fields[4]
        if dow not in ("*", "?") and dom in ("*", "?"):
            return 24 * 7 / max(1, len(dow.split(",")))
        if dom not in ("*", "?"):
            return 24 * 30 / max(1, len(dom.split(",")))
        if hour == "*":
            return 1
        if "/" in hour:
            return float(hour.split("/")[1])
        if "," in hour:
            return 24 / len(hour.split(","))
        return 24
    return None


def _workload(ctx: Context) -> bool:
    return ctx.target.environment in WORKLOAD_ENVIRONMENTS and ctx.cfg.baseline.backup.enabled


def check_plans(snap: Snapshot, ctx: Context) -> list:
    base = f"{ctx.target.account_id}/{ctx.region}/backup"
    if not _workload(ctx):
        return [item(base, "BCK-01", "not_applicable",
                     f"backup applies to workload accounts (this is {ctx.target.environment or 'not in org.yaml'})")]
    # plans run at most hourly; an RPO under an hour is met by continuous backup on top
    rpo = max(1, ctx.cfg.baseline.backup.rpo_minutes(ctx.target.environment or "") // 60)
    out = []
    if not snap["plans"]:
        if ctx.is_home_region:
            out.append(item(f"{base}/plans", "BCK-01", False, "no backup plan in the home region"))
        else:
            out.append(item(f"{base}/plans", "BCK-01", "not_applicable",
                            "plans run in the home region; this region receives copies"))
    for plan in snap["plans"]:
        hours = [schedule_hours(r["schedule"]) for r in plan["rules"]]
        best = min((h for h in hours if h is not None), default=None)
        ok = best is not None and best <= rpo
        out.append(item(plan["arn"] or plan["id"], "BCK-01", ok,
                        f"runs every {best:g} h (RPO {rpo} h)" if ok else
                        f"runs every {best:g} h, RPO is {rpo} h" if best else "no schedule",
                        schedules=[r["schedule"] for r in plan["rules"]]))
    for vault in snap["vaults"]:
        if vault["name"] in ("Default",) or vault["name"].startswith("aws/"):
            continue
        out.append(item(vault["arn"] or vault["name"], "BCK-01", bool(vault["locked"]),
                        "Vault Lock on" if vault["locked"] else "Vault Lock off",
                        min_retention_days=vault["min_retention"]))
    bad = [j for j in snap["jobs"] if j["state"] in _BAD_JOBS]
    if snap["jobs"] or snap["plans"]:
        out.append(item(f"{base}/jobs-since-{snap['jobs_since'][:10]}", "BCK-01", not bad,
                        f"{len(snap['jobs'])} jobs in the last day, {len(bad)} failed",
                        failed=[{"id": j["id"], "state": j["state"], "message": j["message"]} for j in bad]))
    return out


def check_copies(snap: Snapshot, ctx: Context) -> list:
    if not _workload(ctx) or not ctx.cfg.baseline.backup.copy_to_dr:
        return []
    dr = ctx.cfg.dr_region
    out = []
    for plan in snap["plans"]:
        copies = [c for r in plan["rules"] for c in r["copies"] if c]
        to_dr = [c for c in copies if f":{dr}:" in c]
        out.append(item(plan["arn"] or plan["id"], "BCK-02", bool(to_dr),
                        f"copies to {dr}" if to_dr else f"no copy action to the DR region {dr}", copies=copies))
    return out


COLLECTOR = register(Collector(
    calls=("backup:GetBackupPlan", "backup:ListBackupJobs", "backup:ListBackupPlans",
           "backup:ListBackupVaults"),
    name="backup", scope="regional", services=("backup",),
    description="Backup plans vs RPO, copies to the DR region, Vault Lock, last day's job results",
    fetch=fetch, checks=(("BCK-01", check_plans), ("BCK-02", check_copies)),
))
