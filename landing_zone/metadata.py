"""Tag resources with the controls they implement, and record justified suppressions.

`Metadata.Charter.Controls` is the spine of the control matrix: the matrix is computed
from what synth emits, so a resource without it is invisible to auditors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from troposphere import BaseAWSObject

R = TypeVar("R", bound=BaseAWSObject)


def _metadata(resource: BaseAWSObject) -> dict[str, Any]:
    meta = resource.resource.get("Metadata")
    if meta is None:
        meta = {}
        resource.Metadata = meta
    return meta


def controls(resource: R, *control_ids: str) -> R:
    """Record that `resource` implements `control_ids`; returns the resource."""
    charter = _metadata(resource).setdefault("Charter", {})
    existing = charter.setdefault("Controls", [])
    for cid in control_ids:
        if cid not in existing:
            existing.append(cid)
    return resource


#: The tag that names a resource's controls on the live resource, so an evidence collector
#: sees them without reading the template.
CONTROLS_TAG = "charter:controls"


def control_tags(*control_ids: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """`ManagedBy` and `charter:controls` (plus `extra`) as a dict; wrap it in `Tags(**...)`
    where a property wants troposphere Tags."""
    return {"ManagedBy": "charter", CONTROLS_TAG: " ".join(control_ids), **(extra or {})}


def suppress(resource: R, check_id: str, reason: str) -> R:
    """Suppress one cfn-lint rule (`E…`/`W…`/`I…`) or checkov check (`CKV_…`) on this
    resource only, with the reason an auditor will read in the control matrix."""
    if len(reason.strip()) < 15:
        raise ValueError(f"suppression of {check_id} needs a real reason, got {reason!r}")
    meta = _metadata(resource)
    if check_id.startswith("CKV"):
        skips = meta.setdefault("checkov", {}).setdefault("skip", [])
        skips.append({"id": check_id, "comment": reason})
    else:
        ignores = meta.setdefault("cfn-lint", {}).setdefault("config", {}).setdefault("ignore_checks", [])
        ignores.append(check_id)
    meta.setdefault("Charter", {}).setdefault("Suppressions", []).append({"Id": check_id, "Reason": reason})
    return resource
