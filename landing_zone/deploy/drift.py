"""`charter drift`: StackSet drift detection, reported per control id.

DetectStackSetDrift runs per StackSet; when the operation finishes, the drifted
instances' resource drifts are read and each drifted logical id is mapped to the controls
its template Metadata names, so the answer is "ENC-01 drifted in prod/us-east-1
(SampleKey MODIFIED: EnableKeyRotation)", not a list of stack ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from charter.aws import paginate

DONE = {"SUCCEEDED", "FAILED", "STOPPED"}


@dataclass
class Drift:
    stackset: str
    account: str
    region: str
    logical_id: str
    status: str  # MODIFIED | DELETED
    properties: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)

    def render(self) -> str:
        props = f": {', '.join(self.properties)}" if self.properties else ""
        return f"{self.stackset}/{self.account}/{self.region}/{self.logical_id}: {self.status}{props}"


@dataclass
class DriftReport:
    drifts: list[Drift] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: StackSets in the plan that do not exist, or have no instance (never deployed, or deleted)
    not_deployed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.drifts or self.errors or self.not_deployed)

    def summary(self) -> str:
        """One line a person can act on; never "no drift in 0 StackSets" for nothing checked."""
        parts = []
        if self.checked:
            n = len(self.checked)
            drifted = len({d.stackset for d in self.drifts})
            parts.append(f"{drifted} of {n} StackSet{'s' if n != 1 else ''} drifted ({len(self.drifts)} resources)"
                         if self.drifts else f"no drift in {n} deployed StackSet{'s' if n != 1 else ''}")
        if self.not_deployed:
            n = len(self.not_deployed)
            parts.append(f"{n} StackSet{'s' if n != 1 else ''} of the plan {'are' if n != 1 else 'is'} not deployed "
                         f"({', '.join(self.not_deployed[:5])}{', …' if n > 5 else ''}): run `charter deploy` first")
        if self.errors:
            n = len(self.errors)
            parts.append(f"{n} StackSet{'s' if n != 1 else ''} could not be checked")
        return "; ".join(parts) or "the plan has no StackSets to check"

    def by_control(self) -> dict[str, list[Drift]]:
        out: dict[str, list[Drift]] = {}
        for d in self.drifts:
            for c in d.controls or ["(no control)"]:
                out.setdefault(c, []).append(d)
        return dict(sorted(out.items()))


def is_deployed(cfn: Any, stackset: str) -> bool:
    """Whether the StackSet exists with at least one instance: drift detection on one that
    does not would report "no drift" about nothing."""
    import botocore.exceptions

    from charter.aws import error_code

    try:
        cfn.describe_stack_set(StackSetName=stackset)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "StackSetNotFoundException":
            return False
        raise
    return bool(paginate(cfn, "list_stack_instances", "Summaries", StackSetName=stackset).items)


def detect_stackset_drift(cfn: Any, stackset: str, controls: dict[str, list[str]], *,
                          account_names: dict[str, str] | None = None, poll_interval: float = 5.0,
                          timeout: float = 3600.0, preferences: dict[str, Any] | None = None) -> list[Drift]:
    """Run drift detection on one StackSet and return its drifted resources.

    `controls` maps logical id -> control ids (from the synthesized template)."""
    names = account_names or {}
    args: dict[str, Any] = {"StackSetName": stackset}
    if preferences:
        args["OperationPreferences"] = preferences
    op_id = cfn.detect_stack_set_drift(**args)["OperationId"]
    deadline = time.monotonic() + timeout
    while True:
        status = cfn.describe_stack_set_operation(StackSetName=stackset, OperationId=op_id)["StackSetOperation"]["Status"]
        if status in DONE or time.monotonic() > deadline:
            break
        time.sleep(poll_interval)
    drifted = paginate(cfn, "list_stack_instances", "Summaries", StackSetName=stackset,
                       Filters=[{"Name": "DRIFT_STATUS", "Values": "DRIFTED"}]).items
    out: list[Drift] = []
    for inst in drifted:
        resources = _resource_drifts(cfn, stackset, inst["Account"], inst["Region"], op_id)
        for r in resources:
            lid = r["LogicalResourceId"]
            props = sorted({p["PropertyPath"].lstrip("/").split("/")[0] for p in r.get("PropertyDifferences", [])})
            out.append(Drift(stackset, names.get(inst["Account"], inst["Account"]), inst["Region"], lid,
                             r["StackResourceDriftStatus"], props, list(controls.get(lid, []))))
    return out


def _resource_drifts(cfn: Any, stackset: str, account: str, region: str, op_id: str) -> list[dict[str, Any]]:
    """Every page (botocore has no paginator for this operation)."""
    items: list[dict[str, Any]] = []
    token = None
    while True:
        args: dict[str, Any] = dict(StackSetName=stackset, StackInstanceAccount=account, StackInstanceRegion=region,
                                    OperationId=op_id, StackInstanceResourceDriftStatuses=["MODIFIED", "DELETED"])
        if token:
            args["NextToken"] = token
        page = cfn.list_stack_instance_resource_drifts(**args)
        items.extend(page.get("Summaries", []))
        token = page.get("NextToken")
        if not token:
            return items
