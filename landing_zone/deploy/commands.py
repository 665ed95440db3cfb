"""Glue for `charter drift`: which StackSets to check and their control maps."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions

from charter.aws import SessionFactory, error_code
from charter.config.model import OrgConfig

from .context import DeployContext
from .drift import DriftReport, detect_stackset_drift, is_deployed
from .engine import preflight, read_plan
from .journal import Journal
from .run import Run, describe_error
from .stacksets import operation_preferences
from .templates import load


def run_drift(cfg: OrgConfig, out_dir: Path, sessions: SessionFactory, poll_interval: float | None = None) -> DriftReport:
    plan = read_plan(out_dir)
    preflight(sessions)
    j = Journal.load(out_dir) or Journal()
    ctx = DeployContext(management_account_id=j.management_account_id, account_ids=dict(j.accounts))
    run = Run(cfg=cfg, sessions=sessions, plan=plan, out_dir=Path(out_dir), journal=j, ctx=ctx)
    names = {aid: name for name, aid in j.accounts.items()}
    report = DriftReport()
    interval = poll_interval if poll_interval is not None else sessions.capabilities.poll_interval
    cfn = run.client("cloudformation")
    for ps in plan.stacks:
        if ps.deployment.kind != "stackset":
            continue
        if not sessions.capabilities.drift_detection:
            report.errors.append(f"{ps.stack_name}: {sessions.describe()} cannot detect StackSet drift "
                                 "(it does not implement DetectStackSetDrift)")
            continue
        controls = {lid: entry[2:] for lid, entry in load(run, ps).resources().items()}
        try:
            if not is_deployed(cfn, ps.stack_name):
                report.not_deployed.append(ps.stack_name)
                continue
            report.drifts += detect_stackset_drift(cfn, ps.stack_name, controls, account_names=names,
                                                   poll_interval=interval, preferences=operation_preferences(run))
            report.checked.append(ps.stack_name)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            if error_code(exc) == "StackSetNotFoundException":  # deleted between the two calls
                report.not_deployed.append(ps.stack_name)
                continue
            report.errors.append(f"{ps.stack_name}: {describe_error(exc)}")
    return report
