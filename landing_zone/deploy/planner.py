"""`charter plan`: what deploy would do.

With AWS access the plan is a dry run of deploy itself (same reads, every mutating call
recorded instead of made), so plan and deploy cannot disagree. Offline it compares the
config and plan.json with the journal of the last deploy: OUs and accounts to create or
move, SCP statements by Sid, StackSets by template hash with the resources that change
per control id, parameters, and declared targets.
"""

from __future__ import annotations

from pathlib import Path

from charter.config.model import OrgConfig
from charter.landing_zone.scp.packing import pack
from charter.landing_zone.synth import Plan

from . import assignments
from .context import DeployContext
from .engine import is_organizations, read_plan
from .journal import Journal, StackRecord
from .run import Change, Run
from .scps import statement_diff, statement_hashes
from .stacksets import declared_targets
from .templates import control_diff, control_lines, load


def offline_plan(cfg: OrgConfig, out_dir: Path) -> tuple[list[Change], Journal | None]:
    plan = read_plan(out_dir)
    journal = Journal.load(out_dir)
    j = journal or Journal(organization=cfg.organization.name)
    ctx = DeployContext(organization_id=j.organization_id, root_id=j.root_id,
                        management_account_id=j.management_account_id, ou_ids=dict(j.ous),
                        account_ids=dict(j.accounts))
    run = Run(cfg=cfg, sessions=None, plan=plan, out_dir=Path(out_dir), journal=j, dry_run=True, ctx=ctx)
    changes: list[Change] = []
    if not j.organization_id:
        changes.append(Change("organization", cfg.organization.name, "create", ["feature set ALL (or adopt)"]))
    depths = cfg.ou_depths()
    for ou in sorted(cfg.ous, key=lambda o: (depths[o.name], o.name)):
        if ou.name not in j.ous:
            changes.append(Change("ou", ou.name, "create", [f"under {ou.parent}"]))
    for acct in cfg.accounts:
        if acct.name not in j.accounts:
            changes.append(Change("account", acct.name, "create", [f"{acct.email} in {acct.ou} (adopted if the email exists)"]))
        elif j.account_ous.get(acct.name) != acct.ou:
            changes.append(Change("account", acct.name, "move", [f"{j.account_ous.get(acct.name, '?')} -> {acct.ou}"]))
    wanted = set()
    for policy in pack(cfg):
        wanted.add(policy.name)
        rec = j.scps.get(policy.name)
        new = statement_hashes(policy.document)
        if rec is None:
            changes.append(Change("scp", policy.name, "create", [f"to {', '.join(policy.targets)}",
                                                                 *statement_diff({}, new)]))
            continue
        diff = statement_diff(rec.statements, new)
        if diff:
            changes.append(Change("scp", policy.name, "update", diff))
        for t in sorted(set(policy.targets) - set(rec.targets)):
            changes.append(Change("scp", policy.name, "attach", [f"to {t}"]))
        for t in sorted(set(rec.targets) - set(policy.targets)):
            changes.append(Change("scp", policy.name, "detach", [f"from {t}"]))
    for name in sorted(set(j.scps) - wanted):
        changes.append(Change("scp", name, "delete", ["no longer in org.yaml (detached first)"]))
    changes += _stacks(run, plan, j)
    return changes, journal


def _stacks(run: Run, plan: Plan, j: Journal) -> list[Change]:
    out: list[Change] = []
    for ps in plan.stacks:
        if is_organizations(ps):
            continue
        area = "stackset" if ps.deployment.kind == "stackset" else "stack"
        tpl = load(run, ps)
        rec: StackRecord | None = j.stacks.get(ps.name)
        if rec is None:
            ctrls = sorted({c for entry in tpl.resources().values() for c in entry[2:]})
            out.append(Change(area, ps.stack_name, "create",
                              [f"{len(tpl.resources())} resources; controls {', '.join(ctrls) or '-'}",
                               _targets_line(declared_targets(tpl))]))
            if ps.facts.get(assignments.FACT) is not None:
                out += assignments.offline_changes(ps, set())
            continue
        details: list[str] = []
        if rec.template_sha256 != ps.sha256:
            details += control_lines(control_diff(rec.resources, tpl.resources()))
        for k, v in sorted(tpl.parameters.items()):
            if rec.parameters.get(k) != v:
                details.append(f"parameter {k}: {rec.parameters.get(k, '-')} -> {v}")
        new_t = declared_targets(tpl)
        for kind in ("ous", "accounts", "regions"):
            old, new = set(rec.targets.get(kind, [])), set(new_t.get(kind, []))
            details += [f"+ target {kind[:-1]} {x}" for x in sorted(new - old)]
            details += [f"- target {kind[:-1]} {x}" for x in sorted(old - new)]
        if details:
            out.append(Change(area, ps.stack_name, "update", details))
        if ps.facts.get(assignments.FACT) is not None:
            out += assignments.offline_changes(ps, assignments.journal_keys(run))
        if rec.failed:
            where = [f"{run.ctx.account_name(k.split('/')[0])}/{k.split('/')[1]}" for k in sorted(rec.failed)]
            more = f" (+{len(where) - 4} more)" if len(where) > 4 else ""
            out.append(Change(area, ps.stack_name, "retry", [f"failed last time: {', '.join(where[:4])}{more}"]))
    return out


def _targets_line(t: dict[str, list[str]]) -> str:
    parts = []
    if t.get("ous"):
        parts.append("OUs " + ", ".join(t["ous"]))
    if t.get("accounts"):
        parts.append("accounts " + ", ".join(t["accounts"]))
    return "targets " + "; ".join(parts) + " x " + ", ".join(t.get("regions", []))
