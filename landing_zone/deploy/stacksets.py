"""StackSets: service-managed to OUs (auto-deployment on) and self-managed to named accounts.

Incremental by design: the template hash (plan.json sha256) and the parameters hash are
tags on the StackSet; an unchanged StackSet is only read (DescribeStackSet and
ListStackInstances), never updated. Instances are reconciled against the accounts the
config says must have them: missing ones are created, ones that failed last time (from
the journal) or are not CURRENT are retried, and each failed instance becomes one line
`stackset/account/region[/logical-id]: reason`.

StackSet operations are asynchronous and idempotent on their `OperationId`: deploy makes
the id, writes it to the journal, then calls, so a deploy that is killed and resumed finds
the operation (running or finished) instead of submitting the same work twice; it also
waits for any operation still running on the StackSet before deciding what is missing.
Accounts where a StackSet this one depends on failed are left out (one failure line each
naming the dependency), every other account gets it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import defaultdict
from typing import Any

import botocore.exceptions

from charter.aws import error_code, paginate

from .autodeploy import auto_deployment
from .context import PENDING
from .journal import StackRecord
from .run import Change, Run, describe_error
from .templates import Template, body_args

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
DONE = {"SUCCEEDED", "FAILED", "STOPPED"}
ACTIVE = {"RUNNING", "QUEUED", "STOPPING"}
#: Per-instance results are read for the progress row every this many polls.
RESULTS_EVERY = 4
_LOGICAL = re.compile(r"ResourceLogicalId:\s*([A-Za-z0-9]+)")


def operation_preferences(run: Run) -> dict[str, Any]:
    d = run.cfg.deployment
    return {"RegionConcurrencyType": d.region_concurrency, "MaxConcurrentPercentage": d.max_concurrent_percentage,
            "FailureTolerancePercentage": d.failure_tolerance_percentage, "ConcurrencyMode": d.concurrency_mode}


def target_accounts(run: Run, tpl: Template) -> dict[str, str]:
    """account id -> account name of every account that must get an instance."""
    dep = tpl.planned.deployment
    if dep.permission_model == "SERVICE_MANAGED" and not dep.target_accounts:
        ous = run.cfg.subtree(dep.target_ous)
        names = [a.name for a in run.cfg.accounts if a.ou in ous]
    else:
        names = list(dep.target_accounts)
    out = {}
    for name in names:
        aid = run.ctx.account_id(name)
        if dep.permission_model == "SERVICE_MANAGED" and aid == run.ctx.management_account_id:
            continue  # AWS never deploys service-managed instances to the management account
        out[aid] = name
    return out


def fail_line(tpl: Template, account: str, region: str, reason: str) -> str:
    m = _LOGICAL.search(reason or "")
    where = f"{tpl.name}/{account}/{region}" + (f"/{m.group(1)}" if m else "")
    return f"{where}: {reason or 'failed (no reason given)'}"


class StackSetDeployer:
    """One StackSet: `blocked` maps account ids to why they must wait (a StackSet this one
    depends on failed there); those accounts are left out and reported, the rest deployed."""

    def __init__(self, run: Run, tpl: Template, blocked: dict[str, str] | None = None) -> None:
        self.run = run
        self.tpl = tpl
        self.dep = tpl.planned.deployment
        self.cfn = run.client("cloudformation")
        self.service = self.dep.permission_model == "SERVICE_MANAGED"
        self.record = run.journal.stacks.get(tpl.planned.name) or StackRecord()
        self.failed: dict[str, str] = {}
        self._lines: dict[str, str] = {}  # the failure line printed for each failed instance
        self.targets = target_accounts(run, tpl)
        self.regions = list(self.dep.regions)
        self.blocked = {a: why for a, why in (blocked or {}).items() if a in self.targets}

    # -- entry --------------------------------------------------------------------------
    def deploy(self) -> bool:
        run, tpl = self.run, self.tpl
        if tpl.missing:
            run.fail(f"{tpl.name}: parameter(s) {', '.join(tpl.missing)} have no value; add a Default or "
                     f"Deployment.parameter_overrides in the builder")
            return False
        if not self.service:
            self.ensure_roles()
        try:
            current = self.cfn.describe_stack_set(StackSetName=tpl.name)["StackSet"]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "StackSetNotFoundException":
                raise
            current = None
        if current is not None and current.get("Status") != "DELETED" and not run.dry_run:
            self.settle()
        changed_params = False
        if current is None or current.get("Status") == "DELETED":
            self.create()
            changed_params = True
        else:
            tags = {t["Key"]: t["Value"] for t in current.get("Tags", [])}
            # a StackSet made when every one auto-deployed is updated to what auto_deployment says
            stale_auto = self.service and (current.get("AutoDeployment") or {}).get("Enabled") != \
                auto_deployment(run.plan, tpl.planned)["Enabled"]
            if (tags.get("charter:template-sha256") != tpl.planned.sha256
                    or tags.get("charter:parameters-sha256") != tpl.parameters_sha256 or stale_auto):
                changed_params = tags.get("charter:parameters-sha256") != tpl.parameters_sha256
                self.update(current)
        self.instances(changed_params)
        self.record.template_sha256 = tpl.planned.sha256
        self.record.parameters_sha256 = tpl.parameters_sha256
        self.record.resources = tpl.resources()
        self.record.parameters = dict(tpl.parameters)
        self.record.targets = declared_targets(tpl)
        self.record.failed = self.failed
        self.record.complete = not self.failed
        if not run.dry_run:
            run.journal.stacks[tpl.planned.name] = self.record
        return not self.failed

    # -- operations ---------------------------------------------------------------------
    def settle(self) -> None:
        """Wait for what an earlier deploy (killed, or still running elsewhere) left running on
        this StackSet: the operations the journal says were submitted, and any the StackSet
        lists as running. Their failed instances are found and retried below, like any
        instance that is not CURRENT."""
        waiting = list(self.record.operations)
        try:
            listed = paginate(self.cfn, "list_stack_set_operations", "Summaries", StackSetName=self.tpl.name).items
        except botocore.exceptions.ClientError:
            listed = []
        waiting += [op["OperationId"] for op in listed if op.get("Status") in ACTIVE]
        for operation_id in dict.fromkeys(waiting):
            try:
                self.wait(operation_id, "resume", 0, report=False)
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) not in ("OperationNotFoundException", "ValidationError"):
                    raise  # not found: the call never reached AWS, so there is nothing to wait for
        self._forget(*waiting)

    def submit(self, change: Change, fn: Any, action: str, total: int, **args: Any) -> str:
        """Start one StackSet operation and wait for it. Its id is made here and written to the
        journal before the call, so the call, retried by the SDK or repeated by a resumed
        deploy, is the same operation (AWS runs an OperationId once)."""
        operation_id = str(uuid.uuid4())
        with self.run._lock:
            self.record.operations.append(operation_id)
            self.run.journal.stacks.setdefault(self.tpl.planned.name, self.record)
        self.run.save_journal()
        self.run.mutate(change, fn, OperationId=operation_id, **args)
        self.wait(operation_id, action, total)
        self._forget(operation_id)
        return operation_id

    def _forget(self, *operation_ids: str) -> None:
        with self.run._lock:
            self.record.operations = [o for o in self.record.operations if o not in operation_ids]

    # -- the StackSet -------------------------------------------------------------------
    def create(self) -> None:
        tpl = self.tpl
        args: dict[str, Any] = dict(StackSetName=tpl.name, Description=_description(tpl),
                                    Parameters=tpl.parameter_list(), Capabilities=CAPABILITIES, Tags=tpl.tags(),
                                    PermissionModel=self.dep.permission_model or "SELF_MANAGED")
        if self.service:
            args["AutoDeployment"] = auto_deployment(self.run.plan, tpl.planned)
            args["ManagedExecution"] = {"Active": True}
        detail = [f"{self.dep.permission_model}, {len(self.targets)} accounts x {len(self.regions)} regions",
                  *[f"{c}: {len(v)} resources" for c, v in sorted(_controls(tpl).items())]]
        if self.run.dry_run:
            self.run.mutate(Change("stackset", tpl.name, "create", detail))
            return
        args.update(body_args(self.run, tpl))
        self.run.mutate(Change("stackset", tpl.name, "create", detail), self.cfn.create_stack_set, **args)

    def update(self, current: dict[str, Any]) -> None:
        from .templates import control_diff, control_lines, parse_body, resource_index

        tpl = self.tpl
        old = resource_index(parse_body(current.get("TemplateBody", "")))
        details = control_lines(control_diff(old, tpl.resources()))
        old_params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in current.get("Parameters", [])}
        details += [f"parameter {k}: {old_params.get(k, '-')} -> {v}" for k, v in sorted(tpl.parameters.items())
                    if old_params.get(k) != v]
        if self.run.dry_run:
            self.run.mutate(Change("stackset", tpl.name, "update", details or ["tags/parameter overrides"]))
            return
        args: dict[str, Any] = dict(StackSetName=tpl.name, Description=_description(tpl),
                                    Parameters=tpl.parameter_list(), Capabilities=CAPABILITIES, Tags=tpl.tags(),
                                    OperationPreferences=operation_preferences(self.run))
        if self.service:
            args["AutoDeployment"] = auto_deployment(self.run.plan, tpl.planned)
        args.update(body_args(self.run, tpl))
        # No targets: AWS updates every existing instance of the StackSet.
        self.submit(Change("stackset", tpl.name, "update", details or ["tags/parameter overrides"]),
                    self.cfn.update_stack_set, "update", len(self.targets) * len(self.regions), **args)

    # -- instances ----------------------------------------------------------------------
    def list_instances(self) -> dict[tuple[str, str], dict[str, Any]]:
        items = paginate(self.cfn, "list_stack_instances", "Summaries", StackSetName=self.tpl.name).items
        return {(i["Account"], i["Region"]): i for i in items}

    def instances(self, changed_params: bool) -> None:
        run = self.run
        if run.dry_run and any(a == PENDING for a in self.targets):
            new = [n for a, n in self.targets.items() if a == PENDING]
            run.mutate(Change("stack-instances", self.tpl.name, "create",
                              [f"instances for new accounts: {', '.join(new)}"]))
        have = {} if run.dry_run and self._absent() else self.list_instances()
        for account, why in sorted(self.blocked.items()):
            for region in self.regions:
                self._failure(self.targets[account], (account, region), f"skipped, {why}")
        want = {(a, r) for a in self.targets if a != PENDING and a not in self.blocked for r in self.regions}
        missing = sorted(want - set(have))
        retry = sorted(k for k in want & set(have)
                       if f"{k[0]}/{k[1]}" in self.record.failed or not _healthy(have[k]))
        extra = sorted(k for k in set(have) - want if not self.service)
        if missing:
            self.create_instances(missing, have)
        if retry:
            self.update_instances(retry, "retry", "failed or not CURRENT last time")
        if extra:
            self.delete_instances(extra)
        # Overrides go on after the instances exist: when they changed, on new instances, and
        # when the last deploy did not finish (it may have stopped between the two), read back.
        unsure = not self.record.complete or self.record.parameters_sha256 != self.tpl.parameters_sha256
        if self.tpl.overrides and (changed_params or missing or unsure):
            there = set(have) if run.dry_run else set(self.list_instances())
            for account, values in sorted(self.tpl.overrides.items()):
                keys = [(account, r) for r in self.regions
                        if (account, r) in want and ((account, r) in there or run.dry_run)]
                if not (changed_params or run.dry_run):
                    keys = [k for k in keys if k in missing or self._overrides(k) != values]
                if keys:  # an instance that is not there (blocked, failed to create) has none to update
                    self.update_instances(keys, "update", "parameter overrides " + ", ".join(sorted(values)),
                                          overrides=values)
        if run.dry_run:
            return
        # Verify: every wanted instance exists and is CURRENT; say which failed and why.
        final = self.list_instances() if (missing or retry or extra or changed_params) else have
        for key in sorted(want):
            if f"{key[0]}/{key[1]}" in self.failed:
                continue  # its operation already said why
            inst = final.get(key)
            name = self.targets.get(key[0], key[0])
            if inst is None:
                reason = f"no stack instance after deploy ({'OU ' + self._ou_of(key[0]) if self.service else 'account'})"
                self._failure(name, key, reason)
            elif not _healthy(inst):
                detail = inst.get("StackInstanceStatus", {}).get("DetailedStatus", inst.get("Status"))
                self._failure(name, key, f"{detail}: {inst.get('StatusReason', '')}".strip(": "))

    def _overrides(self, key: tuple[str, str]) -> dict[str, str]:
        """The parameter overrides an instance has now (DescribeStackInstance: the list call
        does not return them)."""
        found = self.cfn.describe_stack_instance(StackSetName=self.tpl.name, StackInstanceAccount=key[0],
                                                 StackInstanceRegion=key[1])["StackInstance"]
        return {p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("ParameterOverrides", [])}

    def _absent(self) -> bool:
        try:
            self.cfn.describe_stack_set(StackSetName=self.tpl.name)
            return False
        except botocore.exceptions.ClientError:
            return True

    def _failure(self, name: str, key: tuple[str, str], reason: str) -> None:
        self.failed[f"{key[0]}/{key[1]}"] = reason
        self._lines[f"{key[0]}/{key[1]}"] = line = fail_line(self.tpl, name, key[1], reason)
        self.run.fail(line)

    def _retrying(self, keys: list[tuple[str, str]]) -> dict[str, str]:
        """Set aside this deploy's failures of `keys`, about to be tried again: the retry's own
        result is what the deploy reports (an instance that fails again is reported again)."""
        earlier = {}
        for a, r in keys:
            key = f"{a}/{r}"
            if key in self.failed:
                earlier[key] = self.failed.pop(key)
                self.run.withdraw(self._lines.pop(key))
        return earlier

    def _ou_of(self, account_id: str) -> str:
        name = self.targets.get(account_id, "")
        for a in self.run.cfg.accounts:
            if a.name == name:
                return a.ou
        return "?"

    def _targets(self, keys: list[tuple[str, str]], *, whole_ous: bool) -> dict[str, Any]:
        accounts = sorted({a for a, _ in keys})
        if not self.service:
            return {"Accounts": accounts}
        if whole_ous:
            ids = [self.run.ctx.ou_id(o) for o in self.dep.target_ous]
            return {"DeploymentTargets": {"OrganizationalUnitIds": ids}}
        # Only these accounts: their OUs, filtered to the accounts (AWS's INTERSECTION).
        ous = sorted({self.run.ctx.ou_id(self._ou_of(a)) for a in accounts})
        return {"DeploymentTargets": {"OrganizationalUnitIds": ous, "Accounts": accounts,
                                      "AccountFilterType": "INTERSECTION"}}

    def create_instances(self, missing: list[tuple[str, str]], have: dict) -> None:
        """First deploy: whole OUs in one operation (what auto-deployment then maintains).
        Later: only the missing accounts, grouped by the regions they lack; repeated while it
        makes progress, so OUs nested below a target are reached level by level."""
        whole = self.service and not self.dep.target_accounts and not have and not self.blocked
        for _ in range(8):
            groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
            by_account: dict[str, list[str]] = defaultdict(list)
            for a, r in missing:
                by_account[a].append(r)
            for a, regions in by_account.items():
                groups[tuple(sorted(regions))].append(a)
            for regions, accounts in sorted(groups.items()):
                if self.service and not whole:
                    accounts = self._outermost(accounts)
                keys = [(a, r) for a in accounts for r in regions]
                names = sorted(self.targets.get(a, a) for a in accounts)
                label = "OUs " + ", ".join(self.dep.target_ous) if whole else ", ".join(names[:6]) + (
                    f" (+{len(names) - 6})" if len(names) > 6 else "")
                change = Change("stack-instances", self.tpl.name, "create",
                                [f"instances: {label} x {', '.join(regions)}"])
                if self.run.dry_run:
                    self.run.mutate(change)
                    continue
                try:
                    self.submit(change, self.cfn.create_stack_instances, "create", len(keys),
                                StackSetName=self.tpl.name, Regions=list(regions),
                                OperationPreferences=operation_preferences(self.run),
                                **self._targets(keys, whole_ous=whole))
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    for a in accounts:
                        for r in regions:
                            self._failure(self.targets.get(a, a), (a, r), describe_error(exc))
            if self.run.dry_run:
                return
            have = self.list_instances()
            # not there, or there but not finished (cancelled when another account's failure
            # stopped the operation): tried again; failed ones are reported, not retried here
            still = [k for k in missing if not (k in have and _healthy(have[k]))
                     and f"{k[0]}/{k[1]}" not in self.failed]
            if not still or len(still) == len(missing):
                return
            missing, whole = still, False

    def _outermost(self, accounts: list[str]) -> list[str]:
        """Accounts whose OU has no ancestor OU among the others' (one OU level per round)."""
        parents = {o.name: o.parent for o in self.run.cfg.ous}
        ous = {self._ou_of(a) for a in accounts}

        def has_ancestor(ou: str) -> bool:
            node = parents.get(ou)
            while node in parents:
                if node in ous:
                    return True
                node = parents.get(node)
            return False

        return [a for a in accounts if not has_ancestor(self._ou_of(a))]

    def update_instances(self, keys: list[tuple[str, str]], action: str, why: str,
                         overrides: dict[str, str] | None = None) -> None:
        by_regions: dict[tuple[str, ...], list[str]] = defaultdict(list)
        per: dict[str, list[str]] = defaultdict(list)
        for a, r in keys:
            per[a].append(r)
        for a, regions in per.items():
            by_regions[tuple(sorted(regions))].append(a)
        for regions, accounts in sorted(by_regions.items()):
            names = ", ".join(sorted(self.targets.get(a, a) for a in accounts))
            change = Change("stack-instances", self.tpl.name, action,
                            [f"instances {names} x {', '.join(regions)}: {why}"])
            args: dict[str, Any] = dict(StackSetName=self.tpl.name, Regions=list(regions),
                                        OperationPreferences=operation_preferences(self.run),
                                        **self._targets([(a, r) for a in accounts for r in regions], whole_ous=False))
            if overrides:
                args["ParameterOverrides"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(overrides.items())]
            if self.run.dry_run:
                self.run.mutate(change)
                continue
            earlier = self._retrying([(a, r) for a in accounts for r in regions])
            try:
                self.submit(change, self.cfn.update_stack_instances, action, len(accounts) * len(regions), **args)
                for a in accounts:
                    for r in regions:
                        self.record.failed.pop(f"{a}/{r}", None)
                        if f"{a}/{r}" in earlier and f"{a}/{r}" not in self.failed:
                            self.run.note(fail_line(self.tpl, self.targets.get(a, a), r,
                                                    f"failed ({earlier[f'{a}/{r}']}), then deployed when retried"))
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                for a in accounts:
                    for r in regions:
                        self._failure(self.targets.get(a, a), (a, r), describe_error(exc))

    def delete_instances(self, keys: list[tuple[str, str]]) -> None:
        accounts = sorted({a for a, _ in keys})
        regions = sorted({r for _, r in keys})
        change = Change("stackset", self.tpl.name, "delete",
                        [f"instances {', '.join(accounts)} x {', '.join(regions)}: no longer targeted"])
        if self.run.dry_run:
            self.run.mutate(change)
            return
        try:
            self.submit(change, self.cfn.delete_stack_instances, "delete", len(keys), StackSetName=self.tpl.name,
                        Accounts=accounts, Regions=regions, RetainStacks=False,
                        OperationPreferences=operation_preferences(self.run))
        except botocore.exceptions.ClientError as exc:
            self.run.fail(f"{self.tpl.name}/{','.join(accounts)}/{','.join(regions)}: {describe_error(exc)}")

    # -- waiting ------------------------------------------------------------------------
    def wait(self, operation_id: str, action: str, total: int, *, report: bool = True) -> None:
        """Poll the operation with a live progress row; one failure line per failed instance
        (`report=False`: an operation an earlier deploy left, whose instances are checked
        afterwards like all the others). The operation's status is read at the poll interval,
        backing off while it runs long; its per-instance results only for the progress row
        (at most every `RESULTS_EVERY` polls) and once at the end."""
        run = self.run
        task = run.progress.start(f"{self.tpl.name} {action}", total) if run.progress and report else None
        deadline = time.monotonic() + run.timeout
        status, polls = "RUNNING", 0
        while True:
            op = self.cfn.describe_stack_set_operation(StackSetName=self.tpl.name, OperationId=operation_id)
            status = op["StackSetOperation"]["Status"]
            finished = status in DONE or time.monotonic() > deadline
            if finished or (task is not None and polls % RESULTS_EVERY == RESULTS_EVERY - 1):
                results = paginate(self.cfn, "list_stack_set_operation_results", "Summaries",
                                   StackSetName=self.tpl.name, OperationId=operation_id).items
                done = sum(1 for r in results if r["Status"] in ("SUCCEEDED", "FAILED", "CANCELLED"))
                failed = [r for r in results if r["Status"] in ("FAILED", "CANCELLED")]
                if task is not None:
                    run.progress.update(task, done=done if status not in DONE else max(done, total),
                                        failed=len(failed))
            if finished:
                break
            run.sleep(polls)
            polls += 1
        if task is not None:
            run.progress.finish(task, status)
        if not report:
            return
        for r in failed:
            if r["Status"] != "FAILED":
                continue  # cancelled: not tried, so tried again, not reported as failed
            name = self.targets.get(r["Account"], r["Account"])
            self._failure(name, (r["Account"], r["Region"]), r.get("StatusReason", r["Status"]))
        if status not in DONE:
            run.fail(f"{self.tpl.name}: operation {operation_id} still {status} after {run.timeout:.0f}s; "
                     "the next deploy picks it up")

    # -- self-managed roles -------------------------------------------------------------
    def ensure_roles(self) -> None:
        """Self-managed StackSets need the administration role in the management account and
        the execution role in each target account (AWS's documented names)."""
        from .roles import ensure_stackset_roles

        ensure_stackset_roles(self.run, [a for a in self.targets if a != PENDING])


def declared_targets(tpl: Template) -> dict[str, list[str]]:
    dep = tpl.planned.deployment
    return {"ous": sorted(dep.target_ous), "accounts": sorted(dep.target_accounts or ([dep.account] if dep.account else [])),
            "regions": sorted(dep.regions)}


def _healthy(inst: dict[str, Any]) -> bool:
    detailed = inst.get("StackInstanceStatus", {}).get("DetailedStatus", "SUCCEEDED")
    return inst.get("Status", "CURRENT") == "CURRENT" and detailed not in ("FAILED", "CANCELLED", "FAILED_IMPORT")


def _description(tpl: Template) -> str:
    base = str(tpl.data.get("Description", f"Charter {tpl.planned.name}"))
    return base[:1024]


def _controls(tpl: Template) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for lid, entry in tpl.resources().items():
        for c in entry[2:]:
            out.setdefault(c, []).append(lid)
    return out
