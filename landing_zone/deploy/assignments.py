"""Identity Center group assignments, through the Identity Center API.

The identity stack holds the permission sets; which group gets which permission set in
which account is `facts["assignments"]` of that stack (see `landing_zone/builders/identity.py`
for why they are not resources of it: one per group, permission set and account made it
grow with the organization past CloudFormation's limits). Once the stack is in place,
`reconcile` reads what exists for each group (ListAccountAssignmentsForPrincipal: one
paginated read per group, not one per account), creates what org.yaml adds and deletes
what it no longer names, on the permission sets Charter owns only. AWS is the source of
truth; the journal keeps the groups last managed (so a group removed from org.yaml loses
its assignments) and the assignments last applied (what `charter plan` diffs offline).

CreateAccountAssignment and DeleteAccountAssignment are asynchronous on AWS: every request
is sent, then each one still IN_PROGRESS is polled until it succeeds or fails; a failure
names the group, permission set, account and AWS's reason.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import botocore.exceptions

from charter.aws import paginate
from charter.landing_zone.naming import permission_set_output
from charter.landing_zone.synth import PlannedStack

from .context import PENDING
from .run import Change, Run, describe_error
from .templates import _Lookups

#: The identity stack's fact listing the assignments: [{"group", "permission_set", "accounts"}].
FACT = "assignments"
Key = tuple[str, str, str]  # (group display name, permission set name, account name)


def wanted(ps: PlannedStack) -> set[Key]:
    return {(g["group"], g["permission_set"], a) for g in ps.facts.get(FACT) or [] for a in g["accounts"]}


def key_text(key: Key) -> str:
    return "|".join(key)


def journal_keys(run: Run) -> set[Key]:
    return {tuple(k.split("|", 2)) for k in run.journal.assignments}  # type: ignore[misc]


def offline_changes(ps: PlannedStack, applied: set[Key]) -> list[Change]:
    """`charter plan` without AWS: the assignments org.yaml adds or drops since the last deploy."""
    return _changes(sorted(wanted(ps) - applied), "create") + _changes(sorted(applied - wanted(ps)), "delete")


def _changes(keys: list[Key], action: str) -> list[Change]:
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for group, ps_name, account in keys:
        grouped[(group, ps_name)].append(account)
    return [Change("assignment", f"{group} / {ps_name}", action, [_accounts_line(accounts)])
            for (group, ps_name), accounts in sorted(grouped.items())]


def _accounts_line(accounts: list[str]) -> str:
    shown = ", ".join(accounts[:8])
    return f"{len(accounts)} account{'s' if len(accounts) != 1 else ''}: {shown}" + (
        f" (+{len(accounts) - 8})" if len(accounts) > 8 else "")


def reconcile(run: Run, ps: PlannedStack) -> bool:
    """Make the assignments of the identity stack `ps` exactly `facts["assignments"]`."""
    want = wanted(ps)
    groups = sorted({k[0] for k in want} | {k[0] for k in journal_keys(run)} | set(run.journal.assignment_groups))
    lookups = _Lookups(run, {})
    try:
        instance = lookups.instance()[0]
        arns = _permission_set_arns(run, ps)
        group_ids = {g: lookups.group_id(g) for g in groups}
    except (botocore.exceptions.ClientError, LookupError) as exc:
        run.fail(f"{ps.stack_name}/assignments: not reconciled: {describe_error(exc)}")
        return False
    sso = run.client("sso-admin")
    names_by_id = {aid: name for name, aid in run.ctx.account_ids.items()}
    ps_by_arn = {arn: name for name, arn in arns.items()}
    have: set[Key] = set()
    for group, gid in group_ids.items():
        if gid in (PENDING, ""):
            continue  # a group made by this dry run: it has no assignments yet
        for a in paginate(sso, "list_account_assignments_for_principal", "AccountAssignments",
                          InstanceArn=instance, PrincipalId=gid, PrincipalType="GROUP").items:
            ps_name, account = ps_by_arn.get(a["PermissionSetArn"]), names_by_id.get(a["AccountId"])
            if ps_name and account:  # only Charter's permission sets in accounts of org.yaml
                have.add((group, ps_name, account))
    ok = _apply(run, ps, sso, instance, arns, group_ids, sorted(want - have), "create")
    ok = _apply(run, ps, sso, instance, arns, group_ids, sorted(have - want), "delete") and ok
    if not run.dry_run:
        applied = (want & have) | {k for k in want if key_text(k) in run.journal.assignments}
        run.journal.assignments = sorted(key_text(k) for k in applied)
        run.journal.assignment_groups = sorted({k[0] for k in want})
    return ok


def _permission_set_arns(run: Run, ps: PlannedStack) -> dict[str, str]:
    """Permission set name -> ARN, from the identity stack's outputs."""
    names = {g["permission_set"] for g in ps.facts.get(FACT) or []}
    if run.dry_run and ps.name not in run.journal.stacks:
        return {n: PENDING for n in names}  # planned: the stack that makes them does not exist yet
    cfn = run.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName=ps.stack_name)["Stacks"][0].get("Outputs", [])}
    missing = sorted(n for n in names if permission_set_output(n) not in outputs)
    if missing:
        raise LookupError(f"stack {ps.stack_name} has no output for permission set(s) {', '.join(missing)}")
    return {n: outputs[permission_set_output(n)] for n in names}


def _apply(run: Run, ps: PlannedStack, sso: Any, instance: str, arns: dict[str, str], group_ids: dict[str, str],
           keys: list[Key], action: str) -> bool:
    """Create or delete `keys`, one recorded change per group and permission set."""
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for group, ps_name, account in keys:
        grouped[(group, ps_name)].append(account)
    ok = True
    for (group, ps_name), accounts in sorted(grouped.items()):
        change = Change("assignment", f"{group} / {ps_name}", action, [_accounts_line(accounts)])
        ids = {name: run.ctx.account_id(name) for name in accounts}
        if run.dry_run or PENDING in (instance, arns[ps_name], group_ids[group], *ids.values()):
            run.mutate(change)  # planned, or waiting for an account or group this dry run would make
            continue
        ok = run.mutate(change, _send, run=run, ps=ps, sso=sso, action=action, instance=instance,
                        arn=arns[ps_name], group=(group, group_ids[group]), ps_name=ps_name, ids=ids) and ok
    return ok


def _send(run: Run, ps: PlannedStack, sso: Any, action: str, instance: str, arn: str, group: tuple[str, str],
          ps_name: str, ids: dict[str, str]) -> bool:
    """Send every request, then wait for the ones AWS is still working on."""
    call = sso.create_account_assignment if action == "create" else sso.delete_account_assignment
    status_key = "AccountAssignmentCreationStatus" if action == "create" else "AccountAssignmentDeletionStatus"
    describe = (sso.describe_account_assignment_creation_status if action == "create"
                else sso.describe_account_assignment_deletion_status)
    request_arg = ("AccountAssignmentCreationRequestId" if action == "create"
                   else "AccountAssignmentDeletionRequestId")
    pending: dict[str, str] = {}  # request id -> account name
    succeeded: set[str] = set()
    ok = True
    for name, account_id in ids.items():
        where = f"{ps.stack_name}/assignment {group[0]}/{ps_name}/{name}"
        try:
            status = call(InstanceArn=instance, TargetId=account_id, TargetType="AWS_ACCOUNT", PermissionSetArn=arn,
                          PrincipalType="GROUP", PrincipalId=group[1])[status_key]
        except botocore.exceptions.ClientError as exc:
            run.fail(f"{where}: {action} failed: {describe_error(exc)}")
            ok = False
            continue
        ok = _settled(run, where, action, status, pending, succeeded, name) and ok
    deadline = time.monotonic() + run.timeout
    while pending and time.monotonic() < deadline:
        run.sleep()
        for request_id, name in list(pending.items()):
            where = f"{ps.stack_name}/assignment {group[0]}/{ps_name}/{name}"
            status = describe(InstanceArn=instance, **{request_arg: request_id})[status_key]
            pending.pop(request_id)
            ok = _settled(run, where, action, status, pending, succeeded, name) and ok
    for name in pending.values():
        run.fail(f"{ps.stack_name}/assignment {group[0]}/{ps_name}/{name}: {action} still in progress after "
                 f"{run.timeout:.0f} s")
        ok = False
    if action == "create":  # journaled as they land, so an interrupted deploy's plan stays true
        run.journal.assignments = sorted(set(run.journal.assignments)
                                         | {key_text((group[0], ps_name, n)) for n in succeeded})
    return ok and not pending


def _settled(run: Run, where: str, action: str, status: dict[str, Any], pending: dict[str, str],
             succeeded: set[str], name: str) -> bool:
    state = status.get("Status")
    if state == "FAILED":
        run.fail(f"{where}: {action} failed: {status.get('FailureReason') or 'no reason given'}")
        return False
    if state == "SUCCEEDED":
        succeeded.add(name)
    else:
        pending[status["RequestId"]] = name
    return True
