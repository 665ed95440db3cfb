"""The facts a runbook is rendered from: the org config plus what synth emitted.

Runbooks name real things (accounts, regions, contacts, topics, rules, RTO/RPO), so they
are rendered from the same config and synthesized templates that deploy uses; a runbook
can therefore never describe an alert rule or a bucket that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from charter import naming
from charter.config.model import (
    CONTINUOUS_BELOW_MINUTES,
    WORKLOAD_ENVIRONMENTS,
    OrgConfig,
    format_minutes,
)


@dataclass
class AlertRule:
    stack: str
    logical_id: str
    description: str
    sources: list[str]
    detail_types: list[str]


def _alert_rules(stacks: list[Any]) -> list[AlertRule]:
    rules = []
    for stack in stacks:
        for logical_id, res in stack.data.get("Resources", {}).items():
            if res.get("Type") != "AWS::Events::Rule":
                continue
            props = res.get("Properties", {})
            pattern = props.get("EventPattern") or {}
            rules.append(AlertRule(
                stack=stack.name, logical_id=logical_id,
                description=props.get("Description") or props.get("Name") or logical_id,
                sources=list(pattern.get("source", [])) if isinstance(pattern, dict) else [],
                detail_types=list(pattern.get("detail-type", [])) if isinstance(pattern, dict) else [],
            ))
    return sorted(rules, key=lambda r: (r.stack, r.logical_id))


def _metric_alarms(stacks: list[Any]) -> list[dict[str, str]]:
    alarms = []
    for stack in stacks:
        for logical_id, res in stack.data.get("Resources", {}).items():
            if res.get("Type") == "AWS::CloudWatch::Alarm":
                props = res.get("Properties", {})
                alarms.append({"stack": stack.name, "logical_id": logical_id,
                               "description": props.get("AlarmDescription") or logical_id})
    return sorted(alarms, key=lambda a: (a["stack"], a["logical_id"]))


def build_context(cfg: OrgConfig, stacks: list[Any] | None = None, *, config_path: str = "org.yaml",
                  controls_by_runbook: dict[str, list[dict[str, str]]] | None = None) -> dict[str, Any]:
    """Everything the runbook templates may use. Unknown names fail the render (StrictUndefined)."""
    stacks = stacks or []
    org = cfg.organization
    backup = cfg.baseline.backup
    environments = sorted({a.environment for a in cfg.accounts if a.environment in WORKLOAD_ENVIRONMENTS})
    recovery = [
        {"environment": env, "rpo": format_minutes(backup.rpo_minutes(env)), "rto": format_minutes(backup.rto_minutes(env)),
         "continuous": backup.rpo_minutes(env) < CONTINUOUS_BELOW_MINUTES}
        for env in environments
    ]
    stack_names = [{"name": s.name, "stack_name": naming.stack_name(cfg, s.name),
                    "deploys_as": s.spec.deployment.kind, "controls": s.controls} for s in stacks]
    return {
        "org": {
            "name": org.name,
            "home_region": org.home_region,
            "governed_regions": list(org.governed_regions),
            "dr_region": cfg.dr_region,
            "management_email": str(org.management_email),
            "management_account_id": org.management_account_id or "(set at deploy)",
            "security_contact": cfg.security_contact,
        },
        "config_path": config_path,
        "accounts": [{"name": a.name, "email": str(a.email), "environment": a.environment, "ou": a.ou,
                      "owner": str(a.owner), "cidr": a.network.cidr if a.network else ""} for a in cfg.accounts],
        "owners": sorted({str(a.owner) for a in cfg.accounts}),
        "log_archive": cfg.account("log-archive").name,
        "audit": cfg.account("audit").name,
        "security": cfg.account("security").name,
        "ous": [{"name": ou.name, "parent": ou.parent} for ou in cfg.ous],
        "suspended_ou": cfg.scps.suspended_ou or "",
        "environments": environments,
        "recovery": recovery,
        # the log-archive and evidence buckets replicate there (the log_archive and evidence_store builders' `-replica` stacks)
        "audit_replicated": cfg.dr_region != org.home_region,
        "backup": {"enabled": backup.enabled, "retention_days": backup.retention_days,
                   "copy_to_dr": backup.copy_to_dr},
        "baseline": {
            "log_retention_days": cfg.baseline.log_retention_days,
            "log_retention_years": round(cfg.baseline.log_retention_days / 365.25, 1),
            "object_lock_days": cfg.baseline.object_lock_days,
            "kms_rotation_days": cfg.baseline.kms_rotation_days,
            "guardduty": cfg.baseline.guardduty.enabled,
            "security_hub": cfg.baseline.security_hub.enabled,
            "security_hub_standards": list(cfg.baseline.security_hub.standards),
            "macie": cfg.baseline.macie.enabled,
            "access_analyzer": cfg.baseline.access_analyzer.enabled,
            "inspector": cfg.baseline.inspector.enabled,
            "cloudtrail": cfg.baseline.cloudtrail.enabled,
            "config": cfg.baseline.config.enabled,
            "break_glass": cfg.baseline.identity.break_glass,
            "evidence_schedule": cfg.baseline.evidence_schedule,
            "password_min_length": cfg.baseline.password_policy.min_length,
        },
        "permission_sets": [{"name": p.name, "session_hours": p.session_hours,
                             "policies": ", ".join(p.managed_policies)} for p in cfg.baseline.identity.permission_sets],
        "names": {
            "security_topic": naming.security_topic_name(cfg),
            "evidence_bucket": naming.evidence_bucket_name(cfg).replace("${AuditAccountId}", "<audit-account-id>"),
            "cloudtrail_bucket": naming.log_bucket_name(cfg, "cloudtrail").replace(
                "${LogArchiveAccountId}", "<log-archive-account-id>"),
            "evidence_reader_role": naming.EVIDENCE_READER_ROLE,
            "evidence_collector_role": naming.EVIDENCE_COLLECTOR_ROLE,
            "deploy_role": cfg.scps.admin_role,
            "member_access_role": naming.MEMBER_ACCESS_ROLE,
            "kms_aliases": {env: naming.kms_alias(cfg, env) for env in environments},
        },
        "stacks": stack_names,
        "alert_rules": [r.__dict__ for r in _alert_rules(stacks)],
        "alarms": _metric_alarms(stacks),
        "controls_by_runbook": controls_by_runbook or {},
    }
