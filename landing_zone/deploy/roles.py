"""The two IAM roles self-managed StackSets need, created when missing (AWS's names)."""

from __future__ import annotations

import json

import botocore.exceptions

from charter.aws import error_code
from charter.naming import STACKSET_ADMIN_ROLE, STACKSET_EXECUTION_ROLE

from .run import Change, Run


def _trust(principal: dict[str, str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})


def _exists(iam, name: str) -> bool:
    try:
        iam.get_role(RoleName=name)
        return True
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return False
        raise


def roles_in_plan(run: Run) -> str | None:
    """The planned stack that creates the StackSet administration role, if a builder does
    (then deploy must not create it too: the stack would fail with EntityAlreadyExists)."""
    import yaml

    for ps in run.plan.stacks:
        try:
            data = yaml.safe_load((run.out_dir / ps.file).read_text()) or {}
        except OSError:
            continue
        for res in (data.get("Resources") or {}).values():
            if res.get("Type") == "AWS::IAM::Role" and (res.get("Properties") or {}).get("RoleName") == STACKSET_ADMIN_ROLE:
                return ps.stack_name
    return None


def ensure_stackset_roles(run: Run, account_ids: list[str]) -> None:
    mgmt = run.ctx.management_account_id
    ready = set(run.journal.roles_ready)
    owner = roles_in_plan(run)
    if owner:
        # A builder owns the roles (with a narrower policy than AdministratorAccess): only check.
        if "admin" not in ready:
            try:
                if _exists(run.client("iam"), STACKSET_ADMIN_ROLE):
                    ready.add("admin")
                else:
                    run.fail(f"iam/management/{STACKSET_ADMIN_ROLE}: missing; stack {owner} creates it, "
                             "deploy it first (depends_on)")
            except botocore.exceptions.ClientError as exc:
                run.fail_exc(f"iam/management/{STACKSET_ADMIN_ROLE}", exc)
        if not run.dry_run:
            run.journal.roles_ready = sorted(ready)
        return
    if "admin" not in ready:
        iam = run.client("iam")
        try:
            if not _exists(iam, STACKSET_ADMIN_ROLE):
                run.mutate(Change("stack", STACKSET_ADMIN_ROLE, "create", ["self-managed StackSet administration role"]),
                           iam.create_role, RoleName=STACKSET_ADMIN_ROLE,
                           AssumeRolePolicyDocument=_trust({"Service": "cloudformation.amazonaws.com"}))
                run.mutate(Change("stack", STACKSET_ADMIN_ROLE, "update", ["may assume the execution roles"]),
                           iam.put_role_policy, RoleName=STACKSET_ADMIN_ROLE, PolicyName="AssumeExecutionRole",
                           PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                               "Effect": "Allow", "Action": "sts:AssumeRole",
                               "Resource": f"arn:aws:iam::*:role/{STACKSET_EXECUTION_ROLE}"}]}))
            ready.add("admin")
        except botocore.exceptions.ClientError as exc:
            run.fail_exc(f"iam/management/{STACKSET_ADMIN_ROLE}", exc)
    for account in account_ids:
        if account in ready:
            continue
        try:
            iam = run.client("iam", account_id=account)
            if not _exists(iam, STACKSET_EXECUTION_ROLE):
                run.mutate(Change("stack", STACKSET_EXECUTION_ROLE, "create",
                                  [f"self-managed StackSet execution role in {run.ctx.account_name(account)}"]),
                           iam.create_role, RoleName=STACKSET_EXECUTION_ROLE,
                           AssumeRolePolicyDocument=_trust({"AWS": f"arn:aws:iam::{mgmt}:role/{STACKSET_ADMIN_ROLE}"}))
                run.mutate(Change("stack", STACKSET_EXECUTION_ROLE, "update", ["AdministratorAccess (AWS's documented policy)"]),
                           iam.attach_role_policy, RoleName=STACKSET_EXECUTION_ROLE,
                           PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
            ready.add(account)
        except Exception as exc:  # noqa: BLE001 - AwsError from role assumption or ClientError
            run.fail(f"iam/{run.ctx.account_name(account)}/{STACKSET_EXECUTION_ROLE}: {getattr(exc, 'message', exc)}")
    if not run.dry_run:
        run.journal.roles_ready = sorted(ready)
