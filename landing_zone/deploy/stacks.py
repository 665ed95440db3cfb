"""Plain CloudFormation stacks in one account (the management account or a named one) per
region; unchanged stacks (same template and parameter hash tags) are only described."""

from __future__ import annotations

import time
from typing import Any

import botocore.exceptions

from charter.aws import error_code, paginate

from .context import PENDING
from .journal import StackRecord
from .run import Change, Run, describe_error
from .stacksets import CAPABILITIES, declared_targets
from .templates import Template, body_args, control_diff, control_lines, parse_body, resource_index

IN_PROGRESS = "_IN_PROGRESS"
GOOD = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}


def deploy_stack(run: Run, tpl: Template) -> bool:
    dep = tpl.planned.deployment
    account = run.ctx.account_id(dep.account or "management")
    label = dep.account or "management"
    record = run.journal.stacks.get(tpl.planned.name) or StackRecord()
    failed: dict[str, str] = {}
    if tpl.missing:
        run.fail(f"{tpl.name}/{label}: parameter(s) {', '.join(tpl.missing)} have no value")
        return False
    params = dict(tpl.parameters)
    params.update(tpl.overrides.get(account, {}))
    for region in dep.regions:
        try:
            _one(run, tpl, account, label, region, params)
        except botocore.exceptions.ClientError as exc:
            failed[f"{account}/{region}"] = describe_error(exc)
            run.fail(f"{tpl.name}/{label}/{region}: {describe_error(exc)}")
        except _StackFailed as exc:
            failed[f"{account}/{region}"] = str(exc)
    record.template_sha256 = tpl.planned.sha256
    record.parameters_sha256 = tpl.parameters_sha256
    record.resources = tpl.resources()
    record.parameters = params
    record.targets = declared_targets(tpl)
    record.failed = failed
    record.complete = not failed
    if not run.dry_run:
        run.journal.stacks[tpl.planned.name] = record
    return not failed


class _StackFailed(Exception):
    pass


def _one(run: Run, tpl: Template, account: str, label: str, region: str, params: dict[str, str]) -> None:
    if account == PENDING:
        run.mutate(Change("stack", f"{tpl.name} ({label}/{region})", "create", ["in a new account"]))
        return
    cfn = run.client("cloudformation", region=region, account_id=account)
    try:
        stack = cfn.describe_stacks(StackName=tpl.name)["Stacks"][0]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != "ValidationError":
            raise
        stack = None
    plist = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(params.items())]
    where = f"{tpl.name} ({label}/{region})"
    if stack is not None and stack["StackStatus"] == "ROLLBACK_COMPLETE":
        # A stack whose creation failed can only be deleted, then created again.
        run.mutate(Change("stack", where, "delete", ["ROLLBACK_COMPLETE from a failed create"]),
                   cfn.delete_stack, StackName=tpl.name)
        if not run.dry_run:
            _wait(run, cfn, tpl, label, region, stack["StackId"])
        stack = None
    if stack is None:
        if run.dry_run:
            run.mutate(Change("stack", where, "create", [f"{len(tpl.resources())} resources"]))
            return
        run.mutate(Change("stack", where, "create"), cfn.create_stack, StackName=tpl.name, Parameters=plist,
                   Capabilities=CAPABILITIES, Tags=tpl.tags(), EnableTerminationProtection=True,
                   **body_args(run, tpl))
        _wait(run, cfn, tpl, label, region, tpl.name)
        return
    tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
    if (tags.get("charter:template-sha256") == tpl.planned.sha256
            and tags.get("charter:parameters-sha256") == tpl.parameters_sha256
            and stack["StackStatus"] in GOOD):
        return
    old = resource_index(parse_body(cfn.get_template(StackName=tpl.name).get("TemplateBody", "")))
    details = control_lines(control_diff(old, tpl.resources()))
    if run.dry_run:
        run.mutate(Change("stack", where, "update", details or ["parameters/tags"]))
        return
    try:
        run.mutate(Change("stack", where, "update", details or ["parameters/tags"]), cfn.update_stack,
                   StackName=tpl.name, Parameters=plist, Capabilities=CAPABILITIES, Tags=tpl.tags(),
                   **body_args(run, tpl))
    except botocore.exceptions.ClientError as exc:
        if "No updates are to be performed" in str(exc):
            return
        raise
    _wait(run, cfn, tpl, label, region, tpl.name)


def _wait(run: Run, cfn: Any, tpl: Template, label: str, region: str, stack_id: str) -> None:
    deadline = time.monotonic() + run.timeout
    while True:
        try:
            stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        except botocore.exceptions.ClientError:
            return  # deleted
        status = stack["StackStatus"]
        if not status.endswith(IN_PROGRESS):
            break
        if time.monotonic() > deadline:
            raise _StackFailed(f"{status} after {run.timeout:.0f}s")
        run.sleep()
    if status in GOOD or status == "DELETE_COMPLETE":
        return
    events = paginate(cfn, "describe_stack_events", "StackEvents", StackName=stack_id).items
    failed = [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")]
    first = failed[-1] if failed else None  # events are newest first: the root cause is the oldest
    if first:
        line = (f"{tpl.name}/{label}/{region}/{first['LogicalResourceId']}: "
                f"{first.get('ResourceStatusReason', first['ResourceStatus'])}")
    else:
        line = f"{tpl.name}/{label}/{region}: {status} {stack.get('StackStatusReason', '')}".strip()
    run.fail(line)
    raise _StackFailed(line)
