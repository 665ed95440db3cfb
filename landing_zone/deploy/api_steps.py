"""`StackSpec.facts["api_steps"]`: org-level calls CloudFormation cannot make
(EnableOrganizationAdminAccount, RegisterDelegatedAdministrator, CreateMembers, ...), made
idempotently before the stack that carries them is deployed.

A step is {"service", "operation", "parameters", "account", "regions", "phase"} (shape
documented in `landing_zone/builders/detection.py`): called once per region, or once in the
home region when `regions` is empty. `phase` is "before" (the default) or "after" its stack. Placeholders in parameter values, like `Fn::Sub`:
`${<context parameter>}`, `${account:<name>}`, and, as a whole value, `${MemberAccountIds}`
(every active member account id except the calling one), `${MemberAccountDetails}` (the
same as [{"AccountId", "Email"}]), `${OrganizationAccountDetails}` (the same with the
management account, which a delegated administrator may and must add itself), `${DetectorId}`
(the calling account's GuardDuty detector in that region) and `${EachMemberAccount}`, which
makes the step one call per member account with {"accountId", "email"} as the value. A step done before (same resolved call in the journal) is
skipped; an "already" answer from AWS counts as done.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions
from botocore import xform_name

from charter.aws import error_code, error_message, paginate

from .run import Change, Run, describe_error

_ALREADY = ("AlreadyExists", "AlreadyRegistered", "AlreadyEnabled", "ResourceConflict", "DuplicateAccount")


def already_done(exc: botocore.exceptions.ClientError) -> bool:
    code, message = error_code(exc), error_message(exc).lower()
    return any(a in code for a in _ALREADY) or ("already" in message and code in (
        "BadRequestException", "InvalidInputException", "ValidationException", "ConflictException",
        "InvalidRequestException"))


PHASES = ("before", "after")


def split_phases(steps: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(steps run before the stack, steps run after it); a step without `phase` is "before"."""
    for step in steps:
        if step.get("phase", "before") not in PHASES:
            raise ValueError(f"api step {step.get('service')}:{step.get('operation')} has phase "
                             f"{step.get('phase')!r}; use one of {', '.join(PHASES)}")
    return ([s for s in steps if s.get("phase", "before") == "before"],
            [s for s in steps if s.get("phase") == "after"])


def step_key(step: dict[str, Any], region: str) -> str:
    return hashlib.sha256(json.dumps([step, region], sort_keys=True, default=str).encode()).hexdigest()[:16]


#: A parameter whose value is this makes the step one call per member account, with
#: {"accountId", "email"} of that account as the value.
EACH_MEMBER = "${EachMemberAccount}"


class _Resolver:
    def __init__(self, run: Run, account_id: str, region: str) -> None:
        self.run, self.account_id, self.region = run, account_id, region

    def members(self, with_management: bool = False) -> list[dict[str, str]]:
        emails = {a.name: str(a.email) for a in self.run.cfg.accounts}
        ids = dict(self.run.ctx.account_ids)
        mgmt = self.run.ctx.management_account_id
        if with_management and mgmt:
            emails["management"] = str(self.run.cfg.organization.management_email)
            ids["management"] = mgmt
        return [{"AccountId": aid, "Email": emails.get(name, "")} for name, aid in sorted(ids.items())
                if aid != self.account_id and (with_management or aid != mgmt)]

    def detector(self) -> str:
        gd = self.run.client("guardduty", region=self.region, account_id=self.account_id)
        ids = paginate(gd, "list_detectors", "DetectorIds").items
        if not ids:
            raise LookupError(f"no GuardDuty detector in {self.run.ctx.account_name(self.account_id)}/{self.region} yet")
        return ids[0]

    def __call__(self, value: Any) -> Any:
        if value == "${MemberAccountIds}":
            return [m["AccountId"] for m in self.members()]
        if value == "${MemberAccountDetails}":
            return self.members()
        if value == "${OrganizationAccountDetails}":
            return self.members(with_management=True)
        if value == "${DetectorId}":
            return self.detector()
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return self.run.ctx.substitute(value, self.run.cfg)


def _calls(resolve: _Resolver, parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """The resolved parameters of each call a step makes: one, or one per member account when
    a parameter is `${EachMemberAccount}` (APIs that take a single account, like Macie's CreateMember)."""
    each = [k for k, v in parameters.items() if v == EACH_MEMBER]
    base = resolve({k: v for k, v in parameters.items() if k not in each})
    if not each:
        return [base]
    return [{**base, **{k: {"accountId": m["AccountId"], "email": m["Email"]} for k in each}}
            for m in resolve.members()]


def run_steps(run: Run, stack: str, steps: list[dict[str, Any]]) -> bool:
    ok = True
    for step in steps:
        account_name = step.get("account") or "management"
        account_id = run.ctx.account_id(account_name)
        service, operation = step["service"], step["operation"]
        for region in step.get("regions") or [run.home]:
            label = f"{stack}/{account_name}/{region}/{service}:{operation}"
            try:
                calls = _calls(_Resolver(run, account_id, region), step.get("parameters") or {})
            except botocore.exceptions.ClientError as exc:
                if run.unsupported_here(exc):
                    run.note(f"{label}: not run, {error_message(exc)}")
                    continue
                run.fail(f"{label}: {describe_error(exc)}")
                ok = False
                continue
            except Exception as exc:  # noqa: BLE001 - role assumption (AwsError), lookups, bad parameters
                run.fail(f"{label}: {getattr(exc, 'message', None) or describe_error(exc)}")
                ok = False
                continue
            for params in calls:
                ok = _call(run, step, label, account_id, region, params) and ok
    return ok


def _call(run: Run, step: dict[str, Any], label: str, account_id: str, region: str, params: dict[str, Any]) -> bool:
    service, operation = step["service"], step["operation"]
    account_name = step.get("account") or "management"
    key = ""
    try:
        # the phase is when, not what: moving a step between phases does not redo it
        key = step_key({**{k: v for k, v in step.items() if k != "phase"}, "parameters": params,
                        "account_id": account_id}, region)
        if key in run.journal.api_steps:
            return True
        client = run.client(service, region=region, account_id=account_id)
        run.mutate(Change("api-step", f"{service}:{operation}", "call",
                          [f"in {account_name}/{region}: {json.dumps(params, sort_keys=True, default=str)[:100]}"]),
                   getattr(client, xform_name(operation)), **params)
    except botocore.exceptions.ClientError as exc:
        if run.unsupported_here(exc):
            # remembered, so a re-deploy to the same embedded AWS does not call it again
            run.note(f"{label}: not run, {error_message(exc)}")
            if key and not run.dry_run:
                run.journal.api_steps[key] = f"not run: the embedded AWS lacks {service}:{operation}"
            return True
        if not already_done(exc):
            run.fail(f"{label}: {describe_error(exc)}")
            return False
    except Exception as exc:  # noqa: BLE001 - role assumption (AwsError), bad parameters
        run.fail(f"{label}: {getattr(exc, 'message', None) or describe_error(exc)}")
        return False
    if not run.dry_run:
        run.journal.api_steps[key] = datetime.now(UTC).isoformat(timespec="seconds")
    return True
