"""GuardDuty: the findings of a detector (the embedded AWS generates none)."""

from __future__ import annotations

from typing import Any

from charter.local.answers import operation
from charter.local.answers.protocol import Call


@operation("guardduty", "ListFindings")
def list_findings(call: Call) -> dict[str, Any]:
    """No findings: GuardDuty's findings come from analysing traffic, logs and workloads the
    embedded AWS does not have. The detector must exist, as on AWS."""
    from moto.guardduty.models import guardduty_backends

    guardduty_backends[call.account][call.region].get_detector(call.params.get("DetectorId", ""))
    return {"FindingIds": []}
