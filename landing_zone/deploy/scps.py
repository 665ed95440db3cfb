"""SCPs from `landing_zone.scp.packing.pack(cfg)`: create, update, attach; only Charter-owned
stale ones (tag ManagedBy=charter or name prefix `charter-`) are detached and deleted."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import botocore.exceptions

from charter.aws import paginate
from charter.config.model import ROOT
from charter.landing_zone.scp.packing import PackedPolicy, minify, pack

from .context import PENDING
from .journal import ScpRecord
from .run import Change, Run

SCP = "SERVICE_CONTROL_POLICY"


def sha(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def statement_hashes(document: dict[str, Any]) -> dict[str, str]:
    stmts = document.get("Statement", [])
    stmts = stmts if isinstance(stmts, list) else [stmts]
    return {s.get("Sid", f"#{i}"): sha(s)[:12] for i, s in enumerate(stmts)}


def sid_control(sid: str) -> str:
    """Sids start with the control id without its dash (ORG02DenyLeave -> ORG-02)."""
    import re

    m = re.match(r"^([A-Z]{2,6})(\d{2,3})", sid)
    return f"{m.group(1)}-{m.group(2)}" if m else "custom"


def statement_diff(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Statement-level differences by Sid, with the control each statement serves."""
    out = []
    for s in sorted(set(old) | set(new)):
        if s not in old:
            out.append(f"+ {s} ({sid_control(s)})")
        elif s not in new:
            out.append(f"- {s} ({sid_control(s)})")
        elif old[s] != new[s]:
            out.append(f"~ {s} ({sid_control(s)})")
    return out


def description(policy: PackedPolicy) -> str:
    return ("Charter guardrails: " + ", ".join(policy.controls))[:512]


def reconcile(run: Run) -> None:
    org = run.client("organizations")
    desired = pack(run.cfg)
    existing = {p["Name"]: p for p in paginate(org, "list_policies", "Policies", Filter=SCP).items}
    for policy in desired:
        try:
            _one(run, org, policy, existing.get(policy.name))
        except botocore.exceptions.ClientError as exc:
            run.fail_exc(f"scp/{policy.name}", exc)
    wanted = {p.name for p in desired}
    for name, summary in sorted(existing.items()):
        if name in wanted or summary.get("AwsManaged"):
            continue
        try:
            if _owned(org, summary):
                _delete(run, org, summary)
        except botocore.exceptions.ClientError as exc:
            run.fail_exc(f"scp/{name}", exc)
    for name in list(run.journal.scps):
        if name not in wanted:
            run.journal.scps.pop(name)


def _owned(org: Any, summary: dict[str, Any]) -> bool:
    if summary["Name"].startswith("charter-"):
        return True
    tags = paginate(org, "list_tags_for_resource", "Tags", ResourceId=summary["Id"]).items
    return any(t["Key"] == "ManagedBy" and t["Value"] == "charter" for t in tags)


def _target_ids(run: Run, policy: PackedPolicy) -> dict[str, str]:
    return {run.ctx.ou_id(t): t for t in policy.targets}


def _one(run: Run, org: Any, policy: PackedPolicy, summary: dict[str, Any] | None) -> None:
    content = minify(policy.document)
    new_sids = statement_hashes(policy.document)
    record = run.journal.scps.get(policy.name) or ScpRecord()
    if summary is None:
        res = run.mutate(Change("scp", policy.name, "create", [f"{len(new_sids)} statements, {len(content)} chars",
                                                               *statement_diff({}, new_sids)]),
                         org.create_policy, Content=content, Description=description(policy), Name=policy.name,
                         Type=SCP, Tags=[{"Key": "ManagedBy", "Value": "charter"}])
        policy_id = res["Policy"]["PolicySummary"]["Id"] if res else PENDING
        attached: set[str] = set()
    else:
        policy_id = summary["Id"]
        current = org.describe_policy(PolicyId=policy_id)["Policy"]
        old_doc = json.loads(current["Content"])
        if old_doc != policy.document or current["PolicySummary"].get("Description", "") != description(policy):
            run.mutate(Change("scp", policy.name, "update", statement_diff(statement_hashes(old_doc), new_sids)
                              or ["description"]),
                       org.update_policy, PolicyId=policy_id, Content=content, Description=description(policy))
        attached = {t["TargetId"] for t in paginate(org, "list_targets_for_policy", "Targets", PolicyId=policy_id).items}
    wanted = _target_ids(run, policy)
    for target_id, name in sorted(wanted.items()):
        if target_id in attached:
            continue
        if target_id == PENDING or policy_id == PENDING:
            run.mutate(Change("scp", policy.name, "attach", [f"to {name}"]))
            continue
        run.mutate(Change("scp", policy.name, "attach", [f"to {name}"]),
                   org.attach_policy, PolicyId=policy_id, TargetId=target_id)
    for target_id in sorted(attached - set(wanted)):
        run.mutate(Change("scp", policy.name, "detach", [f"from {_name(run, target_id)}"]),
                   org.detach_policy, PolicyId=policy_id, TargetId=target_id)
    record.id = policy_id if policy_id != PENDING else record.id
    record.sha256 = sha(content)
    record.statements = new_sids
    record.targets = sorted(policy.targets)
    run.journal.scps[policy.name] = record


def _delete(run: Run, org: Any, summary: dict[str, Any]) -> None:
    targets = paginate(org, "list_targets_for_policy", "Targets", PolicyId=summary["Id"]).items
    for t in targets:
        run.mutate(Change("scp", summary["Name"], "detach", [f"from {t.get('Name', t['TargetId'])} (stale)"]),
                   org.detach_policy, PolicyId=summary["Id"], TargetId=t["TargetId"])
    run.mutate(Change("scp", summary["Name"], "delete", ["no longer in org.yaml"]),
               org.delete_policy, PolicyId=summary["Id"])


def _name(run: Run, target_id: str) -> str:
    if target_id == run.ctx.root_id:
        return ROOT
    for name, ou_id in run.ctx.ou_ids.items():
        if ou_id == target_id:
            return name
    return target_id
