"""StackSets and their operations as AWS runs them.

moto 5.2.1 ran every StackSet operation inside the API call and answered SUCCEEDED, and
ignored the parts of the API Charter relies on (each difference is one of the tests in
tests/local/test_moto_patches.py, which fails on plain moto):

- **Asynchronous operations.** CreateStackInstances, UpdateStackInstances,
  DeleteStackInstances and UpdateStackSet return an `OperationId` at once; the operation
  then runs in the background (QUEUED -> RUNNING -> SUCCEEDED | FAILED | STOPPED), its
  instances PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED, as DescribeStackSetOperation,
  ListStackSetOperations, ListStackSetOperationResults and ListStackInstances show while it
  runs. moto made every instance inside the call (a 62-account organization took minutes
  under load, past the SDK's read timeout, whose retry made every instance again).
- **Idempotent on OperationId.** A call repeated with the same `OperationId` (an SDK retry,
  a resumed deploy) is the same operation: its id is returned and nothing runs twice; the
  same id for another kind of operation is `OperationIdAlreadyExistsException`. moto
  ignored the id.
- **One operation at a time per StackSet.** Another call while one runs is refused with
  `OperationInProgressException`, or queued when the StackSet has managed execution on
  (`ManagedExecution.Active`), as AWS does. DeleteStackSet is refused while one runs.
- **OperationPreferences.** Regions in `RegionOrder`, one after another (SEQUENTIAL) or
  each on its own (PARALLEL); accounts in batches of `MaxConcurrentCount|Percentage`; a
  region whose failures exceed `FailureToleranceCount|Percentage` stops, its remaining
  instances CANCELLED (and, SEQUENTIAL, every later region's), and the operation FAILED.
  STRICT_FAILURE_TOLERANCE checks after every instance, SOFT after every batch.
- **Targets.** A service-managed instance never goes to the organization's management
  account; target OUs reach their whole subtree; DeploymentTargets.Accounts with
  AccountFilterType (INTERSECTION, DIFFERENCE, UNION) are honoured, for updates and
  deletes too; an existing instance is never duplicated.
- **Instances are real stacks** in their account and region (`StackSet-<name>-<uuid>`), so
  their exports are importable there and they import the exports already there; their
  parameters are the StackSet's overridden by the instance's ParameterOverrides; updates
  bring each instance's stack to the current template and parameters (`update_stack`).
  An instance whose stack fails reports FAILED with the resource and reason, its stack
  rolled back; a later operation creates it again.

The operations run one instance after another in one thread per StackSet (moto's backends
are plain dicts; the emulator gains nothing from concurrency under the GIL), so what
differs from AWS is timing only: batches and parallel regions are honoured in which
instances run, stop and are cancelled, not in how many run at the same instant.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime
from typing import Any

from charter.local.patches.stack_update import update_stack

#: Operation states in which another operation must wait (or be refused).
ACTIVE = ("QUEUED", "RUNNING", "STOPPING")
_LOCK = threading.RLock()
#: Every StackSet's runner thread, so that stopping the embedded AWS stops them: a runner left
#: going after a stop writes its stacks and roles into the next embedded AWS of the process.
_RUNNERS: dict[threading.Thread, Any] = {}


def _now() -> datetime:
    return datetime.now(UTC)


def _error(code: str, message: str) -> Exception:
    from moto.cloudformation.exceptions import CloudFormationError

    error = type(code, (CloudFormationError,), {"code": code})
    return error(message)


class Operation:
    """One StackSet operation: its instances in the order they run and each one's result."""

    def __init__(self, stackset: Any, operation_id: str, action: str, keys: list[tuple[str, str]],
                 preferences: dict[str, Any], work: Any, *, deployment_targets: dict | None = None,
                 retain_stacks: bool | None = None) -> None:
        self.stackset, self.id, self.action = stackset, operation_id, action
        self.keys = list(dict.fromkeys(keys))
        self.preferences = dict(preferences or {})
        self.work = work
        self.deployment_targets = deployment_targets
        self.retain_stacks = retain_stacks
        self.status = "QUEUED"
        self.status_reason = ""
        self.created = _now()
        self.ended: datetime | None = None
        self.stop_requested = False
        self.results: dict[tuple[str, str], list[str]] = {k: ["PENDING", ""] for k in self.keys}

    # -- the run ------------------------------------------------------------------------
    def regions(self) -> list[str]:
        seen = list(dict.fromkeys(r for _, r in self.keys))
        order = [r for r in self.preferences.get("RegionOrder") or [] if r in seen]
        return order + [r for r in seen if r not in order]

    def _limit(self, count_key: str, pct_key: str, n: int, default: int) -> int:
        if self.preferences.get(count_key) is not None:
            return int(self.preferences[count_key])
        if self.preferences.get(pct_key) is not None:
            return int(math.floor(n * int(self.preferences[pct_key]) / 100))
        return default

    def run(self) -> None:
        with _LOCK:
            self.status = "RUNNING"
        sequential = self.preferences.get("RegionConcurrencyType", "SEQUENTIAL") != "PARALLEL"
        strict = self.preferences.get("ConcurrencyMode", "STRICT_FAILURE_TOLERANCE") == "STRICT_FAILURE_TOLERANCE"
        exceeded = False
        try:
            for region in self.regions():
                accounts = [a for a, r in self.keys if r == region]
                if self.stop_requested or (exceeded and sequential):
                    self._cancel(accounts, region, "Cancelled since failure tolerance has exceeded"
                                 if exceeded else "Cancelled: the operation was stopped")
                    continue
                tolerance = self._limit("FailureToleranceCount", "FailureTolerancePercentage", len(accounts), 0)
                batch = max(1, self._limit("MaxConcurrentCount", "MaxConcurrentPercentage", len(accounts), 1))
                failures = 0
                for start in range(0, len(accounts), batch):
                    for i, account in enumerate(accounts[start:start + batch]):
                        if self.stop_requested or (strict and failures > tolerance):
                            self._cancel(accounts[start + i:start + batch], region,
                                         "Cancelled since failure tolerance has exceeded")
                            break
                        failures += not self._one((account, region))
                    if failures > tolerance or self.stop_requested:
                        self._cancel(accounts[start + batch:], region, "Cancelled since failure tolerance has exceeded"
                                     if failures > tolerance else "Cancelled: the operation was stopped")
                        exceeded = exceeded or failures > tolerance
                        break
            with _LOCK:
                if self.stop_requested:
                    self.status = "STOPPED"
                elif exceeded:
                    self.status, self.status_reason = "FAILED", "The Operation failed because failure tolerance was exceeded"
                else:
                    self.status = "SUCCEEDED"
        except Exception as exc:  # noqa: BLE001 - never leave an operation RUNNING forever
            with _LOCK:
                self.status, self.status_reason = "FAILED", f"internal error of the embedded AWS: {exc}"
                for key, result in self.results.items():
                    if result[0] in ("PENDING", "RUNNING"):
                        self.results[key] = ["CANCELLED", self.status_reason]
        finally:
            self.ended = _now()

    def _one(self, key: tuple[str, str]) -> bool:
        with _LOCK:
            self.results[key] = ["RUNNING", ""]
        try:
            reason = self.work(key, self)
        except Exception as exc:  # noqa: BLE001 - the instance fails, as on AWS
            reason = _reason(exc)
        with _LOCK:
            self.results[key] = ["FAILED", reason] if reason else ["SUCCEEDED", ""]
        return not reason

    def _cancel(self, accounts: list[str], region: str, why: str) -> None:
        with _LOCK:
            for account in accounts:
                key = (account, region)
                if key in self.results and self.results[key][0] == "PENDING":
                    self.results[key] = ["CANCELLED", why]
                    instance = self.stackset.instances.get_instance(account, region)
                    if instance is not None and instance.detailed in ("PENDING", "RUNNING"):
                        instance.detailed, instance.reason = "CANCELLED", why

    # -- what the API shows -------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        failed = sum(1 for s, _ in self.results.values() if s == "FAILED")
        out: dict[str, Any] = {"OperationId": self.id, "Action": self.action, "Status": self.status,
                               "CreationTimestamp": self.created, "OperationPreferences": self.preferences,
                               "StatusDetails": {"FailedStackInstancesCount": failed}}
        if self.ended is not None and self.status not in ACTIVE:
            out["EndTimestamp"] = self.ended
        if self.status_reason:
            out["StatusReason"] = self.status_reason
        return out

    def description(self) -> dict[str, Any]:
        s = self.stackset
        out = {**self.summary(), "StackSetId": s.id, "AdministrationRoleARN": s.administration_role_arn,
               "ExecutionRoleName": s.execution_role_name}
        if self.deployment_targets:
            out["DeploymentTargets"] = self.deployment_targets
        if self.retain_stacks is not None:
            out["RetainStacks"] = self.retain_stacks
        return out

    def result_summaries(self) -> list[dict[str, Any]]:
        out = []
        for (account, region), (status, reason) in self.results.items():
            entry = {"Account": account, "Region": region, "Status": status,
                     "AccountGateResult": {"Status": "SKIPPED", "StatusReason": "Function not found: arn:aws:lambda:"
                                           f"{region}:{account}:function:AWSCloudFormationStackSetAccountGate"}}
            if reason:
                entry["StatusReason"] = reason
            out.append(entry)
        return out


def _reason(exc: BaseException) -> str:
    """An instance's StatusReason, worded as AWS words it (naming the resource when known)."""
    reason = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
    if hasattr(exc, "charter_resource"):
        logical, kind = exc.charter_resource
        return f"ResourceLogicalId:{logical}, ResourceType:{kind}, ResourceStatusReason:{reason}"
    return reason


# -- the queue of one StackSet ----------------------------------------------------------------

def _operations(stackset: Any) -> dict[str, Operation]:
    ops = getattr(stackset, "charter_operations", None)
    if ops is None:
        ops = stackset.charter_operations = {}
    return ops


def submit(stackset: Any, operation: Operation) -> str:
    """Queue `operation` (or find the one with its id) and make sure the StackSet's runner runs."""
    with _LOCK:
        ops = _operations(stackset)
        existing = ops.get(operation.id)
        if existing is not None:
            if existing.action != operation.action:
                raise _error("OperationIdAlreadyExistsException",
                             f"The operation id {operation.id} already exists for a {existing.action} operation")
            return existing.id  # the same call again: the same operation, run once
        busy = [op for op in ops.values() if op.status in ACTIVE]
        if busy and not (getattr(stackset, "charter_managed_execution", None) or {}).get("Active"):
            raise _error("OperationInProgressException",
                         f"Another Operation on StackSet {stackset.arn} is in progress: {busy[0].id}")
        ops[operation.id] = operation
        operation.prepare()
        if not getattr(stackset, "charter_runner", None):
            stackset.charter_runner = threading.Thread(target=_drain, args=(stackset,), daemon=True,
                                                       name=f"stackset-{stackset.name}")
            _RUNNERS[stackset.charter_runner] = stackset
            stackset.charter_runner.start()
    return operation.id


def _drain(stackset: Any) -> None:
    while True:
        with _LOCK:
            queued = [op for op in _operations(stackset).values() if op.status == "QUEUED"]
            if not queued:
                stackset.charter_runner = None
                _RUNNERS.pop(threading.current_thread(), None)
                return
            op = min(queued, key=lambda o: o.created)
        op.run()


def request_stop() -> None:
    """Stop every StackSet operation still queued or running (the embedded AWS is stopping):
    the instance being deployed finishes, nothing new starts."""
    with _LOCK:
        for stackset in _RUNNERS.values():
            for op in _operations(stackset).values():
                if op.status in ACTIVE:
                    op.stop_requested = True


def join(timeout: float = 60.0) -> None:
    """Wait for the runners `request_stop` stopped."""
    with _LOCK:
        runners = list(_RUNNERS)
    for thread in runners:
        thread.join(timeout)  # a runner leaves `_RUNNERS` itself as it ends (`_drain`)


def active(stackset: Any) -> list[Operation]:
    with _LOCK:
        return [op for op in _operations(stackset).values() if op.status in ACTIVE]


def get_operation(stackset: Any, operation_id: str) -> Operation:
    from moto.cloudformation.exceptions import CloudFormationError

    found = _operations(stackset).get(operation_id)
    if found is None:
        error = type("OperationNotFoundException", (CloudFormationError,), {"code": "OperationNotFoundException"})
        raise error(f"The specified operation ID, {operation_id}, doesn't exist or doesn't belong to this stack set")
    return found


def _effective_parameters(defaults: dict[str, str] | None, overrides: list[dict]) -> dict[str, str]:
    """A StackSet instance's parameters: the StackSet's, each overridden by the instance's."""
    values = dict(defaults or {})
    values.update({p["ParameterKey"]: p["ParameterValue"] for p in overrides if "ParameterValue" in p})
    return values


def patch_stacksets() -> None:
    """Install the model and the API described in the module docstring."""
    from moto.cloudformation import models as cfn
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult, EmptyResult
    from moto.moto_api._internal import mock_random

    # -- lookups --------------------------------------------------------------------------
    def describe_stack_set(self, name: str) -> Any:
        """moto's, over a copy of the StackSets: the server answers on many threads, and
        moto's loop over the live dict fails (HTTP 500, "OrderedDict mutated during
        iteration") when another request creates a StackSet meanwhile."""
        from moto.cloudformation.exceptions import StackSetNotFoundException

        stacksets = dict(self.stacksets)  # one C-level copy: atomic under the GIL
        found = stacksets.get(name)
        if found is not None and found.status != "DELETED":
            return found
        for stackset in stacksets.values():
            if stackset.name == name and stackset.status != "DELETED":
                return stackset
        raise StackSetNotFoundException(name)

    if not hasattr(cfn.CloudFormationBackend.describe_stack_set, "moto_original"):
        describe_stack_set.moto_original = cfn.CloudFormationBackend.describe_stack_set  # type: ignore[attr-defined]
        cfn.CloudFormationBackend.describe_stack_set = describe_stack_set

    # -- instances ------------------------------------------------------------------------
    def instance_init(self, account_id, region_name, stackset_id, name, permission_model, parameters=None):
        self.account_id, self.region_name, self.stackset_id = account_id, region_name, stackset_id
        self.name, self.permission_model = name, permission_model
        self.parameters: list[dict] = list(parameters or [])
        self.stack = None
        self.stack_name = f"StackSet-{name}-{mock_random.uuid4()}"
        self.status, self.detailed, self.reason = "OUTDATED", "PENDING", "User Initiated"
        self.last_operation = ""

    def instance_deploy(self, template: str, defaults: dict[str, str]) -> str:
        """Create or update this instance's stack; '' when it is CURRENT, else the reason."""
        backend = cfn.cloudformation_backends[self.account_id][self.region_name]
        parameters = _effective_parameters(defaults, self.parameters)
        self.detailed, self.reason = "RUNNING", ""
        if self.stack is not None and self.stack.stack_id in backend.stacks:
            try:
                update_stack(backend, self.stack, template, parameters)
            except Exception as exc:  # noqa: BLE001 - the instance fails, as on AWS
                return self._failed(_reason(exc))
            return self._current()
        try:
            stack = backend.create_stack(name=self.stack_name, template=template, parameters=parameters)
        except Exception as exc:  # noqa: BLE001 - refused as a whole (a template error)
            self._roll_back(backend)
            return self._failed(_reason(exc))
        if stack.status == "ROLLBACK_COMPLETE":
            reason = getattr(stack, "rollback_reason", "") or "the stack rolled back"
            self._roll_back(backend)
            return self._failed(reason)
        self.stack = stack
        return self._current()

    def instance_roll_back(self, backend) -> None:
        # AWS rolls a failed creation back: what was made goes, so a retry can make it again
        self.stack = None
        for stack_id, stack in list(backend.stacks.items()):
            if stack.name == self.stack_name:
                try:
                    stack.delete()
                except Exception:  # noqa: BLE001, S110 - best effort, like a rollback that cannot delete
                    pass
                backend.stacks.pop(stack_id, None)
                for export in [e for e in backend.exports.values() if e.exporting_stack_id == stack_id]:
                    backend.exports.pop(export.name, None)
        self.stack_name = f"StackSet-{self.name}-{mock_random.uuid4()}"

    def instance_failed(self, reason: str) -> str:
        self.status, self.detailed, self.reason = "OUTDATED", "FAILED", reason
        return reason

    def instance_current(self) -> str:
        self.status, self.detailed, self.reason = "CURRENT", "SUCCEEDED", ""
        return ""

    def instance_delete(self) -> None:
        if self.stack is not None:
            cfn.cloudformation_backends[self.account_id][self.region_name].delete_stack(self.stack.stack_id)
            self.stack = None

    def instance_to_dict(self) -> dict[str, Any]:
        stack_id = self.stack.stack_id if self.stack is not None else cfn.generate_stack_id(
            self.stack_name, self.region_name, self.account_id)
        out = {"StackId": stack_id, "StackSetId": self.stackset_id, "Region": self.region_name,
               "Account": self.account_id, "Status": self.status, "ParameterOverrides": self.parameters,
               "StackInstanceStatus": {"DetailedStatus": self.detailed}}
        if self.reason:
            out["StatusReason"] = self.reason
        if self.last_operation:
            out["LastOperationId"] = self.last_operation
        return out

    cfn.StackInstance.__init__ = instance_init
    cfn.StackInstance.deploy = instance_deploy
    cfn.StackInstance._roll_back = instance_roll_back
    cfn.StackInstance._failed = instance_failed
    cfn.StackInstance._current = instance_current
    cfn.StackInstance.delete = instance_delete
    cfn.StackInstance.to_dict = instance_to_dict

    def targets(self, accounts, deployment_targets, permission_model) -> list[str]:
        """The accounts a call addresses, as AWS resolves them."""
        if permission_model != "SERVICE_MANAGED" or not deployment_targets:
            return list(dict.fromkeys(accounts or []))
        org = self.org_backend
        ous = set(deployment_targets.get("OrganizationalUnitIds", []))
        grew = True
        while grew:  # the whole subtree of every target OU
            below = {ou.id for ou in org.ou if ou.parent_id in ous}
            grew = not below <= ous
            ous |= below
        in_ous = [a.id for a in org.accounts if a.parent_id in ous]
        named = list(deployment_targets.get("Accounts", []) or [])
        how = deployment_targets.get("AccountFilterType", "NONE" if not named else "INTERSECTION")
        found = {"INTERSECTION": [a for a in in_ous if a in named],
                 "DIFFERENCE": [a for a in in_ous if a not in named],
                 "UNION": in_ous + [a for a in named if a not in in_ous]}.get(how, in_ous)
        management = org.org.master_account_id if org.org else None
        return [a for a in dict.fromkeys(found) if a != management]

    def get_instance(self, account, region):
        return next((i for i in self.stack_instances if i.account_id == account and i.region_name == region), None)

    cfn.StackInstances.targets = targets
    cfn.StackInstances.get_instance = get_instance

    # -- the StackSet ---------------------------------------------------------------------
    cfn.StackSet.managed_execution = property(
        lambda self: getattr(self, "charter_managed_execution", None) or {"Active": False})

    def prepare(self: Operation) -> None:
        """What AWS shows the moment an operation is accepted: its instances PENDING (new
        ones listed at once, OUTDATED until they succeed)."""
        stackset = self.stackset
        for account, region in self.keys:
            instance = stackset.instances.get_instance(account, region)
            if instance is None and self.action == "CREATE":
                instance = cfn.StackInstance(account, region, stackset.id, stackset.name, stackset.permission_model,
                                             self.parameters_for_new)
                stackset.stack_instances.append(instance)
            if instance is None or (self.action == "CREATE" and instance.status == "CURRENT"):
                continue  # an instance that is there already stays as it is
            instance.status, instance.detailed, instance.reason = "OUTDATED", "PENDING", "User Initiated"
            instance.last_operation = self.id

    Operation.prepare = prepare  # type: ignore[attr-defined]
    Operation.parameters_for_new = []  # type: ignore[attr-defined]

    def stackset_of(response) -> Any:
        return response.cloudformation_backend.describe_stack_set(response._get_param("StackSetName"))

    def preferences_of(response) -> dict[str, Any]:
        prefs = response._get_params().get("OperationPreferences") or {}
        for key in ("FailureToleranceCount", "FailureTolerancePercentage", "MaxConcurrentCount",
                    "MaxConcurrentPercentage"):
            if prefs.get(key) is not None:
                prefs[key] = int(prefs[key])
        if prefs.get("FailureToleranceCount") is not None and prefs.get("FailureTolerancePercentage") is not None:
            raise ValidationError(message="FailureToleranceCount and FailureTolerancePercentage are mutually exclusive")
        if prefs.get("MaxConcurrentCount") is not None and prefs.get("MaxConcurrentPercentage") is not None:
            raise ValidationError(message="MaxConcurrentCount and MaxConcurrentPercentage are mutually exclusive")
        return prefs

    def operation_id_of(response) -> str:
        # botocore fills OperationId (an idempotency token) when the caller gives none
        return response._get_param("OperationId") or str(mock_random.uuid4())

    def addressed(response, stackset) -> tuple[list[str], dict | None]:
        targets = response._get_params().get("DeploymentTargets")
        accounts = response._get_param("Accounts", [])
        if stackset.permission_model == "SERVICE_MANAGED":
            if accounts or not targets or "OrganizationalUnitIds" not in targets:
                raise ValidationError(message="StackSets with SERVICE_MANAGED permission model can only have "
                                              "OrganizationalUnit as target")
        elif targets and targets.get("OrganizationalUnitIds"):
            raise ValidationError(message="StackSets with SELF_MANAGED permission model can only have accounts as target")
        elif targets:
            accounts = targets.get("Accounts", [])
        return stackset.instances.targets(accounts, targets, stackset.permission_model), targets

    def create_work(stackset):
        def work(key, op):
            instance = stackset.instances.get_instance(*key)
            if instance.status == "CURRENT" and instance.stack is not None:
                return ""  # already there: AWS never duplicates an instance
            return instance.deploy(stackset.template, stackset.parameters)
        return work

    def update_work(stackset, overrides):
        def work(key, op):
            instance = stackset.instances.get_instance(*key)
            if overrides is not None:  # present (even empty): they become the instance's list
                previous = {p["ParameterKey"]: p for p in instance.parameters}
                instance.parameters = [previous[p["ParameterKey"]] if p.get("UsePreviousValue") else p
                                       for p in overrides
                                       if not p.get("UsePreviousValue") or p["ParameterKey"] in previous]
            return instance.deploy(stackset.template, stackset.parameters)
        return work

    def delete_work(stackset, retain):
        def work(key, op):
            instance = stackset.instances.get_instance(*key)
            if instance is None:
                return ""
            if not retain:
                try:
                    instance.delete()
                except Exception as exc:  # noqa: BLE001 - AWS leaves it INOPERABLE
                    instance.status, instance.detailed, instance.reason = "INOPERABLE", "FAILED", _reason(exc)
                    return instance.reason
            with _LOCK:
                stackset.stack_instances.remove(instance)
            return ""
        return work

    def create_stack_set(self):
        result = original_create_stack_set(self)
        managed = self._get_params().get("ManagedExecution")
        if managed is not None:
            stackset = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
            stackset.charter_managed_execution = {"Active": str(managed.get("Active")).lower() == "true"}
        return result

    def create_stack_instances(self):
        stackset = stackset_of(self)
        regions = self._get_param("Regions", [])
        accounts, targets = addressed(self, stackset)
        op = Operation(stackset, operation_id_of(self), "CREATE", [(a, r) for r in regions for a in accounts],
                       preferences_of(self), create_work(stackset), deployment_targets=targets)
        op.parameters_for_new = self._get_param("ParameterOverrides", [])
        return ActionResult({"OperationId": submit(stackset, op)})

    def update_stack_instances(self):
        stackset = stackset_of(self)
        regions = self._get_param("Regions", [])
        accounts, targets = addressed(self, stackset)
        keys = [(a, r) for r in regions for a in accounts]
        missing = [k for k in keys if stackset.instances.get_instance(*k) is None]
        if missing:
            raise _error("StackInstanceNotFoundException", f"Stack instance {missing[0][0]}/{missing[0][1]} of "
                                                            f"StackSet {stackset.name} does not exist")
        overrides = self._get_params().get("ParameterOverrides")
        op = Operation(stackset, operation_id_of(self), "UPDATE", keys, preferences_of(self),
                       update_work(stackset, overrides), deployment_targets=targets)
        return ActionResult({"OperationId": submit(stackset, op)})

    def delete_stack_instances(self):
        stackset = stackset_of(self)
        regions = self._get_param("Regions", [])
        accounts, targets = addressed(self, stackset)
        retain = str(self._get_param("RetainStacks", False)).lower() == "true"
        keys = [(a, r) for r in regions for a in accounts if stackset.instances.get_instance(a, r) is not None]
        op = Operation(stackset, operation_id_of(self), "DELETE", keys, preferences_of(self),
                       delete_work(stackset, retain), deployment_targets=targets, retain_stacks=retain)
        return ActionResult({"OperationId": submit(stackset, op)})

    def update_stack_set(self):
        stackset = stackset_of(self)
        operation_id = operation_id_of(self)
        with _LOCK:
            existing = _operations(stackset).get(operation_id)
            if existing is None and active(stackset) and not stackset.managed_execution.get("Active"):
                raise _error("OperationInProgressException",
                             f"Another Operation on StackSet {stackset.arn} is in progress")
        if existing is None:
            template = self._get_param("TemplateBody")
            if self._get_param("TemplateURL"):
                template = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
            if self._get_param("UsePreviousTemplate") and not template:
                template = stackset.template
            parameters = self.cloudformation_backend._resolve_update_parameters(
                instance=stackset, incoming_params=self._get_param("Parameters", []))
            stackset.template = template or stackset.template
            description = self._get_param("Description")
            stackset.description = description if description is not None else stackset.description
            stackset.parameters = parameters or stackset.parameters
            tags = self._get_param("Tags")
            if tags is not None:
                stackset.tags = {t["Key"]: t["Value"] for t in tags}
            stackset.administration_role_arn = self._get_param("AdministrationRoleARN") or stackset.administration_role_arn
            stackset.execution_role_name = self._get_param("ExecutionRoleName") or stackset.execution_role_name
            managed = self._get_params().get("ManagedExecution")
            if managed is not None:
                stackset.charter_managed_execution = {"Active": str(managed.get("Active")).lower() == "true"}
        regions = self._get_param("Regions", [])
        given = self._get_param("Accounts", []) or self._get_params().get("DeploymentTargets")
        accounts, targets = addressed(self, stackset) if given else ([], None)
        have = [(i.account_id, i.region_name) for i in stackset.stack_instances]
        # without targets, AWS updates every existing instance of the StackSet
        keys = [(a, r) for r in regions for a in accounts if (a, r) in have] if given and regions else have
        op = Operation(stackset, operation_id, "UPDATE", keys, preferences_of(self), update_work(stackset, None),
                       deployment_targets=targets)
        return ActionResult({"OperationId": submit(stackset, op)})

    def delete_stack_set(self):
        stackset = stackset_of(self)
        if active(stackset):
            raise _error("OperationInProgressException", f"Another Operation on StackSet {stackset.arn} is in progress")
        if stackset.stack_instances:
            raise _error("StackSetNotEmptyException", "StackSet is not empty")
        stackset.delete()
        return EmptyResult()

    def describe_stack_set_operation(self):
        op = get_operation(stackset_of(self), self._get_param("OperationId"))
        with _LOCK:
            return ActionResult({"StackSetOperation": op.description()})

    def list_stack_set_operations(self):
        with _LOCK:
            ops = sorted(_operations(stackset_of(self)).values(), key=lambda o: o.created, reverse=True)
            return ActionResult({"Summaries": [o.summary() for o in ops]})

    def list_stack_set_operation_results(self):
        op = get_operation(stackset_of(self), self._get_param("OperationId"))
        with _LOCK:
            return ActionResult({"Summaries": op.result_summaries()})

    def stop_stack_set_operation(self):
        op = get_operation(stackset_of(self), self._get_param("OperationId"))
        with _LOCK:
            if op.status not in ACTIVE:
                raise _error("InvalidOperationException", f"Operation {op.id} is {op.status}, it cannot be stopped")
            op.stop_requested = True
            if op.status == "QUEUED":  # nothing ran
                op.status, op.ended = "STOPPED", _now()
                for account, region in op.keys:
                    op._cancel([account], region, "Cancelled: the operation was stopped")
            else:
                op.status = "STOPPING"
        return EmptyResult()

    def list_stack_instances(self):
        # a summary, as AWS lists it: the overrides only in DescribeStackInstance
        with _LOCK:
            return ActionResult({"Summaries": [{k: v for k, v in i.to_dict().items() if k != "ParameterOverrides"}
                                               for i in stackset_of(self).stack_instances]})

    def describe_stack_instance(self):
        stackset = stackset_of(self)
        instance = stackset.instances.get_instance(self._get_param("StackInstanceAccount"),
                                                   self._get_param("StackInstanceRegion"))
        if instance is None:
            raise _error("StackInstanceNotFoundException", "Stack instance does not exist")
        with _LOCK:
            return ActionResult({"StackInstance": instance.to_dict()})

    original_create_stack_set = CloudFormationResponse.create_stack_set
    for name, fn in (("create_stack_set", create_stack_set), ("create_stack_instances", create_stack_instances),
                     ("update_stack_instances", update_stack_instances),
                     ("delete_stack_instances", delete_stack_instances), ("update_stack_set", update_stack_set),
                     ("delete_stack_set", delete_stack_set),
                     ("describe_stack_set_operation", describe_stack_set_operation),
                     ("list_stack_set_operations", list_stack_set_operations),
                     ("list_stack_set_operation_results", list_stack_set_operation_results),
                     ("stop_stack_set_operation", stop_stack_set_operation),
                     ("list_stack_instances", list_stack_instances),
                     ("describe_stack_instance", describe_stack_instance)):
        setattr(CloudFormationResponse, name, fn)
