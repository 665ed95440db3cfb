"""Identity Center group assignments, through the Identity Center API.

The identity stack holds the permission sets; which group gets which permission set in
which account is `facts["assignments"]` of that stack (see `landing_zone/builders/identity.py`
for why they are not resources of it: one per group, permission set and account made it
grow with the organization past CloudFormation's limits). Deploy reconciles them around
the stack, in two phases:

- `revoke`, before the stack is deployed: assignments org.yaml no longer grants are
  deleted, so a permission set the new template drops has none left when CloudFormation
  deletes it;
- `grant`, once the stack is in place: the missing ones are created (and anything still
  granted that should not be is deleted).

What exists is read from AWS each time (ListAccountAssignmentsForPrincipal: one paginated
read per group, not one per account), on the permission sets Charter owns (the stack's
outputs) and in the accounts of org.yaml only. The journal keeps the groups last managed,
so a group removed from org.yaml loses its assignments, and the assignments last applied,
which `charter plan` diffs offline.

CreateAccountAssignment and DeleteAccountAssignment are asynchronous on AWS: every request
is sent, then each one still IN_PROGRESS is polled until it succeeds or fails; a failure
names the group, permission set, account and AWS's reason.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from charter.aws import error_code, paginate
from charter.landing_zone.synth import PlannedStack
from charter.naming import permission_set_output

from .context import PENDING
from .run import Change, Run, describe_error
from .templates import _Lookups

#: The identity stack's fact listing the assignments: [{"group", "permission_set", "accounts"}].
FACT = "assignments"
Key = tuple[str, str, str]  # (group display name, permission set name, account name)
_OUTPUT = re.compile(r"^PermissionSet(.+)Arn$")


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
    return [Change("assignment", f"{group} / {ps_name}", action, [_accounts_line(accounts)])
            for (group, ps_name), accounts in _by_grant(keys).items()]


def _by_grant(keys: list[Key]) -> dict[tuple[str, str], list[str]]:
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for group, ps_name, account in sorted(keys):
        grouped[(group, ps_name)].append(account)
    return dict(grouped)


def _accounts_line(accounts: list[str]) -> str:
    shown = ", ".join(accounts[:8])
    return f"{len(accounts)} account{'s' if len(accounts) != 1 else ''}: {shown}" + (
        f" (+{len(accounts) - 8})" if len(accounts) > 8 else "")


@dataclass
class _State:
    """What Identity Center holds for the groups Charter manages."""

    instance: str
    arns: dict[str, str]  # permission set name -> ARN (Charter's, from the stack's outputs)
    group_ids: dict[str, str]
    have: set[Key] = field(default_factory=set)


def revoke(run: Run, ps: PlannedStack) -> bool:
    """Before the stack: delete what org.yaml no longer grants (nothing to do for a new stack)."""
    state = _read(run, ps, before=True)
    if state is None:
        return False
    return _apply(run, ps, state, sorted(state.have - wanted(ps)), "delete")


def grant(run: Run, ps: PlannedStack) -> bool:
    """Once the stack is in place: create what is missing, delete what is left over."""
    state = _read(run, ps, before=False)
    if state is None:
        return False
    want = wanted(ps)
    ok = _apply(run, ps, state, sorted(want - state.have), "create")
    ok = _apply(run, ps, state, sorted(state.have - want), "delete") and ok
    if not run.dry_run:
        applied = {k for k in want if k in state.have or key_text(k) in run.journal.assignments}
        run.journal.assignments = sorted(key_text(k) for k in applied)
        run.journal.assignment_groups = sorted({k[0] for k in want})
    return ok


def _read(run: Run, ps: PlannedStack, *, before: bool) -> _State | None:
    """What exists, or None after recording why it could not be read. Before a stack that does
    not exist yet there is nothing of Charter's to read."""
    want = wanted(ps)
    groups = sorted({k[0] for k in want} | {k[0] for k in journal_keys(run)} | set(run.journal.assignment_groups))
    lookups = _Lookups(run, {})
    try:
        outputs = _outputs(run, ps)
        if outputs is None:
            if before:
                return _State(instance="", arns={}, group_ids={})
            if not run.dry_run:
                raise LookupError(f"stack {ps.stack_name} does not exist")
            outputs = {}
        arns = _permission_set_arns(run, outputs)
        if not before:
            missing = sorted({k[1] for k in want} - set(arns))
            if missing and not run.dry_run:
                raise LookupError(f"stack {ps.stack_name} has no output for permission set(s) {', '.join(missing)}")
            arns.update({n: PENDING for n in missing})  # a dry run: the stack update would make them
        instance = lookups.instance()[0]
        group_ids = {g: lookups.group_id(g) for g in groups}
    except (botocore.exceptions.ClientError, LookupError) as exc:
        run.fail(f"{ps.stack_name}/assignments: not reconciled: {describe_error(exc)}")
        return None
    state = _State(instance, arns, group_ids)
    sso = run.client("sso-admin")
    names_by_id = {aid: name for name, aid in run.ctx.account_ids.items()}
    ps_by_arn = {arn: name for name, arn in arns.items() if arn != PENDING}
    for group, gid in group_ids.items():
        if gid in (PENDING, ""):
            continue  # a group this dry run would make: it has no assignments yet
        for a in paginate(sso, "list_account_assignments_for_principal", "AccountAssignments",
                          InstanceArn=instance, PrincipalId=gid, PrincipalType="GROUP").items:
            ps_name, account = ps_by_arn.get(a["PermissionSetArn"]), names_by_id.get(a["AccountId"])
            if ps_name and account:  # only Charter's permission sets, in accounts of org.yaml
                state.have.add((group, ps_name, account))
    return state


def _outputs(run: Run, ps: PlannedStack) -> dict[str, str] | None:
    """The identity stack's outputs; None when it does not exist (yet)."""
    try:
        stacks = run.client("cloudformation").describe_stacks(StackName=ps.stack_name)["Stacks"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ValidationError":  # "Stack with id ... does not exist"
            return None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _permission_set_arns(run: Run, outputs: dict[str, str]) -> dict[str, str]:
    """Permission set name -> ARN for every permission set output of the stack (those org.yaml
    still names by their name, any other by its logical name)."""
    names = {permission_set_output(p.name): p.name for p in run.cfg.baseline.identity.permission_sets}
    out = {}
    for key, value in outputs.items():
        m = _OUTPUT.match(key)
        if m:
            out[names.get(key, m.group(1))] = value
    return out


def _apply(run: Run, ps: PlannedStack, state: _State, keys: list[Key], action: str) -> bool:
    """Create or delete `keys`, one recorded change per group and permission set."""
    ok = True
    for (group, ps_name), accounts in _by_grant(keys).items():
        change = Change("assignment", f"{group} / {ps_name}", action, [_accounts_line(accounts)])
        ids = {name: run.ctx.account_id(name) for name in accounts}
        arn, gid = state.arns[ps_name], state.group_ids[group]
        if run.dry_run or PENDING in (state.instance, arn, gid, *ids.values()):
            run.mutate(change)  # planned, or waiting for what this dry run would make
            continue
        ok = run.mutate(change, _send, run=run, ps=ps, action=action, instance=state.instance, arn=arn,
                        group=(group, gid), ps_name=ps_name, ids=ids) and ok
    return ok


_CALLS = {
    "create": ("create_account_assignment", "describe_account_assignment_creation_status",
               "AccountAssignmentCreationStatus", "AccountAssignmentCreationRequestId"),
    "delete": ("delete_account_assignment", "describe_account_assignment_deletion_status",
               "AccountAssignmentDeletionStatus", "AccountAssignmentDeletionRequestId"),
}


def _send(run: Run, ps: PlannedStack, action: str, instance: str, arn: str, group: tuple[str, str],
          ps_name: str, ids: dict[str, str]) -> bool:
    """Send every request, then wait for the ones AWS is still working on."""
    sso = run.client("sso-admin")
    call, describe, status_key, request_arg = _CALLS[action]
    pending: dict[str, str] = {}  # request id -> account name
    succeeded: set[str] = set()
    ok = True

    def where(name: str) -> str:
        return f"{ps.stack_name}/assignment {group[0]}/{ps_name}/{name}"

    for name, account_id in ids.items():
        try:
            status = getattr(sso, call)(InstanceArn=instance, TargetId=account_id, TargetType="AWS_ACCOUNT",
                                        PermissionSetArn=arn, PrincipalType="GROUP", PrincipalId=group[1])[status_key]
        except botocore.exceptions.ClientError as exc:
            run.fail(f"{where(name)}: {action} failed: {describe_error(exc)}")
            ok = False
            continue
        ok = _settled(run, where(name), action, status, pending, succeeded, name) and ok
    deadline = time.monotonic() + run.timeout
    while pending and time.monotonic() < deadline:
        run.sleep()
        for request_id, name in list(pending.items()):
            status = getattr(sso, describe)(InstanceArn=instance, **{request_arg: request_id})[status_key]
            pending.pop(request_id)
            ok = _settled(run, where(name), action, status, pending, succeeded, name) and ok
    for name in pending.values():
        run.fail(f"{where(name)}: {action} still in progress after {run.timeout:.0f} s")
    if action == "create":  # journaled as they land, so an interrupted deploy's offline plan stays true
        run.journal.assignments = sorted(set(run.journal.assignments)
                                         | {key_text((group[0], ps_name, n)) for n in succeeded})
    else:
        gone = {key_text((group[0], ps_name, n)) for n in succeeded}
        run.journal.assignments = sorted(set(run.journal.assignments) - gone)
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
