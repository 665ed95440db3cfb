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

    def by_control(self) -> dict[str, list[Drift]]:
        out: dict[str, list[Drift]] = {}
        for d in self.drifts:
            for c in d.controls or ["(no control)"]:
                out.setdefault(c, []).append(d)
        return dict(sorted(out.items()))


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
